//! `scangate serve` connected to a cluster, end to end: the built binary
//! with `--kubeconfig` pointing at the fake API server, pulling from a real
//! `docker-registry` with htpasswd auth through the pod's pull secret, and
//! answering AdmissionReviews over TLS. A denial, then an exception that
//! admits, then the same exception expired; events and the
//! `ImageScanReport` appear in the API; the re-scan loop takes the Lease.

use crate::support::fake_apiserver::FakeApiServer;
use crate::support::registry::TestRegistry;
use crate::support::serve::{Server, eventually, free_port, root, write_kubeconfig};
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

const NAMESPACE: &str = "shop";
const USER: &str = "alice";
const PASSWORD: &str = "wonderland";

fn pod_review(uid: &str, image: &str) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "name": "payments-api", "namespace": NAMESPACE, "operation": "CREATE",
            "userInfo": {"username": "dev@example.com", "groups": ["system:authenticated"]},
            "object": {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "payments-api", "namespace": NAMESPACE},
                "spec": {
                    "imagePullSecrets": [{"name": "regcred"}],
                    "containers": [{"name": "api", "image": image}]
                }
            },
            "oldObject": null, "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
        }
    })
}

fn exception(expires: &str) -> Value {
    json!({"apiVersion": "scangate.dev/v1alpha1", "kind": "ScanException",
        "metadata": {"name": "payments-api-accepted", "namespace": NAMESPACE, "uid": "ex-1"},
        "spec": {"vulnerabilities": ["*"], "images": ["*/shop/payments-api:*"],
            "reason": "replaced by 1.5 next sprint", "reviewedBy": "security@example.com",
            "expires": expires}})
}

fn today_plus(days: i64) -> String {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    today
        .checked_add(jiff::Span::new().days(days))
        .unwrap()
        .to_string()
}

fn docker_secret(registry: &TestRegistry) -> Value {
    use base64::Engine;
    let config = registry.docker_config_json(USER, PASSWORD);
    json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "regcred", "namespace": NAMESPACE},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64::engine::general_purpose::STANDARD.encode(config)}})
}

fn events(fake: &FakeApiServer, reason: &str) -> Vec<Value> {
    fake.objects("/apis/events.k8s.io/v1/namespaces/shop/events")
        .into_iter()
        .filter(|e| e["reason"] == reason)
        .collect()
}

#[tokio::test]
async fn serve_in_a_cluster_denies_honours_exceptions_until_they_expire() {
    let registry = TestRegistry::start_with_auth(USER, PASSWORD);
    registry.push_layout(
        &root().join("examples/images/payments-api"),
        "1.4.2",
        "shop/payments-api",
        false,
    );
    let image = format!("{}/shop/payments-api:1.4.2", registry.address);

    let fake = FakeApiServer::start().await;
    fake.put(
        "/api/v1/namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": NAMESPACE, "labels": {"team": "payments"}}}),
    );
    fake.put("/api/v1/namespaces/shop/secrets", docker_secret(&registry));
    fake.put(
        "/apis/scangate.dev/v1alpha1/clusterscanpolicies",
        json!({"apiVersion": "scangate.dev/v1alpha1", "kind": "ClusterScanPolicy",
            "metadata": {"name": "payments", "uid": "p-1"},
            "spec": {"mode": "Enforce",
                "namespaceSelector": {"matchLabels": {"team": "payments"}},
                // The Go database scores nothing: unscored counts as HIGH.
                "failOn": {"severity": "HIGH", "unknownSeverityAs": "HIGH"}}}),
    );

    let work = tempfile::tempdir().unwrap();
    let status = Command::new("cp")
        .arg("-r")
        .arg(root().join("examples"))
        .arg(work.path())
        .status()
        .unwrap();
    assert!(status.success());
    let kubeconfig = write_kubeconfig(work.path(), &fake.url());
    let config = work.path().join("config.yaml");
    std::fs::write(
        &config,
        "kubernetes:\n  syncTimeout: 20s\n  events:\n    flushInterval: 1s\n  leaderElection:\n    leaseDuration: 3s\nrescan:\n  tickInterval: 1s\n",
    )
    .unwrap();
    let (port, metrics_port) = (free_port(), free_port());
    let log = work.path().join("serve.log");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_scangate"));
    serve
        .args(["serve", "--dev", "--kubeconfig"])
        .arg(&kubeconfig)
        .arg("--config")
        .arg(&config)
        .args(["--insecure-registry", &registry.address])
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--metrics-listen")
        .arg(format!("127.0.0.1:{metrics_port}"))
        .env("POD_NAME", "scangate-0")
        .env("POD_NAMESPACE", "scangate")
        .current_dir(work.path());
    let _server = Server::spawn(serve, &log);

    let ca_path = work.path().join(".cache/dev-tls/ca.crt");
    let base = format!("https://localhost:{port}");
    let mut client = None;
    for _ in 0..300 {
        if let Ok(pem) = std::fs::read(&ca_path) {
            let ca = reqwest::Certificate::from_pem(&pem).unwrap();
            let c = reqwest::Client::builder()
                .tls_certs_only([ca])
                .build()
                .unwrap();
            if c.get(format!("{base}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                client = Some(c);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let client = client.expect("serve --kubeconfig became ready within 30 s");
    let review = |uid: &'static str| {
        let client = client.clone();
        let url = format!("{base}/validate");
        let body = pod_review(uid, &image);
        async move {
            // The first review may find the scan still running: retry as
            // the API server's callers do.
            for _ in 0..50 {
                let response: Value = client
                    .post(&url)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let message = response["response"]["status"]["message"]
                    .as_str()
                    .unwrap_or("");
                if !message.contains("being scanned") {
                    assert_eq!(response["response"]["uid"], uid);
                    return response["response"].clone();
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            panic!("the image was never scanned");
        }
    };

    // 1. The pod's pull secret reaches the registry; the policy denies.
    let denied = review("uid-1").await;
    assert_eq!(denied["allowed"], false, "{denied}");
    let message = denied["status"]["message"].as_str().unwrap();
    assert!(message.contains("HIGH"), "{message}");
    assert!(message.contains("payments"), "names the policy: {message}");
    eventually("an ImageDenied event in shop", || async {
        !events(&fake, "ImageDenied").is_empty()
    })
    .await;
    let event = &events(&fake, "ImageDenied")[0];
    assert_eq!(event["regarding"]["kind"], "Pod");
    assert_eq!(event["type"], "Warning");
    eventually("the ImageScanReport", || async {
        !fake
            .objects("/apis/scangate.dev/v1alpha1/imagescanreports")
            .is_empty()
    })
    .await;
    let report = &fake.objects("/apis/scangate.dev/v1alpha1/imagescanreports")[0];
    // 80 Go stdlib findings, all unscored in the Go database.
    assert_eq!(report["spec"]["counts"]["unknown"], 80, "{report}");
    assert_eq!(report["spec"]["findings"].as_array().unwrap().len(), 80);
    assert_eq!(report["spec"]["recent"].as_array().unwrap().len(), 1);
    assert!(
        report["spec"]["image"]
            .as_str()
            .unwrap()
            .ends_with("shop/payments-api:1.4.2")
    );
    assert!(
        !fake.requests().iter().any(|r| r.contains(PASSWORD)),
        "credentials never appear in API requests"
    );

    // 2. An exception reviewed and valid until next month admits the pod.
    fake.put(
        "/apis/scangate.dev/v1alpha1/namespaces/shop/scanexceptions",
        exception(&today_plus(30)),
    );
    eventually("the exception to apply", || async {
        review("uid-2").await["allowed"] == true
    })
    .await;
    let admitted = review("uid-2").await;
    assert!(admitted["status"].is_null(), "{admitted}");

    // 3. The same exception, expired yesterday: denied again, and an event
    // says the exception expired.
    fake.put(
        "/apis/scangate.dev/v1alpha1/namespaces/shop/scanexceptions",
        exception(&today_plus(-1)),
    );
    eventually("the expired exception to stop applying", || async {
        review("uid-3").await["allowed"] == false
    })
    .await;
    eventually("a ScanExceptionExpired event", || async {
        !events(&fake, "ScanExceptionExpired").is_empty()
    })
    .await;

    // 4. The one replica took the re-scan Lease.
    eventually("the re-scan lease", || async {
        fake.objects("/apis/coordination.k8s.io/v1/namespaces/scangate/leases")
            .iter()
            .any(|l| l["spec"]["holderIdentity"] == "scangate-0")
    })
    .await;
    let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("scangate_image_scan_reports_total{result=\"written\"}"),
        "{metrics}"
    );
}
