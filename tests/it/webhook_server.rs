//! The webhook end to end: the real server on loopback, real TLS clients
//! verifying the CA and the service name, real AdmissionReview documents.

use crate::support::webhook as webhook_support;

use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use webhook_support::*;

const PAYMENTS: &str = "demo.scangate.dev/payments-api:1.4.2";
const STATIC_SITE: &str = "demo.scangate.dev/static-site:2.0.0";

fn payments_problem(policy: &str, digest: &str) -> String {
    format!(
        "image {PAYMENTS} ({}) has 1 CRITICAL, 1 HIGH violating policy \"{policy}\": \
         GO-2024-3321 (CRITICAL) in golang.org/x/crypto v0.25.0, fixed in 0.31.0; \
         GO-2025-3487 (HIGH) in golang.org/x/crypto v0.25.0, fixed in 0.35.0",
        &digest[..19]
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denies_a_vulnerable_pod_over_http1_and_http2() {
    let mut h = Harness::start(Options::default()).await;
    let review = read_json("reviews/pod-create.json");
    let digest = h.scanner.digest_of(PAYMENTS);
    let problem = payments_problem("enforce-high", &digest);
    let expected = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "allowed": false,
            "status": {
                "code": 403,
                "reason": "Forbidden",
                "message": format!("scangate denied Pod shop/payments-api-7d9c: {problem}"),
            },
            "auditAnnotations": { "violations": problem },
        }
    });
    for http2 in [false, true] {
        let client = h.client(http2);
        let response = client
            .post(h.url("/validate"))
            .json(&review)
            .send()
            .await
            .unwrap();
        let want = if http2 {
            reqwest::Version::HTTP_2
        } else {
            reqwest::Version::HTTP_11
        };
        assert_eq!(response.version(), want);
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, expected);
    }
    assert_eq!(
        h.scanner.scans.load(Ordering::SeqCst),
        2,
        "two images, each scanned once"
    );
    let events = h.events.events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].reason.as_str(), "ImageDenied");
    assert_eq!(events[0].name, "payments-api-7d9c");
    h.shutdown().await;
}

/// Counts the reviews that asked for pull credentials.
#[derive(Default)]
struct CountingCredentials(std::sync::atomic::AtomicUsize);

#[async_trait::async_trait]
impl scangate::ports::PullCredentials for CountingCredentials {
    async fn for_pod(
        &self,
        _namespace: &str,
        _pod: &scangate::ports::PodPullSecrets,
    ) -> scangate::registry::Credentials {
        self.0.fetch_add(1, Ordering::SeqCst);
        Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_credentials_are_looked_up_only_when_a_registry_is_asked() {
    let credentials = std::sync::Arc::new(CountingCredentials::default());
    let mut h = Harness::start(Options {
        credentials: Some(credentials.clone()),
        ..Options::default()
    })
    .await;
    let client = h.client(true);
    let review = pod_review("u-c", "shop", &[STATIC_SITE, "demo.scangate.dev/clean:1"]);
    let response = h.validate(&client, &review).await;
    assert_eq!(response["allowed"], true);
    assert_eq!(
        credentials.0.load(Ordering::SeqCst),
        1,
        "two images missed the caches: one lookup for the review"
    );
    for _ in 0..3 {
        let response = h.validate(&client, &review).await;
        assert_eq!(response["allowed"], true);
    }
    assert_eq!(
        credentials.0.load(Ordering::SeqCst),
        1,
        "warm reviews need no credentials"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allows_clean_pods_and_has_no_opinion_on_other_kinds() {
    let mut h = Harness::start(Options::default()).await;
    let client = h.client(true);
    let response = h
        .validate(&client, &pod_review("u-1", "shop", &[STATIC_SITE]))
        .await;
    assert_eq!(response, json!({"uid": "u-1", "allowed": true}));
    let response = h
        .validate(&client, &read_json("reviews/configmap-create.json"))
        .await;
    assert_eq!(
        response,
        json!({"uid": "0e2a5b7c-9d1f-4e3a-8b6c-7f0d1e2c3b44", "allowed": true})
    );
    let health = client.get(h.url("/healthz")).send().await.unwrap();
    assert_eq!(
        (health.status().as_u16(), health.text().await.unwrap()),
        (200, "ok".to_string())
    );
    let ready = client.get(h.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    *h.scanner.database.lock().unwrap() = None;
    let ready = client.get(h.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let response = h
        .validate(
            &client,
            &pod_review("u-2", "shop", &["demo.scangate.dev/clean:1"]),
        )
        .await;
    let message = response["status"]["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("no vulnerability database is loaded yet"),
        "{message}"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_mode_allows_with_warnings_and_audit_annotations() {
    let mut h = Harness::start(Options::default()).await;
    let client = h.client(false);
    let response = h
        .validate(&client, &pod_review("u-a", "sandbox", &[PAYMENTS]))
        .await;
    let digest = h.scanner.digest_of(PAYMENTS);
    let described = format!(
        "image {PAYMENTS} ({}) has 1 CRITICAL, 1 HIGH, 1 MEDIUM violating policy \"audit-sandbox\": \
         GO-2024-3321 (CRITICAL) in golang.org/x/crypto v0.25.0, fixed in 0.31.0; \
         GO-2025-3487 (HIGH) in golang.org/x/crypto v0.25.0, fixed in 0.35.0; \
         GO-2024-3333 (MEDIUM) in golang.org/x/net v0.27.0, fixed in 0.33.0; \
         GO-2025-3373 (UNKNOWN) in stdlib 1.22.5, fixed in 1.22.11",
        &digest[..19]
    );
    let _ = described;
    assert_eq!(response["allowed"], true);
    assert_eq!(
        response["warnings"],
        json!([format!(
            "[audit] {PAYMENTS}: 1 CRITICAL, 1 HIGH, 1 MEDIUM (GO-2024-3321, GO-2025-3487, GO-2024-3333) violate policy audit-sandbox"
        )])
    );
    let violations = response["auditAnnotations"]["violations"].as_str().unwrap();
    assert!(
        violations.starts_with(&format!(
            "image {PAYMENTS} ({}) has 1 CRITICAL, 1 HIGH, 1 MEDIUM",
            &digest[..19]
        )),
        "{violations}"
    );
    assert!(response.get("status").is_none());
    assert_eq!(h.events.events()[0].reason.as_str(), "ImageAuditViolation");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_templates_and_the_ephemeral_containers_subresource() {
    let mut h = Harness::start(Options::default()).await;
    let client = h.client(true);
    let response = h
        .validate(&client, &read_json("reviews/deployment-create.json"))
        .await;
    assert_eq!(response["allowed"], false);
    let message = response["status"]["message"].as_str().unwrap();
    assert!(message.starts_with("scangate denied Deployment shop/payments-api: image demo.scangate.dev/payments-api:1.4.2"), "{message}");

    let response = h
        .validate(&client, &read_json("reviews/cronjob-create.json"))
        .await;
    let message = response["status"]["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("legacy-batch:0.9") && message.contains("2 HIGH"),
        "{message}"
    );
    assert!(
        message.contains("DEBIAN-CVE-2024-2961 (HIGH) in libc6 2.36-9, fixed in 2.36-9+deb12u7"),
        "{message}"
    );

    // Only the new ephemeral container is judged: debug-tools is clean.
    let mut review = read_json("reviews/pod-ephemeralcontainers.json");
    let response = h.validate(&client, &review).await;
    assert_eq!(
        response,
        json!({"uid": "2b1f7a70-5d44-4d8e-9a4b-1c0e2d1d7e01", "allowed": true})
    );
    review["request"]["object"]["spec"]["ephemeralContainers"][0]["image"] = PAYMENTS.into();
    let response = h.validate(&client, &review).await;
    assert_eq!(response["allowed"], false);
    h.shutdown().await;

    let mut options = Options::default();
    options.config.webhook.review_workloads = false;
    let mut h = Harness::start(options).await;
    let response = h
        .validate(
            &h.client(true),
            &read_json("reviews/deployment-create.json"),
        )
        .await;
    assert_eq!(response["allowed"], true);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_needs_a_policy_that_enables_it_and_dry_run_emits_nothing() {
    let mut h = Harness::start(Options::default()).await;
    let client = h.client(true);
    let mut review = pod_review("u-bg", "shop", &[PAYMENTS]);
    review["request"]["object"]["metadata"]["annotations"] =
        json!({"scangate.dev/break-glass": "INC-4711 payments outage"});
    review["request"]["dryRun"] = true.into();
    let response = h.validate(&client, &review).await;
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(
        response["warnings"],
        json!([
            format!(
                "[break-glass] {PAYMENTS}: 1 CRITICAL, 1 HIGH (GO-2024-3321, GO-2025-3487) violate policy enforce-high"
            ),
            "admitted by break-glass despite policy violations: INC-4711 payments outage"
        ])
    );
    assert_eq!(
        response["auditAnnotations"]["break-glass"],
        "INC-4711 payments outage"
    );
    assert!(h.events.events().is_empty(), "dry run: no events");

    review["request"]["dryRun"] = false.into();
    let response = h.validate(&client, &review).await;
    assert_eq!(response["allowed"], true);
    let reasons: Vec<&str> = h
        .events
        .events()
        .iter()
        .map(|e| e.reason.as_str())
        .collect();
    assert_eq!(reasons, ["BreakGlassAdmission"]);
    let metrics = reqwest::get(h.metrics_url())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("scangate_break_glass_admissions_total{namespace=\"shop\"} 2"),
        "{metrics}"
    );

    h.set_policies(
        "apiVersion: scangate.dev/v1alpha1\nkind: ClusterScanPolicy\nmetadata: {name: strict}\nspec: {failOn: {severity: HIGH}}\n",
    );
    let response = h.validate(&client, &review).await;
    assert_eq!(response["allowed"], false);
    assert_eq!(
        response["warnings"],
        json!(["break-glass annotation ignored: no matching policy enables break-glass"])
    );
    h.shutdown().await;
}

const EXCEPTION: &str = "apiVersion: scangate.dev/v1alpha1\nkind: ScanException\nmetadata: {name: crypto-accepted, namespace: shop}\nspec:\n  vulnerabilities: [CVE-2024-45337, GO-2025-3487]\n  images: [\"demo.scangate.dev/payments-api:*\"]\n  reason: not reachable\n  reviewedBy: security\n  expires: 2026-11-23\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exceptions_apply_through_their_last_day_only() {
    let mut h = Harness::start(Options::default()).await;
    let client = h.client(true);
    let policies = std::fs::read_to_string(data_dir().join("policies.yaml")).unwrap();
    h.set_policies(&format!("{policies}\n---\n{EXCEPTION}"));
    for (now, allowed) in [
        ("2026-11-22T23:59:59Z", true),
        ("2026-11-23T23:59:59Z", true),
        ("2026-11-24T00:00:00Z", false),
    ] {
        h.set_today(now);
        let response = h
            .validate(&client, &pod_review("u-x", "shop", &[PAYMENTS]))
            .await;
        assert_eq!(response["allowed"], allowed, "{now}: {response}");
        if allowed {
            assert_eq!(response, json!({"uid": "u-x", "allowed": true}), "{now}");
        } else {
            assert_eq!(
                response["warnings"],
                json!([
                    "ScanException shop/crypto-accepted expired (2026-11-23) and no longer applies"
                ])
            );
            assert_eq!(
                response["auditAnnotations"]["expired-exceptions"],
                "shop/crypto-accepted"
            );
        }
    }
    let reasons: Vec<&str> = h
        .events
        .events()
        .iter()
        .map(|e| e.reason.as_str())
        .collect();
    assert_eq!(reasons, ["ImageDenied", "ScanExceptionExpired"]);
    let metrics = reqwest::get(h.metrics_url())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "scangate_expired_exceptions_total{namespace=\"shop\",exception=\"crypto-accepted\"} 1"
        ),
        "{metrics}"
    );
    // Another namespace's exception does not apply in shop.
    h.set_today("2026-11-01T00:00:00Z");
    h.set_policies(&format!(
        "{policies}\n---\n{}",
        EXCEPTION.replace("namespace: shop", "namespace: billing")
    ));
    let response = h
        .validate(&client, &pod_review("u-y", "shop", &[PAYMENTS]))
        .await;
    assert_eq!(response["allowed"], false);
    // One in scangate's own namespace applies everywhere.
    h.set_policies(&format!(
        "{policies}\n---\n{}",
        EXCEPTION.replace("namespace: shop", "namespace: scangate")
    ));
    let response = h
        .validate(&client, &pod_review("u-z", "shop", &[PAYMENTS]))
        .await;
    assert_eq!(response["allowed"], true);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exempt_images_are_not_judged() {
    let mut h = Harness::start(Options::default()).await;
    h.set_policies("apiVersion: scangate.dev/v1alpha1\nkind: ClusterScanPolicy\nmetadata: {name: p}\nspec:\n  failOn: {severity: LOW}\n  exemptImages: [\"demo.scangate.dev/payments-*\"]\n");
    let client = h.client(true);
    let response = h
        .validate(&client, &pod_review("u", "shop", &[PAYMENTS]))
        .await;
    assert_eq!(response, json!({"uid": "u", "allowed": true}));
    let response = h
        .validate(&client, &pod_review("u", "shop", &[STATIC_SITE]))
        .await;
    assert_eq!(response["allowed"], false, "LOW finding, not exempt");
    h.shutdown().await;
}

/// A budget that a held scan runs out of, yet long enough that a busy
/// machine still runs the scan tasks within it.
fn quick_budget() -> Options {
    let mut options = Options::default();
    options.config.orchestrator.scan_timeout =
        scangate::model::ConfigDuration(std::time::Duration::from_secs(2));
    options
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_pending_denies_or_allows_and_the_scan_goes_on() {
    let mut h = Harness::start(quick_budget()).await;
    let client = h.client(true);
    h.scanner.release.send_replace(false);
    let response = h
        .validate(&client, &pod_review("u-p", "shop", &[PAYMENTS]))
        .await;
    let digest = h.scanner.digest_of(PAYMENTS);
    let message = format!(
        "scangate denied Pod shop/payments-api-7d9c: image {PAYMENTS} ({}) is being scanned (policy \"enforce-high\"); retry in a few seconds",
        &digest[..19]
    );
    assert_eq!(
        response,
        json!({"uid": "u-p", "allowed": false, "status": {"code": 403, "reason": "Forbidden", "message": message}})
    );
    h.set_policies("apiVersion: scangate.dev/v1alpha1\nkind: ClusterScanPolicy\nmetadata: {name: lenient}\nspec: {failOn: {severity: HIGH}, onScanPending: Allow}\n");
    let response = h
        .validate(&client, &pod_review("u-q", "shop", &[PAYMENTS]))
        .await;
    assert_eq!(
        response,
        json!({"uid": "u-q", "allowed": true, "warnings": [format!("{PAYMENTS} not scanned yet; admitted by policy lenient")]})
    );
    assert_eq!(
        h.scanner.scans.load(Ordering::SeqCst),
        1,
        "the second request joined the running scan"
    );
    h.scanner.release.send_replace(true);
    // The retry hits the cache (or the finishing scan): the real verdict.
    let response = h
        .validate(&client, &pod_review("u-r", "shop", &[PAYMENTS]))
        .await;
    assert_eq!(response["allowed"], false);
    assert!(
        response["status"]["message"]
            .as_str()
            .unwrap()
            .contains("GO-2024-3321")
    );
    assert_eq!(h.scanner.scans.load(Ordering::SeqCst), 1);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_errors_deny_or_allow_and_are_cached_for_error_ttl() {
    let mut h = Harness::start(Options::default()).await;
    let client = h.client(true);
    let digest = h.scanner.digest_of(PAYMENTS);
    h.scanner.failing.lock().unwrap().insert(digest.clone());
    let response = h
        .validate(&client, &pod_review("u-e", "shop", &[PAYMENTS]))
        .await;
    let message = format!(
        "scangate denied Pod shop/payments-api-7d9c: image {PAYMENTS} ({}) could not be scanned: registry: blob of {digest}: 503 Service Unavailable (policy \"enforce-high\" denies on scan errors)",
        &digest[..19]
    );
    assert_eq!(response["status"]["message"], message);
    h.set_policies("apiVersion: scangate.dev/v1alpha1\nkind: ClusterScanPolicy\nmetadata: {name: lenient}\nspec: {failOn: {severity: HIGH}, onScanError: Allow}\n");
    let response = h
        .validate(&client, &pod_review("u-f", "shop", &[PAYMENTS]))
        .await;
    assert_eq!(
        response,
        json!({"uid": "u-f", "allowed": true, "warnings": [format!("{PAYMENTS} could not be scanned (registry: blob of {digest}: 503 Service Unavailable); admitted by policy lenient")]})
    );
    assert_eq!(
        h.scanner.scans.load(Ordering::SeqCst),
        1,
        "the error was cached"
    );
    h.shutdown().await;

    // With errorTtl short, the failure is forgotten and the next review rescans.
    let mut options = Options::default();
    options.config.orchestrator.error_ttl =
        scangate::model::ConfigDuration(std::time::Duration::from_millis(1));
    let mut h = Harness::start(options).await;
    let client = h.client(true);
    h.scanner.failing.lock().unwrap().insert(digest.clone());
    let response = h
        .validate(&client, &pod_review("u-g", "shop", &[PAYMENTS]))
        .await;
    assert_eq!(response["allowed"], false);
    h.scanner.failing.lock().unwrap().clear();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let response = h
        .validate(&client, &pod_review("u-h", "shop", &[PAYMENTS]))
        .await;
    assert!(
        response["status"]["message"]
            .as_str()
            .unwrap()
            .contains("GO-2024-3321"),
        "{response}"
    );
    assert_eq!(h.scanner.scans.load(Ordering::SeqCst), 2);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_bodies() {
    let mut options = Options::default();
    options.config.server.max_body_bytes = 64 * 1024;
    let mut h = Harness::start(options).await;
    // HTTP/2, as the API server mostly speaks: on HTTP/1.1 the server's early
    // 413 races the client still writing the oversized body (broken pipe).
    let client = h.client(true);
    let send = |body: Vec<u8>| {
        let client = client.clone();
        let url = h.url("/validate");
        async move {
            let response = client
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = send(b"{not json".to_vec()).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("body is not a valid AdmissionReview: key must be a string"),
        "{body}"
    );
    let mut wrong_version = read_json("reviews/pod-create.json");
    wrong_version["apiVersion"] = "admission.k8s.io/v1beta1".into();
    let (status, body) = send(serde_json::to_vec(&wrong_version).unwrap()).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"error": "apiVersion must be \"admission.k8s.io/v1\", got \"admission.k8s.io/v1beta1\"", "code": 400})
        )
    );
    let mut no_uid = read_json("reviews/pod-create.json");
    no_uid["request"].as_object_mut().unwrap().remove("uid");
    let (status, body) = send(serde_json::to_vec(&no_uid).unwrap()).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("missing field `uid`"),
        "{body}"
    );
    let (status, body) =
        send(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec()).await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (400, "AdmissionReview has no request")
    );

    let mut huge = read_json("reviews/pod-create.json");
    huge["request"]["object"]["metadata"]["annotations"] = json!({"big": "x".repeat(70 * 1024)});
    let (status, body) = send(serde_json::to_vec(&huge).unwrap()).await;
    assert_eq!(
        (status, body),
        (
            413,
            json!({"error": "request body is larger than maxBodyBytes (65536 bytes)", "code": 413})
        )
    );
    // The same without Content-Length (chunked): still 413.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..80).map(|_| Ok(vec![b' '; 1024])).collect();
    let response = client
        .post(h.url("/validate"))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let metrics = reqwest::get(h.metrics_url())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("scangate_limit_hits_total{limit=\"maxBodyBytes\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "scangate_admission_reviews_total{endpoint=\"validate\",verdict=\"invalid\"} 6"
        ),
        "{metrics}"
    );
    // A pod spec the API server would never send is denied, naming the problem.
    let mut bad_spec = read_json("reviews/pod-create.json");
    bad_spec["request"]["object"]["spec"]["containers"] = "nope".into();
    let (status, body) = send(serde_json::to_vec(&bad_spec).unwrap()).await;
    assert_eq!(status, 200);
    let status = &response_of(&body)["status"];
    assert_eq!(status["code"], 400);
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .starts_with("scangate cannot review this object: Pod spec is not a valid pod spec"),
        "{body}"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_reviews_of_twenty_images_scan_each_once() {
    let mut h = Harness::start(Options::default()).await;
    let client = h.client(true);
    let url = h.url("/validate");
    let requests = (0..200).map(|i| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let image = format!("demo.scangate.dev/load/app-{}:1", i % 20);
            let uid = format!("uid-{i}");
            let (status, body) = post(&client, &url, &pod_review(&uid, "shop", &[&image])).await;
            (status, uid, body)
        }
    });
    let results = futures::future::join_all(requests).await;
    for (status, uid, body) in &results {
        assert_eq!(*status, 200);
        assert_eq!(*response_of(body), json!({"uid": uid, "allowed": true}));
    }
    assert_eq!(h.scanner.scans.load(Ordering::SeqCst), 20);
    assert_eq!(h.orchestrator.scans_started(), 20);
    assert_eq!(
        h.scanner.resolutions.load(Ordering::SeqCst),
        20,
        "tag resolutions are shared too"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_pinning_patches_tags_to_the_scanned_digest() {
    let mut options = Options::default();
    options.config.webhook.pin_digests = true;
    let mut h = Harness::start(options).await;
    let (_, body) = post(
        &h.client(true),
        &h.url("/mutate"),
        &read_json("reviews/pod-create.json"),
    )
    .await;
    let response = response_of(&body);
    assert_eq!(response["allowed"], true);
    assert_eq!(response["patchType"], "JSONPatch");
    use base64::Engine;
    let patch: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(response["patch"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let payments = format!("{PAYMENTS}@{}", h.scanner.digest_of(PAYMENTS));
    let site = format!("{STATIC_SITE}@{}", h.scanner.digest_of(STATIC_SITE));
    assert_eq!(
        patch,
        json!([
            {"op": "replace", "path": "/spec/initContainers/0/image", "value": payments},
            {"op": "replace", "path": "/spec/containers/0/image", "value": payments},
            {"op": "replace", "path": "/spec/containers/1/image", "value": site},
        ])
    );
    // The pinned pod validates against the same digests without resolving.
    let resolutions = h.scanner.resolutions.load(Ordering::SeqCst);
    let (_, body) = post(
        &h.client(true),
        &h.url("/validate"),
        &pod_review("u-pin", "shop", &[&site]),
    )
    .await;
    assert_eq!(
        *response_of(&body),
        json!({"uid": "u-pin", "allowed": true})
    );
    assert_eq!(h.scanner.resolutions.load(Ordering::SeqCst), resolutions);
    h.shutdown().await;

    let mut h = Harness::start(Options::default()).await;
    let (_, body) = post(
        &h.client(true),
        &h.url("/mutate"),
        &read_json("reviews/pod-create.json"),
    )
    .await;
    assert_eq!(
        *response_of(&body),
        json!({"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "allowed": true})
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_scan_queue_sheds_load_with_a_named_error() {
    let mut options = quick_budget();
    options.config.orchestrator.max_concurrent_scans = 1;
    options.config.orchestrator.max_queued_scans = 1;
    let mut h = Harness::start(options).await;
    h.scanner.release.send_replace(false);
    let images = [
        "demo.scangate.dev/load/q-1:1",
        "demo.scangate.dev/load/q-2:1",
        "demo.scangate.dev/load/q-3:1",
    ];
    let (_, body) = post(
        &h.client(true),
        &h.url("/validate"),
        &pod_review("u-q", "shop", &images),
    )
    .await;
    let message = response_of(&body)["status"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(message.matches("is being scanned").count(), 2, "{message}");
    assert_eq!(
        message
            .matches("scan queue full (1 waiting); retry shortly")
            .count(),
        1,
        "{message}"
    );
    let metrics = reqwest::get(h.metrics_url())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("scangate_limit_hits_total{limit=\"maxQueuedScans\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("scangate_limit_hits_total{limit=\"scanTimeout\"} 2"),
        "{metrics}"
    );
    h.scanner.release.send_replace(true);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_examples_give_one_allowed_one_denied_one_audited_pod() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let options = Options {
        policies: scangate::policy::load::PolicyDocuments::read_files(&[
            root.join("examples/policies/baseline.yaml"),
            root.join("examples/policies/exceptions.yaml"),
        ])
        .unwrap(),
        ..Options::default()
    };
    let mut h = Harness::start(options).await;
    let client = h.client(true);
    let example = |name: &str| {
        serde_json::from_slice::<Value>(
            &std::fs::read(root.join(format!("examples/reviews/{name}.json"))).unwrap(),
        )
        .unwrap()
    };
    let response = h.validate(&client, &example("allowed")).await;
    assert_eq!(
        response,
        json!({"uid": "6f1d2c3b-0a9e-4d8c-b7a6-5e4f3d2c1b01", "allowed": true})
    );
    let response = h.validate(&client, &example("denied")).await;
    assert_eq!(response["allowed"], false);
    assert_eq!(response["status"]["code"], 403);
    let response = h.validate(&client, &example("audited")).await;
    assert_eq!(response["allowed"], true);
    assert_eq!(
        response["warnings"].as_array().unwrap().len(),
        1,
        "{response}"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_finishes_gets_408() {
    let mut options = Options::default();
    options.config.server.body_read_timeout =
        scangate::model::ConfigDuration(std::time::Duration::from_millis(200));
    let mut h = Harness::start(options).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    tx.send(Ok(b"{\"apiVersion\":".to_vec())).await.unwrap();
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let response = h
        .client(true)
        .post(h.url("/validate"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 408);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": "request body not received within bodyReadTimeout (200ms)", "code": 408})
    );
    drop(tx);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_are_resolved_again_after_tag_ttl_but_findings_stay_cached_by_digest() {
    let mut options = Options::default();
    options.config.orchestrator.tag_ttl =
        scangate::model::ConfigDuration(std::time::Duration::from_millis(1));
    let mut h = Harness::start(options).await;
    let client = h.client(true);
    for uid in ["u-1", "u-2"] {
        let response = h
            .validate(&client, &pod_review(uid, "shop", &[STATIC_SITE]))
            .await;
        assert_eq!(response, json!({"uid": uid, "allowed": true}));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(h.scanner.resolutions.load(Ordering::SeqCst), 2);
    assert_eq!(h.scanner.scans.load(Ordering::SeqCst), 1);
    let metrics = reqwest::get(h.metrics_url())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("scangate_cache_lookups_total{cache=\"verdict\",result=\"hit\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("scangate_cache_lookups_total{cache=\"tag\",result=\"miss\"} 2"),
        "{metrics}"
    );
    h.shutdown().await;
}
