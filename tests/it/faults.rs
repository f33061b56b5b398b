//! Registry faults behind the real webhook: the real `docker-registry`, a
//! fault-injecting proxy in front of it, the real image scanner and the
//! real TLS server. Each fault ends in a named error or a retried success
//! within its limit, and every review is answered within `scanTimeout`
//! plus a margin, as `onScanPending` / `onScanError` say.

use crate::support::fault_proxy::{Fault, FaultProxy, Rule};
use crate::support::registry::TestRegistry;
use crate::support::scan_images::{test_db, unique_debian_layer};
use crate::support::webhook::*;
use scangate::model::ConfigDuration;
use scangate::scan::ImageScanner;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The webhook's budget for a miss (`orchestrator.scanTimeout`).
const SCAN_TIMEOUT: Duration = Duration::from_secs(2);
/// Allowance over the budget for TLS, JSON and a busy 2-core machine.
const ANSWER_MARGIN: Duration = Duration::from_secs(3);
/// The scanner's own limits, small so that each fault ends quickly.
const STALL_SECONDS: f64 = 1.0;
const REQUEST_SECONDS: f64 = 2.0;
const WHOLE_SCAN_SECONDS: f64 = 4.0;
const RETRY_BACKOFF_SECONDS: f64 = 0.1;
const MAX_RETRY_AFTER_SECONDS: f64 = 3.0;
/// Far above any real manifest (a few KiB), far below the default.
const MAX_MANIFEST_BYTES: usize = 64 << 10;
/// How long a case may take to reach its final outcome (generous: the
/// longest case is the trickle, stopped by the whole-scan budget).
const SETTLE: Duration = Duration::from_secs(20);

const POLICY: &str = "apiVersion: scangate.dev/v1alpha1\nkind: ClusterScanPolicy\nmetadata: {name: faults}\nspec: {failOn: {severity: HIGH, unknownSeverityAs: HIGH}, onScanPending: Deny, onScanError: Deny}\n";

/// What a case must end in.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    /// Scanned after all (retried): the real verdict, naming the finding.
    Scanned,
    /// A scan error whose message contains this text.
    Error(&'static str),
}

struct Case {
    name: &'static str,
    rules: Vec<Rule>,
    outcome: Outcome,
}

fn blob(repo: &str) -> String {
    format!("/v2/{repo}/blobs/")
}

fn manifests(repo: &str) -> String {
    format!("/v2/{repo}/manifests/")
}

fn status(code: u16, retry_after: Option<&str>) -> Fault {
    Fault::Status {
        code,
        retry_after: retry_after.map(str::to_string),
    }
}

fn cases() -> Vec<Case> {
    use Outcome::*;
    vec![
        Case {
            name: "blob-503-twice",
            rules: vec![Rule::times(blob("blob-503-twice"), 2, status(503, None))],
            outcome: Scanned,
        },
        Case {
            name: "blob-429-retry-after",
            rules: vec![Rule::times(
                blob("blob-429-retry-after"),
                1,
                status(429, Some("1")),
            )],
            outcome: Scanned,
        },
        Case {
            name: "blob-429-retry-after-too-long",
            rules: vec![Rule::always(
                blob("blob-429-retry-after-too-long"),
                status(429, Some("60")),
            )],
            outcome: Error("limit maxRetryAfter exceeded"),
        },
        Case {
            name: "blob-500-always",
            rules: vec![Rule::always(blob("blob-500-always"), status(500, None))],
            outcome: Error("limit registryRetries exceeded"),
        },
        Case {
            name: "tag-head-502-once",
            rules: vec![
                Rule::times(manifests("tag-head-502-once"), 1, status(502, None)).method("HEAD"),
            ],
            outcome: Scanned,
        },
        Case {
            name: "blob-reset-before-answer",
            rules: vec![Rule::times(
                blob("blob-reset-before-answer"),
                1,
                Fault::ResetBeforeAnswer,
            )],
            outcome: Scanned,
        },
        Case {
            name: "blob-reset-mid-body",
            rules: vec![Rule::always(
                blob("blob-reset-mid-body"),
                Fault::ResetMidBody { after: 4096 },
            )],
            outcome: Error("truncated"),
        },
        Case {
            name: "blob-stall-mid-body",
            rules: vec![Rule::always(
                blob("blob-stall-mid-body"),
                Fault::StallMidBody { after: 4096 },
            )],
            outcome: Error("timeout stallTimeout expired"),
        },
        Case {
            name: "manifest-stall-before-answer",
            rules: vec![
                Rule::always(
                    manifests("manifest-stall-before-answer"),
                    Fault::StallBeforeAnswer,
                )
                .method("GET"),
            ],
            outcome: Error("timeout registryRequestTimeout expired"),
        },
        Case {
            name: "blob-trickle",
            rules: vec![Rule::always(
                blob("blob-trickle"),
                Fault::Trickle {
                    chunk: 256,
                    every: Duration::from_millis(50),
                },
            )],
            outcome: Error("timeout scanTimeout expired"),
        },
        Case {
            name: "blob-wrong-digest",
            rules: vec![Rule::always(blob("blob-wrong-digest"), Fault::CorruptBody)],
            outcome: Error("digest mismatch"),
        },
        Case {
            name: "manifest-wrong-digest",
            rules: vec![
                Rule::always(manifests("manifest-wrong-digest"), Fault::CorruptBody).method("GET"),
            ],
            outcome: Error("manifest: digest mismatch"),
        },
        Case {
            name: "blob-truncated",
            rules: vec![Rule::always(blob("blob-truncated"), Fault::Truncate)],
            outcome: Error("truncated"),
        },
        Case {
            name: "manifest-oversize-declared",
            rules: vec![
                Rule::always(
                    manifests("manifest-oversize-declared"),
                    Fault::Oversize {
                        bytes: 4 * MAX_MANIFEST_BYTES,
                        declare_length: true,
                    },
                )
                .method("GET"),
            ],
            outcome: Error("limit maxManifestBytes exceeded"),
        },
        Case {
            name: "manifest-oversize-streamed",
            rules: vec![
                Rule::always(
                    manifests("manifest-oversize-streamed"),
                    Fault::Oversize {
                        bytes: 4 * MAX_MANIFEST_BYTES,
                        declare_length: false,
                    },
                )
                .method("GET"),
            ],
            outcome: Error("limit maxManifestBytes exceeded"),
        },
        Case {
            name: "blob-redirect-loop",
            rules: vec![Rule::always(
                blob("blob-redirect-loop"),
                Fault::RedirectLoop,
            )],
            outcome: Error("limit maxRegistryRedirects exceeded"),
        },
        Case {
            name: "blob-redirect-to-metadata",
            rules: vec![Rule::always(
                blob("blob-redirect-to-metadata"),
                Fault::Redirect("https://169.254.169.254/latest/meta-data/".into()),
            )],
            outcome: Error(
                "registry refused: registry 169.254.169.254 resolves to 169.254.169.254, a cloud metadata address",
            ),
        },
    ]
}

/// Posts one review of `image`; returns the response and how long it took.
async fn review(
    client: &reqwest::Client,
    url: &str,
    uid: &str,
    image: &str,
) -> (serde_json::Value, Duration) {
    let started = Instant::now();
    let (status, body) = post(client, url, &pod_review(uid, "shop", &[image])).await;
    assert_eq!(status, 200, "{body}");
    (response_of(&body).clone(), started.elapsed())
}

fn message(response: &serde_json::Value) -> String {
    response["status"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_registry_fault_ends_named_or_retried_and_reviews_stay_in_budget() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.address).await;
    let cases = cases();
    for case in &cases {
        // Incompressible padding, so that a fault mid-body is mid-body; the
        // trickled blob must outlast the whole-scan budget (24 KiB at
        // 5 KiB/s is about 5 s).
        let noise = if case.name == "blob-trickle" {
            24 << 10
        } else {
            16 << 10
        };
        registry
            .push_http(case.name, "v1", &[unique_debian_layer(case.name, noise)])
            .await;
        for rule in &case.rules {
            proxy.add(rule.clone());
        }
    }

    let (_db_dir, db) = test_db();
    let mut scanner = scangate::scan::ScannerConfig::default();
    scanner.registries.insecure_registries = vec![proxy.address.clone()];
    scanner.stall_timeout = scangate::model::ConfigDuration(Duration::from_secs_f64(STALL_SECONDS));
    scanner.registry_request_timeout =
        scangate::model::ConfigDuration(Duration::from_secs_f64(REQUEST_SECONDS));
    scanner.scan_timeout =
        scangate::model::ConfigDuration(Duration::from_secs_f64(WHOLE_SCAN_SECONDS));
    scanner.registry_retry_backoff =
        scangate::model::ConfigDuration(Duration::from_secs_f64(RETRY_BACKOFF_SECONDS));
    scanner.max_retry_after =
        scangate::model::ConfigDuration(Duration::from_secs_f64(MAX_RETRY_AFTER_SECONDS));
    scanner.max_manifest_bytes = MAX_MANIFEST_BYTES;
    scanner.max_parallel_layer_downloads = cases.len();
    let mut options = Options::default();
    options.config.orchestrator.scan_timeout = ConfigDuration(SCAN_TIMEOUT);
    options.config.orchestrator.max_concurrent_scans = cases.len();
    options.scanner = Some(Arc::new(ImageScanner::new(scanner, db)));
    let mut h = Harness::start(options).await;
    h.set_policies(POLICY);
    let client = h.client(true);
    let url = h.url("/validate");

    // Every case at once: each image is its own scan.
    let runs = cases.iter().map(|case| {
        let (client, url) = (client.clone(), url.clone());
        let image = format!("{}/{}:v1", proxy.address, case.name);
        async move {
            let (first, took) = review(&client, &url, &format!("{}-0", case.name), &image).await;
            assert!(
                took < SCAN_TIMEOUT + ANSWER_MARGIN,
                "{}: the first review took {took:?}",
                case.name
            );
            // Ask again until the scan has ended; every answer is in budget.
            let started = Instant::now();
            let mut last = first;
            let mut round = 1;
            while message(&last).contains("is being scanned") {
                assert!(
                    started.elapsed() < SETTLE,
                    "{}: still pending after {SETTLE:?}",
                    case.name
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
                let (next, took) =
                    review(&client, &url, &format!("{}-{round}", case.name), &image).await;
                assert!(
                    took < SCAN_TIMEOUT + ANSWER_MARGIN,
                    "{}: review {round} took {took:?}",
                    case.name
                );
                last = next;
                round += 1;
            }
            (case.name, case.outcome, last)
        }
    });
    let results = futures::future::join_all(runs).await;
    for (name, outcome, response) in &results {
        let text = message(response);
        assert_eq!(response["allowed"], false, "{name}: {response}");
        match outcome {
            Outcome::Scanned => assert!(
                text.contains("DSA-TEST-1") && !text.contains("could not be scanned"),
                "{name}: not scanned after retrying: {text}"
            ),
            Outcome::Error(cause) => assert!(
                text.contains("could not be scanned") && text.contains(cause),
                "{name}: expected {cause:?}: {text}"
            ),
        }
    }

    // Retry-After was honoured: the retry came a second after the 429.
    let tries = proxy.seen(&blob("blob-429-retry-after"));
    assert_eq!(tries.len(), 2, "{tries:?}");
    assert!(
        tries[1].at - tries[0].at >= Duration::from_millis(950),
        "retried {:?} after a Retry-After of 1 s",
        tries[1].at - tries[0].at
    );
    // A Retry-After beyond the limit is not waited for, nor retried.
    assert_eq!(proxy.seen(&blob("blob-429-retry-after-too-long")).len(), 1);
    // 500 forever: the first try and registryRetries (2) more.
    assert_eq!(proxy.seen(&blob("blob-500-always")).len(), 3);
    // The redirect loop stops after maxRegistryRedirects (5).
    assert_eq!(proxy.seen(&blob("blob-redirect-loop")).len(), 6);

    let metrics = h.metrics_text().await;
    for line in [
        r#"scangate_registry_retries_total{reason="503"} 2"#,
        r#"scangate_registry_retries_total{reason="429"} 1"#,
        r#"scangate_registry_retries_total{reason="500"} 2"#,
        r#"scangate_registry_retries_total{reason="502"} 1"#,
        r#"scangate_registry_retries_total{reason="connection"} 1"#,
        r#"scangate_scan_limit_exceeded_total{limit="registryRetries"} 1"#,
        r#"scangate_scan_limit_exceeded_total{limit="maxRetryAfter"} 1"#,
        r#"scangate_scan_limit_exceeded_total{limit="maxRegistryRedirects"} 1"#,
        r#"scangate_scan_limit_exceeded_total{limit="stallTimeout"} 1"#,
        r#"scangate_scan_limit_exceeded_total{limit="registryRequestTimeout"} 1"#,
        r#"scangate_scan_limit_exceeded_total{limit="scanTimeout"} 1"#,
    ] {
        assert!(metrics.contains(line), "missing {line}\n{metrics}");
    }
    h.shutdown().await;
}

/// The scangate_scans_in_flight gauge.
fn in_flight(metrics: &str) -> i64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("scangate_scans_in_flight "))
        .map_or(-1, |n| n.trim().parse().unwrap())
}

/// A registry that accepts connections and never answers (the real
/// process, `SIGSTOP`ped after a first exchange, so the client even holds a
/// pooled connection to it). The tag lookup and the scan of a digest both
/// keep running after the reviews' budget, fail at
/// `registryRequestTimeout`, and the failure is cached: the reviews
/// after it get `onScanError` naming the registry and the cause, and
/// "being scanned" is said only while the in-flight gauge counts a scan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_registry_ends_in_a_named_cached_error_not_in_endless_pending() {
    let registry = TestRegistry::start();
    let warm = registry
        .push_http("warm", "v1", &[unique_debian_layer("warm", 1024)])
        .await;
    let frozen_digest = registry
        .push_http("frozen", "v1", &[unique_debian_layer("frozen", 1024)])
        .await;
    assert!(frozen_digest.starts_with("sha256:"), "{frozen_digest}");
    registry
        .push_http("frozen", "v2", &[unique_debian_layer("frozen2", 1024)])
        .await;
    let (_db_dir, db) = test_db();
    let mut scanner = scangate::scan::ScannerConfig::default();
    scanner.registries.insecure_registries = vec![registry.address.clone()];
    scanner.registry_request_timeout = ConfigDuration(Duration::from_secs_f64(REQUEST_SECONDS));
    scanner.stall_timeout = ConfigDuration(Duration::from_secs_f64(STALL_SECONDS));
    let mut options = Options::default();
    options.config.orchestrator.scan_timeout = ConfigDuration(Duration::from_millis(500));
    options.config.orchestrator.error_ttl = ConfigDuration::secs(60);
    options.scanner = Some(Arc::new(ImageScanner::new(scanner, db)));
    let mut h = Harness::start(options).await;
    h.set_policies(POLICY);
    let client = h.client(true);
    let url = h.url("/validate");

    // A first conversation, answered: the client now pools a connection.
    let warm_image = format!("{}/warm:v1", registry.address);
    let mut settled = false;
    for round in 0..40 {
        let (answer, _) = review(&client, &url, &format!("warm-{round}"), &warm_image).await;
        if !message(&answer).contains("is being scanned") {
            assert!(message(&answer).contains("DSA-TEST-1"), "{answer}");
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(settled, "the warm-up image was never scanned ({warm})");

    registry.pause();
    let stopped = Instant::now();
    for image in [
        format!("{}/frozen:v2", registry.address),
        format!("{}/frozen@{frozen_digest}", registry.address),
    ] {
        let started = Instant::now();
        let mut pending = 0;
        // Set when the gauge said nothing is in flight: the next answer
        // must then be the outcome (the scan may end between the two).
        let mut nothing_in_flight = false;
        let text = loop {
            let (answer, took) = review(&client, &url, &format!("r{pending}"), &image).await;
            assert!(
                took < Duration::from_millis(500) + ANSWER_MARGIN,
                "{took:?}"
            );
            let text = message(&answer);
            if !text.contains("is being scanned") {
                break text;
            }
            assert!(
                !nothing_in_flight,
                "{image}: 'being scanned' while nothing is in flight"
            );
            nothing_in_flight = in_flight(&h.metrics_text().await) == 0;
            pending += 1;
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{image}: still 'being scanned' after {:?}: {text}",
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        assert!(
            pending >= 1,
            "{image}: the first review waited for the timeout itself"
        );
        let cause = format!(
            "registry {}: timeout registryRequestTimeout expired",
            registry.address
        );
        assert!(
            text.contains("could not be scanned") && text.contains(&cause),
            "{image}: {text}"
        );
        // Cached for errorTtl: asked again, the same error at once, no new scan.
        let (again, took) = review(&client, &url, "again", &image).await;
        assert!(message(&again).contains(&cause), "{again}");
        assert!(took < Duration::from_secs(1), "{took:?}");
        assert_eq!(in_flight(&h.metrics_text().await), 0);
    }
    assert!(stopped.elapsed() < Duration::from_secs(20));
    registry.resume();
    let metrics = h.metrics_text().await;
    assert!(
        metrics.contains(r#"scangate_scan_limit_exceeded_total{limit="registryRequestTimeout"} 2"#),
        "{metrics}"
    );
    h.shutdown().await;
}
