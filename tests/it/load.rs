//! The webhook under load, against the real registry, scanner and TLS
//! server: a miss storm through a slowed registry, a database swap while a
//! load generator runs, and graceful shutdown with reviews in flight.

use crate::support::fault_proxy::{Fault, FaultProxy, Rule};
use crate::support::registry::TestRegistry;
use crate::support::scan_images::{test_db, unique_debian_layer};
use crate::support::webhook::*;
use scangate::model::ConfigDuration;
use scangate::scan::ImageScanner;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The webhook's budget for a miss (`orchestrator.scanTimeout`).
const SCAN_TIMEOUT: Duration = Duration::from_secs(2);
/// Allowance over the budget for TLS, JSON and a busy 2-core machine.
const ANSWER_MARGIN: Duration = Duration::from_secs(3);
/// How long the storm's images may take to all be scanned.
const SETTLE: Duration = Duration::from_secs(25);

const POLICY: &str = "apiVersion: scangate.dev/v1alpha1\nkind: ClusterScanPolicy\nmetadata: {name: load}\nspec: {failOn: {severity: HIGH, unknownSeverityAs: HIGH}, onScanPending: Deny, onScanError: Deny}\n";

fn message(response: &serde_json::Value) -> String {
    response["status"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib * 1024
}

/// The value of one sample line of the metrics text, 0 when absent.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Pushes `count` distinct images `{prefix}/app-{i}:v1`, sixteen at a time.
async fn push_many(registry: &TestRegistry, prefix: &str, count: usize) {
    use futures::StreamExt as _;
    futures::stream::iter(0..count)
        .map(|i| async move {
            let layer = unique_debian_layer(&format!("{prefix}-{i}"), 256);
            registry
                .push_http(&format!("{prefix}/app-{i}"), "v1", &[layer])
                .await
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
}

const STORM_IMAGES: usize = 100;
const STORM_REVIEWS: usize = 1000;
/// The storm is sent open-loop over this long.
const STORM_SPREAD: Duration = Duration::from_secs(4);
const MAX_CONCURRENT_SCANS: usize = 4;
const MAX_QUEUED_SCANS: usize = 16;
/// The registry is this slow for every blob and manifest request.
const SLOW_BLOB: Duration = Duration::from_millis(150);
const SLOW_MANIFEST: Duration = Duration::from_millis(50);
/// What the storm may add to the test process's RSS (registry client,
/// layer analyses, caches, 1,000 requests' buffers): generous, but far
/// below what an unbounded queue of 1,000 scans would take.
const STORM_RSS_GROWTH: u64 = 256 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_storm_scans_each_image_once_sheds_the_excess_and_stays_in_budget() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.address).await;
    proxy.add(Rule::always("/blobs/", Fault::Delay { by: SLOW_BLOB }));
    proxy.add(Rule::always(
        "/manifests/",
        Fault::Delay { by: SLOW_MANIFEST },
    ));
    push_many(&registry, "storm", STORM_IMAGES).await;
    let (_db_dir, db) = test_db();
    let mut scanner = scangate::scan::ScannerConfig::default();
    scanner.registries.insecure_registries = vec![proxy.address.clone()];
    let mut options = Options::default();
    options.config.orchestrator.scan_timeout = ConfigDuration(SCAN_TIMEOUT);
    options.config.orchestrator.max_concurrent_scans = MAX_CONCURRENT_SCANS;
    options.config.orchestrator.max_queued_scans = MAX_QUEUED_SCANS;
    options.scanner = Some(Arc::new(ImageScanner::new(scanner, db)));
    let mut h = Harness::start(options).await;
    h.set_policies(POLICY);
    let client = h.client(true);
    let url = h.url("/validate");
    let image = |i: usize| format!("{}/storm/app-{}:v1", proxy.address, i % STORM_IMAGES);
    let rss_before = rss_bytes();

    // Watch the queue and running gauges while the storm lasts.
    let storming = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (storming, metrics_url) = (storming.clone(), h.metrics_url());
        tokio::spawn(async move {
            let (mut queued, mut running) = (0f64, 0f64);
            while storming.load(Ordering::SeqCst) {
                let text = reqwest::get(&metrics_url)
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                queued = queued.max(metric(&text, "scangate_scans_queued"));
                running = running.max(metric(&text, "scangate_scans_running"));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (queued, running)
        })
    };

    // 1,000 reviews, open loop: each is sent at its time, whatever the
    // others do. The bodies are made first, so that the client's own work
    // in this process stays out of the measured time as far as it can.
    let bodies: Vec<Vec<u8>> = (0..STORM_REVIEWS)
        .map(|i| serde_json::to_vec(&pod_review(&format!("s-{i}"), "shop", &[&image(i)])).unwrap())
        .collect();
    let started = Instant::now();
    let storm = bodies.into_iter().enumerate().map(|(i, body)| {
        let (client, url) = (client.clone(), url.clone());
        let at = started + STORM_SPREAD.mul_f64(i as f64 / STORM_REVIEWS as f64);
        async move {
            tokio::time::sleep_until(at.into()).await;
            let sent = Instant::now();
            let response = client
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let body: serde_json::Value = response.json().await.unwrap();
            (sent.elapsed(), message(response_of(&body)))
        }
    });
    let answers = futures::future::join_all(storm).await;
    let storm_took = started.elapsed();
    storming.store(false, Ordering::SeqCst);
    let (max_queued, max_running) = watcher.await.unwrap();

    let slowest = answers.iter().map(|(took, _)| *took).max().unwrap();
    assert!(
        slowest < SCAN_TIMEOUT + ANSWER_MARGIN,
        "the slowest review of the storm took {slowest:?}"
    );
    let shed = answers
        .iter()
        .filter(|(_, m)| {
            m.contains(&format!(
                "scan queue full ({MAX_QUEUED_SCANS} waiting); retry shortly"
            ))
        })
        .count();
    let pending = answers
        .iter()
        .filter(|(_, m)| m.contains("is being scanned"))
        .count();
    let scanned = answers
        .iter()
        .filter(|(_, m)| m.contains("DSA-TEST-1"))
        .count();
    assert_eq!(
        shed + pending + scanned,
        STORM_REVIEWS,
        "every answer is shed, pending or a verdict: {:?}",
        answers.iter().find(|(_, m)| !(m.contains("queue full")
            || m.contains("is being scanned")
            || m.contains("DSA-TEST-1")))
    );
    assert!(shed > 0, "the queue limit shed nothing");
    assert!(
        max_queued <= MAX_QUEUED_SCANS as f64,
        "the queue grew to {max_queued}"
    );
    assert!(max_running <= MAX_CONCURRENT_SCANS as f64);

    // Controllers retry: every image ends scanned, each exactly once.
    let settle = Instant::now();
    let mut waiting: BTreeSet<usize> = (0..STORM_IMAGES).collect();
    let mut round = 0;
    let mut retry_shed = 0;
    while !waiting.is_empty() {
        assert!(
            settle.elapsed() < SETTLE,
            "{} images still not scanned",
            waiting.len()
        );
        let retries = waiting.iter().map(|&i| {
            let (client, url, image) = (client.clone(), url.clone(), image(i));
            async move {
                let sent = Instant::now();
                let (_, body) = post(
                    &client,
                    &url,
                    &pod_review(&format!("r-{round}-{i}"), "shop", &[&image]),
                )
                .await;
                (i, sent.elapsed(), message(response_of(&body)))
            }
        });
        for (i, took, text) in futures::future::join_all(retries).await {
            assert!(took < SCAN_TIMEOUT + ANSWER_MARGIN, "a retry took {took:?}");
            if text.contains("DSA-TEST-1") {
                waiting.remove(&i);
            } else {
                retry_shed += usize::from(text.contains("queue full"));
                assert!(
                    text.contains("queue full") || text.contains("is being scanned"),
                    "{text}"
                );
            }
        }
        round += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(h.orchestrator.scans_started(), STORM_IMAGES as u64);
    let metrics = h.metrics_text().await;
    assert_eq!(
        metric(&metrics, r#"scangate_scans_total{outcome="ok"}"#),
        STORM_IMAGES as f64,
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "scangate_layer_analyses_total"),
        STORM_IMAGES as f64
    );
    // Reviews joining one shed scan share its one limit hit.
    let limit_hits = metric(
        &metrics,
        r#"scangate_limit_hits_total{limit="maxQueuedScans"}"#,
    );
    assert!(
        limit_hits >= 1.0 && limit_hits <= (shed + retry_shed) as f64,
        "{limit_hits} limit hits for {shed} + {retry_shed} shed answers"
    );
    // One tag resolution per image, however many reviews named it.
    let heads = proxy
        .seen("/manifests/v1")
        .iter()
        .filter(|s| s.method == "HEAD")
        .count();
    assert_eq!(heads, STORM_IMAGES);
    let growth = rss_bytes().saturating_sub(rss_before);
    assert!(
        growth < STORM_RSS_GROWTH,
        "RSS grew by {} MiB",
        growth >> 20
    );
    eprintln!(
        "miss storm: {STORM_REVIEWS} reviews in {storm_took:?}, slowest {slowest:?}; {shed} shed, {pending} pending, {scanned} scanned; settled after {round} retry rounds in {:?}; max queued {max_queued}, RSS +{} MiB",
        settle.elapsed(),
        growth >> 20
    );
    h.shutdown().await;
}

/// Replaces a file the way a Secret volume update does: write aside, rename.
fn replace_file(path: &std::path::Path, contents: &str) {
    let aside = path.with_extension("new");
    std::fs::write(&aside, contents).unwrap();
    std::fs::rename(&aside, path).unwrap();
}

const SWAP_IMAGES: usize = 20;
/// Load generator tasks, each with its own client (HTTP/2 and HTTP/1.1).
const LOAD_CLIENTS: usize = 4;
/// Reviews sent before, between and after the swap and the rotation.
const PHASE_REVIEWS: usize = 150;

/// What the load generator saw.
#[derive(Default)]
struct Tally {
    old: usize,
    new: usize,
    failures: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_swap_and_a_certificate_rotation_under_load_fail_no_request() {
    let registry = TestRegistry::start();
    push_many(&registry, "swap", SWAP_IMAGES).await;
    let old_db = crate::support::scan_images::debian_db_dir(&[("DSA-TEST-1", "2.10-4")]);
    let new_db = crate::support::scan_images::debian_db_dir(&[
        ("DSA-TEST-1", "2.10-4"),
        ("DSA-TEST-2", "2.10-5"),
    ]);
    let db = scangate::vulndb::DbHandle::default();
    db.replace(scangate::vulndb::load_dir(old_db.path(), &Default::default()).unwrap());
    let mut scanner = scangate::scan::ScannerConfig::default();
    scanner.registries.insecure_registries = vec![registry.address.clone()];
    let mut options = Options::default();
    options.config.orchestrator.scan_timeout = ConfigDuration(SCAN_TIMEOUT);
    options.scanner = Some(Arc::new(ImageScanner::new(scanner, db.clone())));
    let mut h = Harness::start(options).await;
    h.set_policies(POLICY);
    let next = scangate::tls::generate(&[SERVICE_NAME], "next CA").unwrap();
    let url = h.url("/validate");
    let image = |i: usize| format!("{}/swap/app-{}:v1", registry.address, i % SWAP_IMAGES);

    // Warm: every image scanned once under the old database.
    let warm = h.client(true);
    for i in 0..SWAP_IMAGES {
        let deadline = Instant::now() + SETTLE;
        loop {
            let (_, body) = post(&warm, &url, &pod_review("warm", "shop", &[&image(i)])).await;
            if message(response_of(&body)).contains("DSA-TEST-1") {
                break;
            }
            assert!(Instant::now() < deadline, "{body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(h.orchestrator.scans_started(), SWAP_IMAGES as u64);

    // The load generator: every answer must be a verdict, from the old
    // database or the new one; anything else is a failed request.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let generators: Vec<_> = (0..LOAD_CLIENTS)
        .map(|c| {
            let client = h.client_trusting(&[&h.ca_pem, &next.ca_pem], c % 2 == 0);
            let (stop, sent, url) = (stop.clone(), sent.clone(), url.clone());
            let images: Vec<String> = (0..SWAP_IMAGES).map(image).collect();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut n = c;
                while !stop.load(Ordering::SeqCst) {
                    let review = pod_review(&format!("l-{n}"), "shop", &[&images[n % SWAP_IMAGES]]);
                    n += LOAD_CLIENTS;
                    let started = Instant::now();
                    let outcome = client.post(&url).json(&review).send().await;
                    let took = started.elapsed();
                    sent.fetch_add(1, Ordering::SeqCst);
                    let text = match outcome {
                        Ok(response) if response.status() == 200 => {
                            match response.json::<serde_json::Value>().await {
                                Ok(body) => message(&body["response"]),
                                Err(error) => {
                                    tally.failures.push(format!("body: {error}"));
                                    continue;
                                }
                            }
                        }
                        other => {
                            tally.failures.push(format!("{other:?}"));
                            continue;
                        }
                    };
                    if took > SCAN_TIMEOUT + ANSWER_MARGIN {
                        tally.failures.push(format!("answered in {took:?}"));
                    } else if text.contains("DSA-TEST-2") {
                        tally.new += 1;
                    } else if text.contains("DSA-TEST-1") {
                        tally.old += 1;
                    } else {
                        tally.failures.push(text);
                    }
                }
                tally
            })
        })
        .collect();
    let wait_for = |count: usize| {
        let sent = sent.clone();
        async move {
            while sent.load(Ordering::SeqCst) < count {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    wait_for(PHASE_REVIEWS).await;

    // The refresher's own path swaps the database.
    let swapped = scangate::vulndb::refresh_once(
        &db,
        &scangate::vulndb::DbSource::Dir(new_db.path().to_path_buf()),
        &Default::default(),
        &scangate::vulndb::DbMetrics::default(),
    )
    .await
    .unwrap();
    assert!(swapped);
    let after_swap = sent.load(Ordering::SeqCst);
    wait_for(after_swap + PHASE_REVIEWS).await;

    // Rotate the certificate: the key first, then the certificate.
    replace_file(&h.key, &next.key_pem);
    replace_file(&h.cert, &next.cert_pem);
    let only_new = h.client_trusting(&[&next.ca_pem], true);
    let deadline = Instant::now() + SETTLE;
    while only_new.get(h.url("/healthz")).send().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the new certificate never served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after_rotation = sent.load(Ordering::SeqCst);
    wait_for(after_rotation + PHASE_REVIEWS).await;
    stop.store(true, Ordering::SeqCst);

    let mut total = Tally::default();
    for generator in generators {
        let tally = generator.await.unwrap();
        total.old += tally.old;
        total.new += tally.new;
        total.failures.extend(tally.failures);
    }
    assert!(
        total.failures.is_empty(),
        "{} failed requests: {:?}",
        total.failures.len(),
        &total.failures[..total.failures.len().min(5)]
    );
    assert!(
        total.new >= 2 * PHASE_REVIEWS - LOAD_CLIENTS,
        "{} new",
        total.new
    );
    // The swap needed no scan: the cached inventories were matched again.
    assert_eq!(h.orchestrator.scans_started(), SWAP_IMAGES as u64);
    let metrics = h.metrics_text().await;
    assert!(
        metric(
            &metrics,
            r#"scangate_cache_lookups_total{cache="rematch",result="hit"}"#
        ) >= SWAP_IMAGES as f64,
        "{metrics}"
    );
    eprintln!(
        "swap and rotation under load: {} old verdicts, {} new, 0 failed",
        total.old, total.new
    );
    h.shutdown().await;
}

const SHUTDOWN_CLIENTS: usize = 6;
/// Misses held in their scan (so surely in flight) when shutdown begins.
const HELD_MISSES: usize = 6;
/// How long shutdown may take once the held scans are let go.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(10);

/// The sum of every sample of a counter family in the metrics text.
fn metric_sum(text: &str, family: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(&format!("{family}{{")))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_under_load_answers_every_review_in_flight() {
    const CLEAN: &str = "demo.scangate.dev/clean:1";
    let mut options = Options::default();
    options.config.orchestrator.max_concurrent_scans = HELD_MISSES;
    let mut h = Harness::start(options).await;
    let url = h.url("/validate");
    let (status, _) = post(&h.client(true), &url, &pod_review("warm", "shop", &[CLEAN])).await;
    assert_eq!(status, 200);
    // From now on a miss waits in its scan until released.
    let warm_scans = h.scanner.scans.load(Ordering::SeqCst);
    h.scanner.release.send_replace(false);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // Hit clients send without pause; each held miss has its own task.
    let generators: Vec<_> = (0..SHUTDOWN_CLIENTS + HELD_MISSES)
        .map(|c| {
            let miss = c >= SHUTDOWN_CLIENTS;
            let client = h.client(c % 2 == 0);
            let (stop, sent, url) = (stop.clone(), sent.clone(), url.clone());
            tokio::spawn(async move {
                // (answered hits, answered misses, refused, wrong answers)
                let (mut hits, mut misses, mut errors, mut wrong) =
                    (0usize, 0usize, 0usize, vec![]);
                let mut n = 0;
                // A miss task sends once; a hit task until stopped.
                while !(stop.load(Ordering::SeqCst) || (miss && n > 0)) {
                    n += 1;
                    let image = if miss {
                        format!("demo.scangate.dev/load/shutdown-{c}:1")
                    } else {
                        CLEAN.to_string()
                    };
                    let uid = format!("sd-{c}-{n}");
                    sent.fetch_add(1, Ordering::SeqCst);
                    let review = pod_review(&uid, "shop", &[&image]);
                    match client.post(&url).json(&review).send().await {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            let body: serde_json::Value = response.json().await.unwrap_or_default();
                            if status == 200
                                && body["response"]
                                    == serde_json::json!({"uid": uid, "allowed": true})
                            {
                                if miss {
                                    misses += 1;
                                } else {
                                    hits += 1;
                                }
                            } else {
                                wrong.push(format!("{status} {body}"));
                            }
                        }
                        Err(_) => {
                            // Refused: sent after the listener closed, or on a
                            // connection the server was closing; never read.
                            errors += 1;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
                (hits, misses, errors, wrong)
            })
        })
        .collect();
    let deadline = Instant::now() + SETTLE;
    while h.scanner.scans.load(Ordering::SeqCst) < warm_scans + HELD_MISSES
        || sent.load(Ordering::SeqCst) < 100
    {
        assert!(Instant::now() < deadline, "the load never built up");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let addr = h.addr();
    let server = h.server.take().unwrap();
    let shutdown = tokio::spawn(server.shutdown());
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(
            Instant::now() < deadline + SETTLE,
            "the listener stayed open"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The listener is closed; the held reviews are still in flight.
    let held = h.scanner.scans.load(Ordering::SeqCst) - warm_scans;
    let released = Instant::now();
    h.scanner.release.send_replace(true);
    tokio::time::timeout(SHUTDOWN_LIMIT, shutdown)
        .await
        .expect("shutdown finished")
        .unwrap();
    let shutdown_took = released.elapsed();
    stop.store(true, Ordering::SeqCst);
    let (mut hits, mut misses, mut errors, mut wrong) = (1usize, 0usize, 0usize, vec![]);
    for generator in generators {
        let (h, m, e, w) = generator.await.unwrap();
        hits += h;
        misses += m;
        errors += e;
        wrong.extend(w);
    }
    assert!(wrong.is_empty(), "{wrong:?}");
    // Every miss that reached a scan (all of them in flight at shutdown)
    // got its answer.
    assert_eq!(held, HELD_MISSES);
    assert_eq!(misses, HELD_MISSES, "{HELD_MISSES} misses were in flight");
    // Every review the server answered reached its client: none was cut off.
    let metrics = h.metrics.render();
    assert_eq!(
        metric_sum(&metrics, "scangate_admission_reviews_total") as usize,
        hits + misses,
        "{metrics}"
    );
    assert!(!metrics.contains("shutdownGracePeriod"), "{metrics}");
    eprintln!(
        "shutdown under load: {hits} hits and {misses} held misses answered, {errors} requests refused after the listener closed; shutdown took {shutdown_took:?} after the scans were released"
    );
}
