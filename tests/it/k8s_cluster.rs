//! The cluster adapters against the fake API server, through the real
//! `kube::Client` over HTTP.

use crate::support::fake_apiserver;

use fake_apiserver::FakeApiServer;
use k8s_openapi::api::core::v1::{LocalObjectReference, PodSpec};
use kube::Api;
use kube::api::PostParams;
use scangate::k8s::events::{ClusterEventSink, EventsConfig};
use scangate::k8s::leader::{LeaderConfig, LeaderElector};
use scangate::k8s::namespaces::NamespaceReflector;
use scangate::k8s::policy_watch::{PolicyMetrics, PolicyReporting, PolicyWatch};
use scangate::k8s::pull_secrets::{ClusterPullCredentials, PullSecretsConfig};
use scangate::k8s::report::{ImageScanReport, ImageScanReportSpec, ReportedFinding};
use scangate::k8s::report_writer::ReportWriter;
use scangate::k8s::stored_reports::ClusterReports;
use scangate::model::Severity;
use scangate::policy::{ClusterScanPolicy, ClusterScanPolicySpec, PolicyMode};
use scangate::ports::StoredReports;
use scangate::ports::{
    AdmissionEvent, AdmissionEventReason, EventSink, NamespaceLabels, PolicyStore, PullCredentials,
};
use scangate::registry::RegistryAuth;
use serde_json::{Value, json};
use std::future::Future;

const POLICIES: &str = "/apis/scangate.dev/v1alpha1/clusterscanpolicies";

/// Polls until `check` holds; gives up after many rounds with a message
/// (a guard against hangs, not a timing assertion).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..600 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}

fn exception(namespace: &str, name: &str, vuln: &str) -> Value {
    json!({"apiVersion": "scangate.dev/v1alpha1", "kind": "ScanException",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"vulnerabilities": [vuln], "images": ["*"], "reason": "accepted", "expires": "2030-01-01"}})
}

/// A policy watch reporting to the cluster's event sink and a registry.
fn watch_with_reporting(
    client: &kube::Client,
    store: &PolicyStore,
) -> (
    PolicyWatch,
    PolicyMetrics,
    prometheus_client::registry::Registry,
) {
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = PolicyMetrics::register(&mut registry);
    let (sink, _task) = ClusterEventSink::start(client.clone(), EventsConfig::default());
    let watch = PolicyWatch::start(
        client.clone(),
        store.clone(),
        PolicyReporting {
            events: std::sync::Arc::new(sink),
            metrics: metrics.clone(),
        },
    );
    (watch, metrics, registry)
}

#[tokio::test]
async fn policy_store_follows_watches_across_restart_and_410() {
    let mut fake = FakeApiServer::start().await;
    let client = fake.client();
    let store = PolicyStore::default();
    let (watch, _, _) = watch_with_reporting(&client, &store);
    watch.wait_until_ready().await.unwrap();
    assert!(store.snapshot().policies.is_empty());

    // Created through the real client: the store sees it via the watch.
    let policy = ClusterScanPolicy::new(
        "default",
        ClusterScanPolicySpec {
            mode: PolicyMode::Audit,
            ..ClusterScanPolicySpec::default()
        },
    );
    Api::<ClusterScanPolicy>::all(client.clone())
        .create(&PostParams::default(), &policy)
        .await
        .unwrap();
    eventually("policy in store", || async {
        store.snapshot().policies.len() == 1
    })
    .await;
    assert_eq!(store.snapshot().policies[0].mode, PolicyMode::Audit);

    // A restart: changes made while it was down arrive afterwards.
    fake.stop().await;
    fake.put(
        "/apis/scangate.dev/v1alpha1/namespaces/team-a/scanexceptions",
        exception("team-a", "openssl", "CVE-2024-0001"),
    );
    fake.restart().await;
    eventually("exception after restart", || async {
        store.snapshot().exceptions.len() == 1
    })
    .await;

    // History compacted while down: watches get 410 Gone and relist.
    fake.stop().await;
    fake.delete(POLICIES, "default");
    fake.put(
        "/apis/scangate.dev/v1alpha1/namespaces/team-b/scanexceptions",
        exception("team-b", "zlib", "CVE-2024-0002"),
    );
    fake.compact();
    fake.restart().await;
    eventually("relist after 410", || async {
        let set = store.snapshot();
        set.policies.is_empty() && set.exceptions.len() == 2
    })
    .await;
    let set = store.snapshot();
    assert_eq!(set.exceptions[1].vulnerabilities, vec!["CVE-2024-0002"]);
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.contains("watch=true") && r.contains("allowWatchBookmarks=true")),
        "watches ask for bookmarks"
    );
    watch.abort();
}

/// Objects written before an upgrade tightened the schema reach the watch
/// invalid: the exception exempts nothing, the policy denies what it
/// selects, and both are visible (Warning Event, gauge, the set's list).
#[tokio::test]
async fn invalid_objects_from_the_watch_exempt_nothing_and_deny_visibly() {
    let fake = FakeApiServer::start().await;
    let client = fake.client();
    let broken_policy = |remediation: &str| {
        json!({"apiVersion": "scangate.dev/v1alpha1", "kind": "ClusterScanPolicy",
            "metadata": {"name": "prod-strict"},
            "spec": {"namespaceSelector": {"matchLabels": {"env": "prod"}},
                "failOn": {"severity": "HIGH"}, "remediation": {"HIGH": remediation}}})
    };
    fake.put(POLICIES, broken_policy("7days"));
    // `image:` for `images:`: accepted before, it exempted every image.
    fake.put(
        "/apis/scangate.dev/v1alpha1/namespaces/shop/scanexceptions",
        json!({"apiVersion": "scangate.dev/v1alpha1", "kind": "ScanException",
            "metadata": {"name": "typo", "namespace": "shop"},
            "spec": {"vulnerabilities": ["*"], "image": ["app:*"], "reason": "r",
                "expires": "2030-01-01"}}),
    );
    fake.put(
        "/apis/scangate.dev/v1alpha1/namespaces/shop/scanexceptions",
        exception("shop", "fine", "CVE-2024-0001"),
    );
    let store = PolicyStore::default();
    let (watch, metrics, registry) = watch_with_reporting(&client, &store);
    watch.wait_until_ready().await.unwrap();
    eventually("both kinds compiled", || async {
        let set = store.snapshot();
        set.policies.len() == 1 && set.exceptions.len() == 1 && set.invalid.len() == 2
    })
    .await;
    let set = store.snapshot();
    assert_eq!(
        set.exceptions[0].name, "fine",
        "the invalid exception exempts nothing"
    );
    let why = set.policies[0].invalid.clone().expect("kept as invalid");
    assert!(
        why.starts_with("ClusterScanPolicy prod-strict: spec.remediation.HIGH: invalid duration \"7days\": expected a positive whole number and a unit"),
        "{why}"
    );
    let typo = set
        .invalid
        .iter()
        .find(|o| o.kind == "ScanException")
        .unwrap();
    assert!(
        typo.message
            .contains("ScanException shop/typo: spec.image: unknown field `image`"),
        "{}",
        typo.message
    );

    // A clean image in a selected namespace is denied, naming the policy
    // and the fix; an unselected namespace is not affected.
    let labels =
        |env: &str| std::collections::BTreeMap::from([("env".to_string(), env.to_string())]);
    let image = scangate::policy::ImageOutcome {
        reference: "app:1".into(),
        normalized: "docker.io/library/app:1".into(),
        digest: Some("sha256:aa".into()),
        result: scangate::policy::ImageResult::Scanned(std::sync::Arc::new(
            scangate::model::ScanReport {
                image: "app:1".into(),
                digest: "sha256:aa".into(),
                db_revision: "r1".into(),
                scanned_at: "2026-11-01T00:00:00Z".into(),
                inventory: scangate::model::Inventory::default(),
                findings: vec![],
                unchecked: vec![],
            },
        )),
        running: None,
    };
    let judge = |env: &str| {
        let labels = labels(env);
        scangate::policy::evaluate(&scangate::policy::EvalInput {
            namespace: "shop",
            namespace_labels: &labels,
            annotations: &Default::default(),
            images: std::slice::from_ref(&image),
            policies: &set.policies,
            exceptions: &set.exceptions,
            today: jiff::civil::date(2026, 11, 23),
            now: jiff::Timestamp::now(),
            database: None,
            cluster_wide_namespaces: &[],
            max_listed: 5,
        })
    };
    let verdict = judge("prod");
    assert!(!verdict.allowed());
    assert!(
        matches!(&verdict.problems[0].kind, scangate::policy::ProblemKind::InvalidPolicy(m) if m == &why),
        "{verdict:?}"
    );
    assert!(judge("dev").allowed());

    // Visible: one Warning Event on each object, and the gauge.
    eventually("an InvalidPolicy event on each object", || async {
        let mut events = fake.objects("/apis/events.k8s.io/v1/namespaces/default/events");
        events.extend(fake.objects("/apis/events.k8s.io/v1/namespaces/shop/events"));
        let regarding: Vec<(String, String, String)> = events
            .iter()
            .filter(|e| e["reason"] == "InvalidPolicy" && e["type"] == "Warning")
            .map(|e| {
                let r = &e["regarding"];
                (
                    r["apiVersion"].as_str().unwrap_or_default().to_string(),
                    r["kind"].as_str().unwrap_or_default().to_string(),
                    r["name"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        regarding.len() == 2
            && regarding.contains(&(
                "scangate.dev/v1alpha1".into(),
                "ClusterScanPolicy".into(),
                "prod-strict".into(),
            ))
            && regarding.contains(&(
                "scangate.dev/v1alpha1".into(),
                "ScanException".into(),
                "typo".into(),
            ))
    })
    .await;
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains(r#"scangate_invalid_policies{kind="ClusterScanPolicy"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"scangate_invalid_policies{kind="ScanException"} 1"#),
        "{text}"
    );

    // Fixed: the policy applies as written and the gauge goes back to 0.
    fake.put(POLICIES, broken_policy("7d"));
    eventually("the fixed policy", || async {
        store.snapshot().policies[0].invalid.is_none()
    })
    .await;
    assert_eq!(metrics.invalid("ClusterScanPolicy"), 0);
    assert_eq!(metrics.invalid("ScanException"), 1);
    watch.abort();
}

#[tokio::test]
async fn namespace_labels_come_from_the_reflector() {
    let fake = FakeApiServer::start().await;
    fake.put(
        "/api/v1/namespaces",
        json!({"metadata": {"name": "prod", "labels": {"env": "prod"}}}),
    );
    let (namespaces, task) = NamespaceReflector::start(fake.client());
    namespaces.wait_until_ready().await.unwrap();
    assert_eq!(
        namespaces
            .labels("prod")
            .unwrap()
            .get("env")
            .map(String::as_str),
        Some("prod")
    );
    assert_eq!(namespaces.labels("absent"), None);
    fake.put(
        "/api/v1/namespaces",
        json!({"metadata": {"name": "dev", "labels": {"env": "dev"}}}),
    );
    eventually("new namespace", || async {
        namespaces.labels("dev").is_some()
    })
    .await;
    task.abort();
}

fn docker_secret(name: &str, registry: &str, user: &str) -> Value {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let config = json!({"auths": {registry: {"auth": b64(&format!("{user}:secret-{user}"))}}});
    json!({"metadata": {"name": name}, "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": b64(&config.to_string())}})
}

#[tokio::test]
async fn pull_credentials_pod_then_service_account_then_global() {
    use base64::Engine;
    let fake = FakeApiServer::start().await;
    let secrets = "/api/v1/namespaces/app/secrets";
    fake.put(secrets, docker_secret("pod-secret", "reg.one:5000", "pod"));
    fake.put(
        secrets,
        docker_secret("sa-secret", "https://index.docker.io/v1/", "sa"),
    );
    let legacy = json!({"quay.io": {"auth":
        base64::engine::general_purpose::STANDARD.encode("global:secret-global")}});
    fake.put(
        "/api/v1/namespaces/scangate/secrets",
        json!({"metadata": {"name": "global"}, "type": "kubernetes.io/dockercfg",
            "data": {".dockercfg": base64::engine::general_purpose::STANDARD.encode(legacy.to_string())}}),
    );
    fake.put(
        "/api/v1/namespaces/app/serviceaccounts",
        json!({"metadata": {"name": "builder"}, "imagePullSecrets": [{"name": "sa-secret"}]}),
    );
    let config = PullSecretsConfig {
        global_secret: Some("scangate/global".into()),
        ..PullSecretsConfig::default()
    };
    let credentials = ClusterPullCredentials::new(fake.client(), &config);
    let spec = PodSpec {
        service_account_name: Some("builder".into()),
        image_pull_secrets: Some(vec![
            LocalObjectReference {
                name: "pod-secret".into(),
            },
            LocalObjectReference {
                name: "missing".into(),
            },
        ]),
        ..PodSpec::default()
    };
    let got = credentials.for_pod("app", &(&spec).into()).await;
    let basic = |u: &str| RegistryAuth::Basic {
        username: u.into(),
        password: format!("secret-{u}"),
    };
    assert_eq!(
        got.entries,
        vec![
            ("reg.one:5000".into(), basic("pod")),
            ("docker.io".into(), basic("sa")),
            ("quay.io".into(), basic("global")),
        ]
    );
    assert!(!format!("{got:?}").contains("secret-pod"), "never in Debug");

    // Cached: a second lookup reads nothing from the API server.
    let before = fake.requests().len();
    credentials.for_pod("app", &(&spec).into()).await;
    let after: Vec<String> = fake.requests()[before..].to_vec();
    assert!(
        after.iter().all(|r| r.contains("/missing")),
        "only the missing secret is read again: {after:?}"
    );
}

#[tokio::test]
async fn events_are_aggregated_into_series() {
    let fake = FakeApiServer::start().await;
    let (sink, _task) = ClusterEventSink::start(fake.client(), EventsConfig::default());
    let event = |name: &str| AdmissionEvent {
        reason: AdmissionEventReason::Denied,
        event_type: "Warning",
        namespace: "app".into(),
        kind: "Pod".into(),
        name: name.into(),
        message: "image has CRITICAL CVE-2024-0001".into(),
    };
    for _ in 0..40 {
        sink.emit(event("crashloop"));
    }
    sink.emit(event("other"));
    let events = "/apis/events.k8s.io/v1/namespaces/app/events";
    eventually("aggregated series of 40", || async {
        let all = fake.objects(events);
        all.len() == 2
            && all
                .iter()
                .any(|e| e["regarding"]["name"] == "crashloop" && e["series"]["count"] == json!(40))
    })
    .await;
    let all = fake.objects(events);
    let first = all
        .iter()
        .find(|e| e["regarding"]["name"] == "crashloop")
        .unwrap();
    assert_eq!(first["reason"], "ImageDenied");
    assert_eq!(first["type"], "Warning");
    assert_eq!(first["regarding"]["kind"], "Pod");
    // Aggregated: 41 occurrences cost two creates and a series update per
    // flush interval (one, unless the machine stalls for a whole interval).
    let writes = fake
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST") || r.starts_with("PATCH"))
        .count();
    assert!(writes <= 4, "{:?}", fake.requests());
    assert_eq!(sink.dropped(), 0);
}

/// A finding of `openssl` as a report lists it.
fn reported(id: &str, severity: Severity, fixed: Option<&str>) -> ReportedFinding {
    ReportedFinding {
        id: id.into(),
        package: "openssl".into(),
        severity,
        fixed_version: fixed.map(Into::into),
        first_seen: None,
        overdue_alerted_at: None,
    }
}

/// The report of `sha256:abc` scanned on 2026-11-23 with revision r1.
fn report_spec(findings: Vec<ReportedFinding>) -> ImageScanReportSpec {
    ImageScanReportSpec {
        digest: "sha256:abc".into(),
        image: "reg/app:1".into(),
        counts: Default::default(),
        fixable: Default::default(),
        database_revision: "r1".into(),
        scanned_at: "2026-11-23T08:00:00Z".into(),
        findings,
        truncated: false,
        recent: vec![],
    }
}

#[tokio::test]
async fn report_writer_creates_then_updates_capped() {
    let fake = FakeApiServer::start().await;
    let writer = ReportWriter::new(fake.client(), 3);
    let finding = |id: &str, severity| reported(id, severity, Some("3.0.1"));
    let mut spec = report_spec(vec![
        finding("A-1", Severity::Low),
        finding("A-2", Severity::Critical),
        finding("A-3", Severity::High),
        finding("A-4", Severity::Medium),
    ]);
    let written = writer.write(spec.clone()).await.unwrap();
    assert_eq!(written.metadata.name.as_deref(), Some("sha256-abc"));
    spec.database_revision = "r2".into();
    spec.scanned_at = "2026-11-24T08:00:00Z".into();
    writer.write(spec.clone()).await.unwrap();
    let stored: ImageScanReport = Api::all(fake.client()).get("sha256-abc").await.unwrap();
    assert_eq!(stored.spec.database_revision, "r2");
    // The earlier scan's summary is kept, oldest first.
    let recent: Vec<(&str, &str)> = stored
        .spec
        .recent
        .iter()
        .map(|s| (s.scanned_at.as_str(), s.database_revision.as_str()))
        .collect();
    assert_eq!(
        recent,
        [
            ("2026-11-23T08:00:00Z", "r1"),
            ("2026-11-24T08:00:00Z", "r2")
        ]
    );
    // A third scan with a history of two keeps the latest two.
    let writer = ReportWriter::new(fake.client(), 3).with_history_length(2);
    spec.scanned_at = "2026-11-25T08:00:00Z".into();
    writer.write(spec).await.unwrap();
    let stored: ImageScanReport = Api::all(fake.client()).get("sha256-abc").await.unwrap();
    let times: Vec<&str> = stored
        .spec
        .recent
        .iter()
        .map(|s| s.scanned_at.as_str())
        .collect();
    assert_eq!(times, ["2026-11-24T08:00:00Z", "2026-11-25T08:00:00Z"]);
    let ids: Vec<&str> = stored.spec.findings.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, vec!["A-2", "A-3", "A-4"]);
    assert!(stored.spec.truncated);
}

/// The leader's overdue marks: written on the stored report, kept by the
/// next scan's write, and written once.
#[tokio::test]
async fn overdue_marks_survive_the_next_report_write() {
    let fake = FakeApiServer::start().await;
    let writer = ReportWriter::new(fake.client(), 10);
    let reports = ClusterReports::new(fake.client());
    let finding = |id: &str| reported(id, Severity::Critical, None);
    let mut spec = report_spec(vec![finding("A-1"), finding("A-2")]);
    writer.write(spec.clone()).await.unwrap();
    let marked = [("A-1".to_string(), "openssl".to_string())];
    reports
        .mark_overdue("sha256:abc", &marked, "2026-11-24T09:00:00Z")
        .await
        .unwrap();
    // Marking again keeps the first time and writes nothing.
    let writes = fake.requests().len();
    reports
        .mark_overdue("sha256:abc", &marked, "2026-11-25T09:00:00Z")
        .await
        .unwrap();
    assert!(
        !fake.requests()[writes..]
            .iter()
            .any(|r| r.starts_with("PUT")),
        "{:?}",
        fake.requests()
    );
    // A missing report is nothing to mark.
    reports
        .mark_overdue("sha256:def", &marked, "2026-11-25T09:00:00Z")
        .await
        .unwrap();

    // The next scan's report keeps the mark and firstSeen.
    spec.scanned_at = "2026-11-26T08:00:00Z".into();
    spec.database_revision = "r2".into();
    writer.write(spec).await.unwrap();
    let stored = reports.report("sha256:abc").await.unwrap().unwrap();
    let state: Vec<(&str, Option<&str>, Option<&str>)> = stored
        .findings
        .iter()
        .map(|f| {
            (
                f.id.as_str(),
                f.first_seen.as_deref(),
                f.overdue_alerted_at.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        state,
        [
            (
                "A-1",
                Some("2026-11-23T08:00:00Z"),
                Some("2026-11-24T09:00:00Z")
            ),
            ("A-2", Some("2026-11-23T08:00:00Z"), None),
        ]
    );
    assert_eq!(stored.database_revision, "r2");
}

/// The writer's applies carry the resourceVersion they read: an apply
/// from a read that another write overtook is refused, as the API server
/// refuses it, so the writer reads and merges again instead of dropping
/// the other write's overdue marks or summaries.
#[tokio::test]
async fn an_apply_from_a_stale_read_is_refused() {
    let fake = FakeApiServer::start().await;
    let api: Api<ImageScanReport> = Api::all(fake.client());
    let spec = report_spec(vec![]);
    ReportWriter::new(fake.client(), 10)
        .write(spec.clone())
        .await
        .unwrap();
    let read = api.get("sha256-abc").await.unwrap();
    ReportWriter::new(fake.client(), 10)
        .write(ImageScanReportSpec {
            scanned_at: "2026-11-24T08:00:00Z".into(),
            ..spec
        })
        .await
        .unwrap();
    // An apply carrying the version read before that write is refused.
    let mut stale = read.clone();
    stale.spec.database_revision = "stale".into();
    let params = kube::api::PatchParams::apply("scangate").force();
    let err = api
        .patch("sha256-abc", &params, &kube::api::Patch::Apply(&stale))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 409),
        "{err:?}"
    );
    let stored = api.get("sha256-abc").await.unwrap();
    assert_eq!(stored.spec.recent.len(), 2, "{:?}", stored.spec.recent);
}

#[tokio::test]
async fn one_leader_at_a_time() {
    let fake = FakeApiServer::start().await;
    let config = LeaderConfig::default();
    let a = LeaderElector::new(fake.client(), "scangate", "pod-a", config.clone());
    let b = LeaderElector::new(fake.client(), "scangate", "pod-b", config);
    assert!(a.try_acquire_or_renew().await.unwrap());
    assert!(!b.try_acquire_or_renew().await.unwrap());
    assert!(a.try_acquire_or_renew().await.unwrap());
    let leases = fake.objects("/apis/coordination.k8s.io/v1/namespaces/scangate/leases");
    assert_eq!(leases[0]["spec"]["holderIdentity"], "pod-a");

    // Released on a graceful stop: the other candidate takes it at its
    // next attempt, long before the 30 s lease would run out.
    assert!(!b.release().await.unwrap(), "only the holder releases");
    assert!(a.release().await.unwrap());
    assert!(b.try_acquire_or_renew().await.unwrap());
    assert!(!a.try_acquire_or_renew().await.unwrap());
    let leases = fake.objects("/apis/coordination.k8s.io/v1/namespaces/scangate/leases");
    assert_eq!(leases[0]["spec"]["holderIdentity"], "pod-b");
    assert_eq!(leases[0]["spec"]["leaseTransitions"], 1);
}

#[test]
fn chart_crds_match_generated() {
    let generated = scangate::k8s::crds::crds_yaml().unwrap();
    let chart = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/charts/scangate/crds/scangate-crds.yaml"
    ))
    .unwrap();
    assert_eq!(
        chart, generated,
        "run: scangate crds > charts/scangate/crds/scangate-crds.yaml"
    );
}
