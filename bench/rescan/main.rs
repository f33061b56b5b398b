//! Re-scan benchmark driver (run through `bench/rescan/run.sh`).
//!
//! `rescan_bench ADDR IMAGES_JSON DB_OLD DB_NEW`
//!
//! One process, wired as `scangate serve` wires a cluster replica: one
//! `ImageScanner` (real registry client, real layer cache) over a `DbHandle`,
//! shared by the admission `Orchestrator` behind the real server stack
//! (rustls, hyper, axum; `scangate::server`) and by the `Rescanner` driven
//! by the `RescanController` (one pod per image, running, with its
//! `imageID`; this replica is the leader).
//!
//! 1. Warm-up: a controller tick with the old database scans every running
//!    digest once (the first scan of a digest is its baseline), which fills
//!    the layer cache as a running webhook's would be.
//! 2. Admission before: `HOT` pods' reviews are sent once (warm caches),
//!    then `POST /validate` at `RATE` requests/s, open loop, for `SECONDS`.
//! 3. The new database is loaded and swapped in (`DbHandle::replace`, as the
//!    refresher does); each hot review is sent once more (its verdict was
//!    cached under the old revision; timed apart); the peak-RSS mark is reset; one controller tick
//!    re-scans every digest (under `rescan.maxConcurrentRescans`) while the
//!    same open-loop admission load runs; RSS is sampled every 50 ms.
//!
//! Prints one JSON object. Environment: RATE (200), SECONDS (10), HOT (20),
//! MAX_CONCURRENT_RESCANS and RESCAN_CPU_NICE (the config defaults), HISTORY (1: keep the scan
//! history in a temporary directory, as the chart does on its volume).

use k8s_openapi::api::core::v1::Pod;
use scangate::app::{Adapters, App, RescanPorts};
use scangate::config::Config;
use scangate::policy::load::PolicyDocuments;
use scangate::ports::PolicyStore;
use scangate::ports::{Leadership, PodSnapshot};
use scangate::rescan::rescanner::{RescanConfig, Rescanner};
use scangate::scan::ImageScanner;
use scangate::vulndb::{DbHandle, LoadOptions, load_dir};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const SERVICE_NAME: &str = "scangate.scangate.svc";

/// Sends each review once, in turn; each one's latency in ms. Anything
/// but 200 stops the bench (`what` names the step).
async fn send_each(
    client: &reqwest::Client,
    url: &str,
    bodies: &[Vec<u8>],
    what: &str,
) -> anyhow::Result<Vec<f64>> {
    let mut latencies = Vec::with_capacity(bodies.len());
    for body in bodies {
        let sent = Instant::now();
        let answer = client.post(url).body(body.clone()).send().await?;
        latencies.push(sent.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(answer.status() == 200, "{what}: {}", answer.status());
    }
    Ok(latencies)
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Pods(Vec<Arc<Pod>>);
impl PodSnapshot for Pods {
    fn pods(&self) -> Vec<Arc<Pod>> {
        self.0.clone()
    }
}

struct Leader;
impl Leadership for Leader {
    fn is_leader(&self) -> bool {
        true
    }
}

/// kB figures of /proc/self/status, in MiB.
fn proc_status(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Resets VmHWM to the current RSS (Linux: `5` into clear_refs).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

fn latency_json(mut latencies: Vec<Duration>, seconds: f64) -> Value {
    latencies.sort();
    json!({
        "requests": latencies.len(),
        "seconds": seconds,
        "p50Ms": percentile(&latencies, 0.50),
        "p99Ms": percentile(&latencies, 0.99),
        "maxMs": percentile(&latencies, 1.0),
    })
}

/// Open loop at `rate` requests/s over `bodies` (round robin) until `stop`
/// is set (or `seconds` pass, when given); latency counts from the
/// scheduled send time, so a stall is not hidden. The pacer is an OS
/// thread, as in the webhook bench: tokio's timer has 1 ms ticks and woke
/// each send up to a tick late, which counted as latency.
async fn open_loop(
    client: reqwest::Client,
    url: String,
    bodies: Arc<Vec<Vec<u8>>>,
    rate: f64,
    seconds: Option<f64>,
    stop: Arc<AtomicBool>,
) -> (Vec<Duration>, f64, usize) {
    let interval = Duration::from_secs_f64(1.0 / rate);
    let handle = tokio::runtime::Handle::current();
    let pacer = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let mut tasks = Vec::new();
        let mut i = 0u32;
        loop {
            let scheduled = start + interval * i;
            if stop.load(Ordering::Relaxed)
                || seconds.is_some_and(|s| scheduled.duration_since(start).as_secs_f64() >= s)
            {
                break;
            }
            let now = Instant::now();
            if scheduled > now {
                std::thread::sleep(scheduled - now);
            }
            let (client, url, bodies) = (client.clone(), url.clone(), bodies.clone());
            let index = i as usize % bodies.len();
            tasks.push(handle.spawn(async move {
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(bodies[index].clone())
                    .send()
                    .await
                    .ok()?;
                let ok = response.status() == 200;
                let _ = response.bytes().await.ok()?;
                ok.then(|| scheduled.elapsed())
            }));
            i += 1;
        }
        (start, tasks)
    });
    let Ok((start, tasks)) = pacer.await else {
        return (Vec::new(), 0.0, 0);
    };
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut failed = 0;
    for task in futures::future::join_all(tasks).await {
        match task.ok().flatten() {
            Some(latency) => latencies.push(latency),
            None => failed += 1,
        }
    }
    (latencies, start.elapsed().as_secs_f64(), failed)
}

fn pod(index: usize, image: &str, repository: &str, digest: &str) -> anyhow::Result<Arc<Pod>> {
    let name = format!("app-{index:04}");
    Ok(Arc::new(serde_json::from_value(json!({
        "metadata": {"name": format!("{name}-7c9d-abcde"), "namespace": format!("team-{}", index % 25),
            "labels": {"pod-template-hash": "7c9d"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": format!("{name}-7c9d"), "uid": format!("u{index}"), "controller": true}]},
        "spec": {"containers": [{"name": "app", "image": image}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "app", "image": image,
            "ready": true, "restartCount": 0, "imageID": format!("{repository}@{digest}")}]}
    }))?))
}

fn review(uid: usize, image: &str) -> anyhow::Result<Vec<u8>> {
    Ok(serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": format!("bench-{uid}"),
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "name": "bench", "namespace": "bench", "operation": "CREATE",
            "userInfo": {"username": "bench"},
            "object": {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "bench", "namespace": "bench"},
                "spec": {"containers": [{"name": "app", "image": image}]}},
            "oldObject": null, "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
        }
    }))?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [address, images_json, db_old, db_new] = args.as_slice() else {
        anyhow::bail!("usage: rescan_bench ADDR IMAGES_JSON DB_OLD DB_NEW");
    };
    let rate: f64 = env("RATE", 200.0);
    let seconds: f64 = env("SECONDS", 10.0);
    let hot: usize = env("HOT", 20);
    let history_on: bool = env::<u8>("HISTORY", 1) == 1;

    let images: Vec<Value> = serde_json::from_slice(&std::fs::read(images_json)?)?;
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".into();
    config.server.metrics_listen = "127.0.0.1:0".into();
    config.scanner.registries.insecure_registries = vec![address.clone()];
    config.scanner.manifest_cache_bytes =
        env("MANIFEST_CACHE_BYTES", config.scanner.manifest_cache_bytes);
    let mut rescan = RescanConfig {
        history_dir: None,
        ..config.rescan.clone()
    };
    rescan.max_concurrent_rescans = env("MAX_CONCURRENT_RESCANS", rescan.max_concurrent_rescans);
    rescan.cpu_nice = env("RESCAN_CPU_NICE", rescan.cpu_nice);

    let load_started = Instant::now();
    let db = DbHandle::default();
    db.replace(load_dir(Path::new(db_old), &LoadOptions::default())?);
    let old_load_ms = load_started.elapsed().as_secs_f64() * 1e3;

    let engine = Arc::new(ImageScanner::new(config.scanner.clone(), db.clone()));
    let documents = PolicyDocuments::read_files(&[
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policies/baseline.yaml")
    ])?;
    let policies = PolicyStore::new(documents.compiled);
    let dir = tempfile::tempdir()?;
    config.rescan = RescanConfig {
        history_dir: history_on.then(|| dir.path().join("history")),
        ..rescan
    };
    // Built as `serve` builds it: one engine behind admission and re-scans.
    let app = App::builder(config)
        .engine(engine.clone())
        .database(db.clone())
        .policies(policies)
        .build()?;
    let scanner = app.scanner.clone();
    let adapters = Adapters::local(Default::default());
    let generated = scangate::tls::generate(&[SERVICE_NAME], "bench CA")?;
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, &generated.cert_pem)?;
    std::fs::write(&key, &generated.key_pem)?;
    let tls = Arc::new(scangate::tls::server_config(
        scangate::tls::ReloadingCert::load(&cert, &key)?,
    )?);
    let server = app.serve(app.admission(&adapters), tls).await?;

    let mut pods = Vec::new();
    let mut tagged = Vec::new();
    for (index, image) in images.iter().enumerate() {
        let repository = format!(
            "{address}/{}",
            image["repository"].as_str().unwrap_or_default()
        );
        let tagged_ref = format!("{repository}:{}", image["tag"].as_str().unwrap_or_default());
        let digest = image["digest"].as_str().unwrap_or_default();
        pods.push(pod(index, &tagged_ref, &repository, digest)?);
        tagged.push(tagged_ref);
    }
    let controller = Arc::new(app.rescan_controller(
        RescanPorts {
            pods: Arc::new(Pods(pods)),
            leadership: Arc::new(Leader),
            reports: None,
        },
        &adapters,
    )?);
    let rescanner = controller.rescanner.clone();
    let t0 = jiff::Timestamp::now();

    // 1. Warm-up: every running digest scanned once with the old database.
    let rss_start = proc_status("VmRSS:");
    let started = Instant::now();
    let warm = controller.tick(t0).await;
    let warm_ms = started.elapsed().as_secs_f64() * 1e3;
    anyhow::ensure!(
        warm.rescanned == images.len() && warm.failed == 0,
        "warm-up: {warm:?}"
    );
    let warm_cache = engine.cache_stats();
    let warm_peak = proc_status("VmHWM:");
    let held = |r: &Rescanner| -> usize {
        r.last_scans()
            .iter()
            .map(|(digest, _)| r.findings_of(digest).len())
            .sum()
    };
    let warm_findings = held(&rescanner);

    // 2. Admission with warm caches, before the re-scan.
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(generated.ca_pem.as_bytes())?])
        .resolve(SERVICE_NAME, server.addr)
        .http1_only()
        .pool_max_idle_per_host(64)
        .build()?;
    let url = format!("https://{SERVICE_NAME}:{}/validate", server.addr.port());
    let step = (images.len() / hot.max(1)).max(1);
    let bodies: Vec<Vec<u8>> = (0..hot.min(images.len()))
        .map(|i| review(i, &tagged[i * step]))
        .collect::<anyhow::Result<_>>()?;
    send_each(&client, &url, &bodies, "warm-up review").await?;
    let bodies = Arc::new(bodies);
    let never = Arc::new(AtomicBool::new(false));
    let (before, before_s, before_failed) = open_loop(
        client.clone(),
        url.clone(),
        bodies.clone(),
        rate,
        Some(seconds),
        never,
    )
    .await;

    // 3. The database changes; every running digest is due again.
    let started = Instant::now();
    db.replace(load_dir(Path::new(db_new), &LoadOptions::default())?);
    let new_load_ms = started.elapsed().as_secs_f64() * 1e3;
    let revision = scanner.database().map(|d| d.revision).unwrap_or_default();
    // The verdicts admission cached are keyed by the old revision: the
    // first review of each hot image after the swap matches it again,
    // pass or no pass. Those are sent (and timed) here, as the warm-up of
    // step 2 was, so that the latency measured during the pass is the
    // pass's doing, not the database change's.
    let mut after_swap = send_each(&client, &url, &bodies, "review after the swap").await?;
    after_swap.sort_by(f64::total_cmp);
    let rss_before = proc_status("VmRSS:");
    let reset = reset_peak_rss();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut max: f64 = 0.0;
            while !stop.load(Ordering::Relaxed) {
                max = max.max(proc_status("VmRSS:"));
                std::thread::sleep(Duration::from_millis(50));
            }
            max
        })
    };
    let load = tokio::spawn(open_loop(
        client.clone(),
        url.clone(),
        bodies.clone(),
        rate,
        None,
        stop.clone(),
    ));
    let started = Instant::now();
    // A spawned task, as `scangate serve` runs its re-scan loop: on the
    // tokio workers that also serve admission, not on this main thread.
    let pass = {
        let (controller, now) = (
            controller.clone(),
            t0.checked_add(jiff::SignedDuration::from_secs(60))?,
        );
        tokio::spawn(async move { controller.tick(now).await }).await?
    };
    let rescan_ms = started.elapsed().as_secs_f64() * 1e3;
    stop.store(true, Ordering::Relaxed);
    let (during, during_s, during_failed) = load.await?;
    let sampled_max = sampler.join().unwrap_or_default();
    let peak = proc_status("VmHWM:");
    let rss_after = proc_status("VmRSS:");
    let cache = engine.cache_stats();
    let pass_findings = held(&rescanner);
    server.shutdown().await;

    let before_p99 = {
        let mut l = before.clone();
        l.sort();
        percentile(&l, 0.99)
    };
    let during_p99 = {
        let mut l = during.clone();
        l.sort();
        percentile(&l, 0.99)
    };
    println!(
        "{}",
        json!({
            "images": images.len(),
            "maxConcurrentRescans": rescan.max_concurrent_rescans,
            "cpuNice": rescan.cpu_nice,
            "history": history_on,
            "dbLoadMs": {"old": old_load_ms, "new": new_load_ms},
            "dbRevision": revision,
            "warmup": {"ms": warm_ms, "scanned": warm.rescanned, "failed": warm.failed,
                "layerAnalyses": warm_cache.analyses, "layerCacheHits": warm_cache.hits,
                "layerCacheEntries": warm_cache.entries, "findingsHeld": warm_findings, "rssStartMiB": rss_start, "peakRssMiB": warm_peak},
            "rescan": {"ms": rescan_ms, "rescanned": pass.rescanned, "failed": pass.failed,
                "newFindingsAlerted": pass.new_findings, "findingsHeld": pass_findings,
                "layerAnalyses": cache.analyses - warm_cache.analyses,
                "layerCacheHits": cache.hits - warm_cache.hits,
                "rssBeforeMiB": rss_before, "peakRssMiB": peak, "peakReset": reset,
                "sampledMaxRssMiB": sampled_max, "rssAfterMiB": rss_after},
            "admission": {"rate": rate, "hotImages": bodies.len(),
                "before": latency_json(before, before_s), "beforeFailed": before_failed,
                "during": latency_json(during, during_s), "duringFailed": during_failed,
                "firstAfterSwapMs": {"p50": after_swap.get(after_swap.len() / 2), "max": after_swap.last()},
                "p99Ratio": if before_p99 > 0.0 { during_p99 / before_p99 } else { 0.0 }},
        })
    );
    Ok(())
}
