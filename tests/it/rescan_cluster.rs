//! The re-scan loop end to end, in process, from the real parts: the image
//! scanner pulling from a real `docker-registry`, the pod and
//! `ImageScanReport` reflectors, events, reports, policies and the Lease
//! against the fake API server, the history on disk, alerts posted to a
//! local HTTP sink, and admission. Pods appear; the database changes (a new
//! record affects a package of the running image); one re-scan alerts
//! exactly the new finding, puts an event on the owning workload and keeps
//! both scans in the history; a restart of the running digest is admitted
//! within its response window and denied after it. Time is injected (the
//! controller's ticks and admission's clock), never slept.

use crate::support::fake_apiserver::FakeApiServer;
use crate::support::registry::{Layer, TestRegistry, tar_layer};
use crate::support::scan_images::{
    OS_RELEASE, debian_database, debian_record, dpkg_status, scanner_for,
};
use crate::support::serve::eventually;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use scangate::admission::Clock;
use scangate::admission::review::{AdmissionRequest, AdmissionReviewRequest};
use scangate::app::{App, RescanPorts};
use scangate::config::Config;
use scangate::k8s::config::KubernetesConfig;
use scangate::k8s::leader::{LeaderConfig, LeaderElector, spawn_election};
use scangate::k8s::pods::PodReflector;
use scangate::k8s::report_writer::ReportMetrics;
use scangate::k8s::reporting_scanner::ReportingScanner;
use scangate::k8s::runtime::ClusterRuntime;
use scangate::k8s::stored_reports::ClusterReports;
use scangate::model::ConfigDuration;
use scangate::ports::PodSnapshot;
use scangate::ports::{PolicySet, PolicyStore, RunningImages};
use scangate::rescan::alerts::{Notifier, SinkConfig, SinkFormat};
use scangate::rescan::controller::{ControllerPorts, RescanController};
use scangate::rescan::history::{HistoryStore, Retention};
use scangate::rescan::metrics::RescanMetrics;
use scangate::rescan::rescanner::{RescanConfig, Rescanner};
use scangate::scan::Scanner;
use scangate::vulndb::DbHandle;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const OLD: &str = "DSA-9001-1";
const NEW: &str = "DSA-9002-1";

/// A generic JSON webhook that records what is posted to it.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<Value>>>);

impl Sink {
    fn received(&self) -> Vec<Value> {
        self.0.lock().unwrap().clone()
    }
}

async fn receive(State(sink): State<Sink>, Json(body): Json<Value>) -> StatusCode {
    sink.0.lock().unwrap().push(body);
    StatusCode::NO_CONTENT
}

async fn serve_sink(sink: Sink) -> String {
    let app = axum::Router::new()
        .route("/alerts", post(receive))
        .with_state(sink);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/alerts")
}

/// A pod of the Deployment `cart` (through its ReplicaSet) running `image`;
/// with `image_id` it has started and runs that digest.
/// The JSON webhook sink at `url`, retrying quickly.
fn json_sink(url: String) -> SinkConfig {
    SinkConfig {
        name: "security-team".into(),
        url,
        format: SinkFormat::Json,
        max_attempts: 5,
        initial_backoff: scangate::model::ConfigDuration(std::time::Duration::from_millis(50)),
        max_backoff: scangate::model::ConfigDuration(std::time::Duration::from_millis(500)),
        request_timeout: scangate::model::ConfigDuration(std::time::Duration::from_millis(10_000)),
        queue_capacity: 16,
    }
}

/// The image: Debian 12 with hello and zlib1g, pushed as `shop/cart:1.0`;
/// its digest, tag reference and digest reference (the pods' `imageID`).
async fn push_cart_image(registry: &TestRegistry) -> (String, String, String) {
    let layer = Layer::gzip(tar_layer(&[
        ("etc/os-release", OS_RELEASE),
        (
            "var/lib/dpkg/status",
            &dpkg_status(&[("hello", "2.10-3"), ("zlib1g", "1:1.2.13.dfsg-1")]),
        ),
    ]));
    let digest = registry.push_http("shop/cart", "1.0", &[layer]).await;
    let image = format!("{}/shop/cart:1.0", registry.address);
    let image_id = format!("{}/shop/cart@{digest}", registry.address);
    (digest, image, image_id)
}

fn cart_pod(name: &str, image: &str, image_id: Option<&str>) -> Value {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop",
            "labels": {"app": "cart", "pod-template-hash": "7c9d"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": "cart-7c9d", "uid": "rs-1", "controller": true}]},
        "spec": {"containers": [{"name": "app", "image": image}]}
    });
    if let Some(image_id) = image_id {
        pod["status"] = json!({"phase": "Running", "containerStatuses": [{"name": "app",
            "image": image, "imageID": image_id, "ready": true, "restartCount": 0}]});
    }
    pod
}

fn create_review(uid: &str, pod: Value) -> AdmissionRequest {
    let review = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "name": pod["metadata"]["name"], "namespace": "shop", "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": pod, "oldObject": null, "dryRun": false
        }
    });
    let review: AdmissionReviewRequest = serde_json::from_str(&review.to_string()).unwrap();
    review.request.unwrap()
}

fn ids(findings: &Value) -> Vec<String> {
    let mut ids: Vec<String> = findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn report_of(fake: &FakeApiServer, digest: &str) -> Option<Value> {
    fake.objects("/apis/scangate.dev/v1alpha1/imagescanreports")
        .into_iter()
        .find(|r| r["spec"]["digest"] == digest)
}

fn new_vulnerability_events(fake: &FakeApiServer) -> Vec<Value> {
    fake.objects("/apis/events.k8s.io/v1/namespaces/shop/events")
        .into_iter()
        .filter(|e| e["reason"] == "NewVulnerabilities")
        .collect()
}

/// The cluster runtime `serve` starts (events flushed every second) and
/// the real scanner over the test registry, writing `ImageScanReport`s.
async fn cluster_scanner(
    client: &kube::Client,
    policies: &PolicyStore,
    registry: &TestRegistry,
    db: &DbHandle,
) -> (ClusterRuntime, Arc<dyn Scanner>) {
    let mut kubernetes = KubernetesConfig::default();
    kubernetes.events.flush_interval = scangate::model::ConfigDuration::secs(1);
    let runtime = ClusterRuntime::start(
        client.clone(),
        &kubernetes,
        policies.clone(),
        ReportMetrics::default(),
        scangate::k8s::policy_watch::PolicyMetrics::default(),
    )
    .await
    .unwrap();
    let engine = Arc::new(scanner_for(&registry.address, db.clone(), |_| {}));
    let scanner: Arc<dyn Scanner> = Arc::new(ReportingScanner::new(
        engine,
        runtime.reports.clone().expect("reports are on by default"),
    ));
    (runtime, scanner)
}

/// The fake API server with namespace `shop` (labelled `team: shop`) and,
/// given its spec, the ClusterScanPolicy `shop`.
async fn shop_cluster(policy: Option<Value>) -> FakeApiServer {
    let fake = FakeApiServer::start().await;
    fake.put(
        "/api/v1/namespaces",
        json!({"metadata": {"name": "shop", "labels": {"team": "shop"}}}),
    );
    if let Some(spec) = policy {
        fake.put(
            "/apis/scangate.dev/v1alpha1/clusterscanpolicies",
            json!({"apiVersion": "scangate.dev/v1alpha1", "kind": "ClusterScanPolicy",
                "metadata": {"name": "shop", "uid": "p-1"}, "spec": spec}),
        );
    }
    fake
}

fn minutes(n: i64) -> jiff::SignedDuration {
    jiff::SignedDuration::from_mins(n)
}

#[tokio::test]
async fn a_database_change_rescans_once_alerts_the_new_finding_and_times_the_restart() {
    // The image, in a real registry.
    let registry = TestRegistry::start();
    let (digest, image, image_id) = push_cart_image(&registry).await;

    // The cluster: a namespace and a policy with response windows.
    let fake = shop_cluster(Some(json!({"mode": "Enforce",
        "namespaceSelector": {"matchLabels": {"team": "shop"}},
        "failOn": {"severity": "HIGH"},
        "remediation": {"CRITICAL": "24h", "HIGH": "7d"}})))
    .await;

    // The database: one CRITICAL record for hello.
    let old = debian_record(OLD, "hello", "2.10-4", "CRITICAL");
    let new = debian_record(NEW, "zlib1g", "1:1.2.13.dfsg-2", "HIGH");
    let db = DbHandle::default();
    db.replace(debian_database(std::slice::from_ref(&old), "r1"));

    // Everything `serve` wires in a cluster, through the composition root
    // `serve` uses; the test ticks the re-scan loop itself.
    let sink = Sink::default();
    let work = tempfile::tempdir().unwrap();
    let history_dir = work.path().join("history");
    let mut config = Config::default();
    config.kubernetes.events.flush_interval = scangate::model::ConfigDuration::secs(1);
    config.rescan = RescanConfig {
        history_dir: Some(history_dir.clone()),
        alert_sinks: vec![json_sink(serve_sink(sink.clone()).await)],
        dead_letter_file: work.path().join("dead-letters.jsonl"),
        ..RescanConfig::default()
    };
    // A slow machine must not turn the first lookup into "being scanned":
    // this test is about the window.
    config.orchestrator.scan_timeout = ConfigDuration::secs(60);
    let now = Arc::new(Mutex::new(jiff::Timestamp::now()));
    let clock_now = now.clone();
    let clock: Clock = Arc::new(move || *clock_now.lock().unwrap());
    let engine = Arc::new(scanner_for(&registry.address, db.clone(), |_| {}));
    let mut app = App::builder(config)
        .engine(engine)
        .database(db.clone())
        .clock(clock)
        .build()
        .unwrap();
    let cluster = scangate::app::cluster::connect(&mut app, fake.client())
        .await
        .unwrap();
    let policies = app.policies.clone();
    let pods = cluster.pods.clone();
    let running = cluster.running.clone();
    let history = HistoryStore::new(&history_dir, Retention::default());
    let elector = LeaderElector::new(
        fake.client(),
        "scangate",
        "scangate-0",
        LeaderConfig::default(),
    );
    let (leadership, election) = spawn_election(elector);
    let controller = app
        .rescan_controller(
            RescanPorts {
                pods: Arc::new(pods.clone()),
                leadership: Arc::new(leadership.clone()),
                reports: None,
            },
            &cluster.adapters,
        )
        .unwrap();
    let rescan_metrics = || app.metrics.render();

    eventually("the lease", || async { leadership.is_leader() }).await;
    eventually("the policy from the API", || async {
        policies.snapshot().policies.len() == 1
    })
    .await;

    // Windows count from firstSeen, the real time of the scan that found
    // a finding: the injected clocks start now.
    let t0 = jiff::Timestamp::now();
    let idle = controller.tick(t0).await;
    assert_eq!((idle.leader, idle.running, idle.rescanned), (true, 0, 0));

    // 1. A pod of the Deployment cart starts running the digest; the
    // first scan of a digest is its baseline.
    fake.put(
        "/api/v1/namespaces/shop/pods",
        cart_pod("cart-7c9d-abcde", &image, Some(&image_id)),
    );
    eventually("the pod in the reflector", || async {
        pods.pods().len() == 1
    })
    .await;
    let first = controller.tick(t0).await;
    assert_eq!(
        (
            first.running,
            first.rescanned,
            first.failed,
            first.new_findings
        ),
        (1, 1, 0, 0),
        "{first:?}"
    );
    assert_eq!(controller.tick(t0 + minutes(1)).await.rescanned, 0);
    assert!(sink.received().is_empty(), "a baseline is not news");
    eventually("the ImageScanReport of the first scan", || async {
        report_of(&fake, &digest).is_some()
    })
    .await;
    let baseline = report_of(&fake, &digest).unwrap();
    assert_eq!(baseline["spec"]["databaseRevision"], "r1", "{baseline}");
    assert_eq!(ids(&baseline["spec"]["findings"]), [OLD]);

    // 2. The database changes: a new record affects zlib1g in the image.
    db.replace(debian_database(&[old.clone(), new.clone()], "r2"));
    let second = controller.tick(t0 + minutes(2)).await;
    assert_eq!(
        (second.rescanned, second.failed, second.new_findings),
        (1, 0, 1),
        "{second:?}"
    );
    let third = controller.tick(t0 + minutes(3)).await;
    assert_eq!(third.rescanned, 0, "one re-scan per database revision");

    // Exactly the new finding is alerted, once, and not the old one.
    eventually("the alert at the sink", || async {
        !sink.received().is_empty()
    })
    .await;
    let posted = sink.received();
    assert_eq!(posted.len(), 1, "{posted:?}");
    let alert = &posted[0];
    assert_eq!(alert["kind"], "newFindings", "{alert}");
    assert_eq!(alert["digest"], digest.as_str());
    assert_eq!(alert["dbRevision"], "r2");
    assert_eq!(alert["workloads"], json!(["shop/Deployment/cart"]));
    assert_eq!(ids(&alert["findings"]), [NEW]);
    assert!(
        !std::fs::exists(work.path().join("dead-letters.jsonl")).unwrap(),
        "the sink took the alert"
    );

    // The event is on the owning workload.
    eventually("a NewVulnerabilities event", || async {
        !new_vulnerability_events(&fake).is_empty()
    })
    .await;
    let events = new_vulnerability_events(&fake);
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["regarding"]["kind"], "Deployment", "{event}");
    assert_eq!(event["regarding"]["name"], "cart");
    let note = event["note"].as_str().unwrap();
    assert!(note.contains(NEW) && !note.contains(OLD), "{note}");

    // The history holds both scans.
    let documents = history.load_all().unwrap();
    let revisions: Vec<&str> = documents.iter().map(|d| d.db_revision.as_str()).collect();
    assert_eq!(revisions, ["r1", "r2"]);
    assert!(documents.iter().all(|d| d.digest == digest));
    let found: Vec<&str> = documents[1]
        .findings
        .iter()
        .map(|f| f.id.as_str())
        .collect();
    assert_eq!(found.len(), 2, "{found:?}");

    // The ImageScanReport follows: both findings, the old one still
    // first seen at the baseline, and both scans summarised.
    eventually("the ImageScanReport of the re-scan", || async {
        report_of(&fake, &digest).is_some_and(|r| r["spec"]["databaseRevision"] == "r2")
    })
    .await;
    let report = report_of(&fake, &digest).unwrap();
    assert_eq!(ids(&report["spec"]["findings"]), [OLD, NEW], "{report}");
    let first_seen = |id: &str| -> jiff::Timestamp {
        report["spec"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == id)
            .unwrap()["firstSeen"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let old_seen = first_seen(OLD);
    assert_eq!(
        old_seen,
        baseline["spec"]["scannedAt"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
    );
    let rescanned_at = report["spec"]["scannedAt"].as_str().unwrap();
    assert_eq!(first_seen(NEW), rescanned_at.parse().unwrap());
    assert_eq!(report["spec"]["recent"].as_array().unwrap().len(), 2);
    assert_eq!(report["spec"]["counts"]["critical"], 1);
    assert_eq!(report["spec"]["counts"]["high"], 1);

    let text = rescan_metrics();
    assert!(
        text.contains(r#"scangate_rescans_total{result="ok"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"scangate_rescan_new_findings_total{severity="HIGH"} 1"#),
        "{text}"
    );

    // 3. The ReplicaSet restarts a pod of the running digest. Admission
    // sees the digest running (pods) and when each finding was first seen
    // (the ImageScanReport reflector).
    eventually(
        "the running digest with its findings' firstSeen",
        || async {
            running
                .running(&digest)
                .is_some_and(|seen| seen.len() == 2 && seen.contains_key(NEW))
        },
    )
    .await;
    *now.lock().unwrap() = t0 + jiff::SignedDuration::from_hours(1);
    let admission = app.admission(&cluster.adapters);
    let restart = cart_pod("cart-7c9d-fghij", &image, None);

    // An hour in: both findings inside their windows (CRITICAL 24 h from
    // the baseline, HIGH 7 d from the re-scan). Admitted, with a warning
    // naming the deadline.
    let within = admission
        .validate(&create_review("restart-1", restart.clone()))
        .await;
    assert!(within.allowed, "{within:?}");
    let deadline = old_seen + jiff::SignedDuration::from_hours(24);
    assert!(
        within
            .warnings
            .iter()
            .any(|w| w.contains("already runs") && w.contains(&deadline.to_string())),
        "{within:?}"
    );

    // A day and an hour in: the CRITICAL finding is past its deadline.
    *now.lock().unwrap() = t0 + jiff::SignedDuration::from_hours(25);
    let after = admission
        .validate(&create_review("restart-2", restart))
        .await;
    assert!(!after.allowed, "{after:?}");
    let message = &after.status.as_ref().unwrap().message;
    assert!(message.contains(OLD), "{message}");

    assert_eq!(sink.received().len(), 1, "alerted once");

    election.stop(Duration::from_secs(5)).await;
    cluster.stop().await;
}

/// What persists of a replica's re-scans for the next leader to read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stores {
    HistoryAndReports,
    HistoryOnly,
    ReportsOnly,
}

/// What the replicas of a test share: the API (through the runtime), the
/// scanner, pods, policies, the alert sink and the history directory
/// (`history` in `work`).
struct Shared<'a> {
    work: &'a std::path::Path,
    sink_url: &'a str,
    scanner: Arc<dyn Scanner>,
    runtime: &'a ClusterRuntime,
    pods: &'a PodReflector,
    policies: &'a PolicyStore,
}

/// One replica's re-scan loop: its own memory and Lease candidacy, the
/// rest [`Shared`].
async fn replica(
    identity: &str,
    stores: Stores,
    shared: &Shared<'_>,
) -> (RescanController, scangate::k8s::leader::Election) {
    let &Shared {
        work,
        sink_url,
        runtime,
        pods,
        policies,
        ..
    } = shared;
    let scanner = shared.scanner.clone();
    let client = runtime.client.clone();
    let history_dir = work.join("history");
    let rescan = RescanConfig {
        history_dir: Some(history_dir.to_path_buf()),
        alert_sinks: vec![json_sink(sink_url.to_string())],
        dead_letter_file: work.join(format!("{identity}-dead-letters.jsonl")),
        ..RescanConfig::default()
    };
    let notifier = Notifier::start(rescan.alert_sinks.clone(), rescan.dead_letter_file.clone());
    let history = (stores != Stores::ReportsOnly)
        .then(|| HistoryStore::new(&history_dir, Retention::default()));
    let mut rescanner = Rescanner::new(scanner.clone(), rescan, history, Some(notifier)).unwrap();
    if stores != Stores::HistoryOnly {
        rescanner = rescanner.with_reports(Arc::new(ClusterReports::new(client.clone())));
    }
    let elector = LeaderElector::new(client, "scangate", identity, LeaderConfig::default());
    let (leadership, election) = spawn_election(elector);
    eventually("the lease", || async { leadership.is_leader() }).await;
    let mut metrics = prometheus_client::registry::Registry::default();
    let controller = RescanController::new(
        Arc::new(rescanner),
        scanner,
        ControllerPorts {
            pods: Arc::new(pods.clone()),
            leadership: Arc::new(leadership),
            credentials: Arc::new(runtime.credentials.clone()),
            policies: policies.clone(),
            events: Arc::new(runtime.events.clone()),
        },
        RescanMetrics::register(&mut metrics),
    );
    (controller, election)
}

/// Leadership moves after the database changed: the new leader, with no
/// memory of the digest, alerts exactly the finding added since the old
/// leader's scan (not a silent baseline), and the old finding keeps its
/// firstSeen, whichever of history and reports persisted.
async fn a_new_leader_alerts_what_changed_since_the_old_leaders_scan(stores: Stores) {
    let registry = TestRegistry::start();
    let (digest, image, image_id) = push_cart_image(&registry).await;

    let fake = shop_cluster(None).await;
    let old = debian_record(OLD, "hello", "2.10-4", "CRITICAL");
    let new = debian_record(NEW, "zlib1g", "1:1.2.13.dfsg-2", "HIGH");
    let db = DbHandle::default();
    db.replace(debian_database(std::slice::from_ref(&old), "r1"));

    let client = fake.client();
    let policies = PolicyStore::new(PolicySet::default());
    let (runtime, scanner) = cluster_scanner(&client, &policies, &registry, &db).await;
    let (pods, pods_task) = PodReflector::start(client.clone());
    let sink = Sink::default();
    let sink_url = serve_sink(sink.clone()).await;
    let work = tempfile::tempdir().unwrap();
    let shared = Shared {
        work: work.path(),
        sink_url: &sink_url,
        scanner: scanner.clone(),
        runtime: &runtime,
        pods: &pods,
        policies: &policies,
    };

    // 1. The first leader scans the running digest: its baseline.
    let (first, first_election) = replica("scangate-0", stores, &shared).await;
    fake.put(
        "/api/v1/namespaces/shop/pods",
        cart_pod("cart-7c9d-abcde", &image, Some(&image_id)),
    );
    eventually("the pod in the reflector", || async {
        pods.pods().len() == 1
    })
    .await;
    let t0 = jiff::Timestamp::now();
    let baseline = first.tick(t0).await;
    assert_eq!(
        (baseline.rescanned, baseline.failed, baseline.new_findings),
        (1, 0, 0),
        "{baseline:?}"
    );
    eventually("the ImageScanReport of the baseline", || async {
        report_of(&fake, &digest).is_some()
    })
    .await;
    let scanned_at: jiff::Timestamp = report_of(&fake, &digest).unwrap()["spec"]["scannedAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // 2. The first leader goes away (Lease released, memory gone); the
    // database changes before another replica takes over.
    first_election.stop(Duration::from_secs(5)).await;
    drop(first);
    db.replace(debian_database(&[old.clone(), new.clone()], "r2"));
    let (second, second_election) = replica("scangate-1", stores, &shared).await;
    let t1 = t0 + minutes(10);
    let takeover = second.tick(t1).await;
    assert_eq!(
        (takeover.rescanned, takeover.failed, takeover.new_findings),
        (1, 0, 1),
        "{stores:?}: {takeover:?}"
    );

    // Exactly the new finding is alerted, and put on the workload.
    eventually("the alert at the sink", || async {
        !sink.received().is_empty()
    })
    .await;
    let posted = sink.received();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0]["dbRevision"], "r2");
    assert_eq!(ids(&posted[0]["findings"]), [NEW], "{stores:?}");
    eventually("a NewVulnerabilities event", || async {
        !new_vulnerability_events(&fake).is_empty()
    })
    .await;
    let events = new_vulnerability_events(&fake);
    assert_eq!(events.len(), 1, "{events:?}");
    let note = events[0]["note"].as_str().unwrap();
    assert!(note.contains(NEW) && !note.contains(OLD), "{note}");

    // firstSeen survives the takeover: the old finding's is the baseline
    // scan's, the new one's this re-scan's.
    let seen: std::collections::BTreeMap<String, jiff::Timestamp> = second
        .rescanner
        .findings_of(&digest)
        .into_iter()
        .map(|(f, at)| (f.id.to_string(), at))
        .collect();
    assert_eq!(seen.get(OLD), Some(&scanned_at), "{stores:?}: {seen:?}");
    assert_eq!(seen.get(NEW), Some(&t1), "{stores:?}: {seen:?}");
    assert_eq!(second.tick(t1 + minutes(1)).await.rescanned, 0);
    assert_eq!(sink.received().len(), 1, "alerted once");

    second_election.stop(Duration::from_secs(5)).await;
    pods_task.abort();
    runtime.stop();
}

#[tokio::test]
async fn a_new_leader_reads_history_and_reports() {
    a_new_leader_alerts_what_changed_since_the_old_leaders_scan(Stores::HistoryAndReports).await;
}

#[tokio::test]
async fn a_new_leader_reads_history_alone() {
    a_new_leader_alerts_what_changed_since_the_old_leaders_scan(Stores::HistoryOnly).await;
}

#[tokio::test]
async fn a_new_leader_reads_reports_alone() {
    a_new_leader_alerts_what_changed_since_the_old_leaders_scan(Stores::ReportsOnly).await;
}

/// An overdue alert is raised once across a failover: the leader marks it
/// on the digest's `ImageScanReport`, and the next leader, which has no
/// memory of it, reads the mark instead of alerting again.
#[tokio::test]
async fn a_new_leader_does_not_repeat_an_overdue_alert() {
    let registry = TestRegistry::start();
    let (digest, image, image_id) = push_cart_image(&registry).await;
    let fake = shop_cluster(Some(
        json!({"mode": "Audit", "remediation": {"CRITICAL": "24h"}}),
    ))
    .await;
    let db = DbHandle::default();
    db.replace(debian_database(
        &[debian_record(OLD, "hello", "2.10-4", "CRITICAL")],
        "r1",
    ));
    let client = fake.client();
    let policies = PolicyStore::new(PolicySet::default());
    let (runtime, scanner) = cluster_scanner(&client, &policies, &registry, &db).await;
    let (pods, pods_task) = PodReflector::start(client.clone());
    eventually("the policy from the API", || async {
        policies.snapshot().policies.len() == 1
    })
    .await;
    let sink_url = serve_sink(Sink::default()).await;
    let work = tempfile::tempdir().unwrap();
    let shared = Shared {
        work: work.path(),
        sink_url: &sink_url,
        scanner: scanner.clone(),
        runtime: &runtime,
        pods: &pods,
        policies: &policies,
    };
    let stores = Stores::ReportsOnly;
    let (first, first_election) = replica("scangate-0", stores, &shared).await;
    fake.put(
        "/api/v1/namespaces/shop/pods",
        cart_pod("cart-7c9d-abcde", &image, Some(&image_id)),
    );
    eventually("the pod in the reflector", || async {
        pods.pods().len() == 1
    })
    .await;

    let t0 = jiff::Timestamp::now();
    assert_eq!(first.tick(t0).await.rescanned, 1);
    eventually("the ImageScanReport", || async {
        report_of(&fake, &digest).is_some()
    })
    .await;
    // A day and an hour later the CRITICAL finding is past its window:
    // alerted once, and marked on the report.
    let late = first.tick(t0 + minutes(25 * 60)).await;
    assert_eq!((late.rescanned, late.overdue), (1, 1), "{late:?}");
    assert_eq!(first.tick(t0 + minutes(25 * 60 + 1)).await.overdue, 0);
    let marked = |fake: &FakeApiServer| {
        report_of(fake, &digest).is_some_and(|r| {
            r["spec"]["findings"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|f| f["id"] == OLD && f["overdueAlertedAt"].is_string())
        })
    };
    assert!(marked(&fake), "{:?}", report_of(&fake, &digest));

    // The leader goes away; the next one re-scans (nothing in memory) and
    // does not alert the finding again. The queued report write of the
    // last re-scan may land after the mark: it keeps it.
    first_election.stop(Duration::from_secs(5)).await;
    drop(first);
    let (second, second_election) = replica("scangate-1", stores, &shared).await;
    let takeover = second.tick(t0 + minutes(26 * 60)).await;
    assert_eq!(
        (takeover.rescanned, takeover.failed, takeover.overdue),
        (1, 0, 0),
        "{takeover:?}"
    );
    assert!(marked(&fake), "{:?}", report_of(&fake, &digest));
    eventually("the RemediationOverdue event", || async {
        fake.objects("/apis/events.k8s.io/v1/namespaces/shop/events")
            .iter()
            .any(|e| e["reason"] == "RemediationOverdue")
    })
    .await;

    second_election.stop(Duration::from_secs(5)).await;
    pods_task.abort();
    runtime.stop();
}
