//! The re-scanner's bookkeeping: what is due, what is new, what is alerted,
//! firstSeen across scans, overdue once. The scanner here is the `Scanner`
//! seam answering from a database the test changes (the registry-backed
//! end-to-end test lives with the cluster tests).

use async_trait::async_trait;
use scangate::model::DatabaseStatus;
use scangate::model::{Finding, Inventory, PackageKind, ScanReport, Severity, SeveritySource};
use scangate::policy::remediation::parse_duration;
use scangate::registry::{Credentials, ImageRef};
use scangate::rescan::history::{HistoryStore, Retention};
use scangate::rescan::rescanner::{RescanConfig, Rescanner};
use scangate::rescan::running::RunningImage;
use scangate::scan::{ScanError, Scanner};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// Findings keyed by database revision, as a database update would change them.
#[derive(Default)]
struct Db {
    revision: String,
    findings: Vec<Finding>,
    scans: usize,
}

struct DbScanner(Arc<Mutex<Db>>);

#[async_trait]
impl Scanner for DbScanner {
    async fn resolve(&self, image: &ImageRef, _: &Credentials) -> Result<String, ScanError> {
        Ok(image.digest().unwrap_or(DIGEST).to_string())
    }
    async fn scan(
        &self,
        image: &ImageRef,
        digest: &str,
        _: &Credentials,
    ) -> Result<ScanReport, ScanError> {
        let mut db = self.0.lock().unwrap();
        db.scans += 1;
        Ok(ScanReport {
            image: image.to_string(),
            digest: digest.into(),
            db_revision: db.revision.clone(),
            scanned_at: jiff::Timestamp::now().to_string(),
            inventory: Inventory::default(),
            findings: db.findings.clone(),
            unchecked: vec![],
        })
    }
    fn database(&self) -> Option<DatabaseStatus> {
        None
    }
}

fn finding(id: &str, severity: Severity) -> Finding {
    Finding {
        id: id.into(),
        aliases: vec![],
        package: "zlib1g".into(),
        kind: PackageKind::Deb,
        ecosystem: "Debian:12".into(),
        installed_version: "1:1.2.13.dfsg-1".into(),
        fixed_version: None,
        severity,
        severity_source: SeveritySource::None,
        cvss_score: None,
        cvss_vector: None,
        summary: None,
        published: None,
        location: None,
    }
}

fn at(hours: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_790_000_000 + hours * 3600).unwrap()
}

#[tokio::test]
async fn a_database_change_rescans_once_and_alerts_only_what_is_new() {
    let db = Arc::new(Mutex::new(Db {
        revision: "r1".into(),
        findings: vec![finding("CVE-OLD", Severity::Critical)],
        scans: 0,
    }));
    let history_dir = tempfile::tempdir().unwrap();
    let rescanner = Rescanner::new(
        Arc::new(DbScanner(db.clone())),
        RescanConfig::default(),
        Some(HistoryStore::new(history_dir.path(), Retention::default())),
        None,
    )
    .unwrap();
    let image = RunningImage {
        image: format!("registry.example/shop/cart@{DIGEST}"),
        digest: DIGEST.into(),
        workloads: BTreeSet::new(),
        example_pod: ("shop".into(), "cart-1".into()),
    };
    let running = BTreeMap::from([(DIGEST.to_string(), image.clone())]);
    let creds = Credentials::anonymous();

    // Newly seen: due at once; the first scan is the baseline, not news.
    assert_eq!(rescanner.due(&running, "r1", at(0)), [DIGEST]);
    let first = rescanner.rescan(&image, &creds, at(0)).await.unwrap();
    assert!(first.alerted.is_empty());
    assert!(rescanner.due(&running, "r1", at(1)).is_empty());

    // The database changes: a new record affects the running image.
    {
        let mut db = db.lock().unwrap();
        db.revision = "r2".into();
        db.findings.push(finding("CVE-NEW", Severity::High));
        db.findings.push(finding("CVE-LOW", Severity::Low));
    }
    assert_eq!(rescanner.due(&running, "r2", at(2)), [DIGEST]);
    let second = rescanner.rescan(&image, &creds, at(2)).await.unwrap();
    let alerted: Vec<&str> = second.alerted.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(alerted, ["CVE-NEW"], "only new findings at or above HIGH");
    assert_eq!(second.new.len(), 2);
    assert!(
        rescanner.due(&running, "r2", at(3)).is_empty(),
        "scanned once per revision"
    );
    assert_eq!(db.lock().unwrap().scans, 2);

    // firstSeen survives re-scans.
    let old = finding("CVE-OLD", Severity::Critical);
    let new = finding("CVE-NEW", Severity::High);
    assert_eq!(rescanner.first_seen(DIGEST, &old), Some(at(0)));
    assert_eq!(rescanner.first_seen(DIGEST, &new), Some(at(2)));

    // The interval brings it back even without a database change.
    assert_eq!(rescanner.due(&running, "r2", at(2 + 24)), [DIGEST]);

    // Overdue findings are handed out once.
    let windows = BTreeMap::from([(Severity::Critical, parse_duration("24h").unwrap())]);
    assert!(rescanner.take_overdue(DIGEST, &windows, at(24)).is_empty());
    let overdue = rescanner.take_overdue(DIGEST, &windows, at(25));
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0].id, "CVE-OLD");
    assert!(rescanner.take_overdue(DIGEST, &windows, at(26)).is_empty());

    // Both scans are in the history.
    let history = HistoryStore::new(history_dir.path(), Retention::default());
    assert_eq!(history.load_all().unwrap().len(), 2);
}

mod controller {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use scangate::policy::{
        ClusterScanPolicy, ClusterScanPolicySpec, ScanException, ScanExceptionSpec,
    };
    use scangate::ports::{
        AdmissionEvent, AdmissionEventReason, EventSink, PodPullSecrets, PolicySet, PolicyStore,
        PullCredentials,
    };
    use scangate::ports::{Leadership, PodSnapshot};
    use scangate::rescan::controller::{ControllerPorts, RescanController};
    use scangate::rescan::metrics::RescanMetrics;
    use std::sync::atomic::{AtomicBool, Ordering};

    struct Pods(Vec<Arc<Pod>>);
    impl PodSnapshot for Pods {
        fn pods(&self) -> Vec<Arc<Pod>> {
            self.0.clone()
        }
    }
    struct Leader(AtomicBool);
    impl Leadership for Leader {
        fn is_leader(&self) -> bool {
            self.0.load(Ordering::SeqCst)
        }
    }
    struct Anonymous;
    #[async_trait]
    impl PullCredentials for Anonymous {
        async fn for_pod(&self, _: &str, _: &PodPullSecrets) -> Credentials {
            Credentials::anonymous()
        }
    }
    #[derive(Default)]
    struct Events(Mutex<Vec<AdmissionEvent>>);
    impl EventSink for Events {
        fn emit(&self, event: AdmissionEvent) {
            self.0.lock().unwrap().push(event);
        }
    }

    fn running_pod() -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "cart-7c9d-abcde", "namespace": "shop",
                    "labels": {"pod-template-hash": "7c9d"},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                        "name": "cart-7c9d", "uid": "u1", "controller": true}]},
                "spec": {"containers": [{"name": "app", "image": "registry.example/shop/cart:1.0"}]},
                "status": {"phase": "Running", "containerStatuses": [{"name": "app",
                    "image": "registry.example/shop/cart:1.0", "ready": true, "restartCount": 0,
                    "imageID": format!("registry.example/shop/cart@{DIGEST}")}]}
            }))
            .unwrap(),
        )
    }

    /// A scanner whose database status follows the test's database.
    struct Tracking(Arc<Mutex<Db>>);
    #[async_trait]
    impl Scanner for Tracking {
        async fn resolve(&self, i: &ImageRef, c: &Credentials) -> Result<String, ScanError> {
            DbScanner(self.0.clone()).resolve(i, c).await
        }
        async fn scan(
            &self,
            i: &ImageRef,
            d: &str,
            c: &Credentials,
        ) -> Result<ScanReport, ScanError> {
            DbScanner(self.0.clone()).scan(i, d, c).await
        }
        fn database(&self) -> Option<DatabaseStatus> {
            Some(DatabaseStatus {
                revision: self.0.lock().unwrap().revision.clone(),
                updated_at: jiff::Timestamp::UNIX_EPOCH,
            })
        }
    }

    #[tokio::test]
    async fn the_leader_rescans_alerts_on_the_workload_and_counts_overdue_once() {
        let db = Arc::new(Mutex::new(Db {
            revision: "r1".into(),
            findings: vec![finding("CVE-OLD", Severity::Critical)],
            scans: 0,
        }));
        let scanner: Arc<dyn Scanner> = Arc::new(Tracking(db.clone()));
        let rescanner =
            Arc::new(Rescanner::new(scanner.clone(), RescanConfig::default(), None, None).unwrap());
        let leader = Arc::new(Leader(AtomicBool::new(false)));
        let events = Arc::new(Events::default());
        let policy = ClusterScanPolicy::new(
            "default",
            ClusterScanPolicySpec {
                remediation: BTreeMap::from([(Severity::Critical, "24h".to_string())]),
                ..ClusterScanPolicySpec::default()
            },
        );
        let mut registry = prometheus_client::registry::Registry::default();
        let policies =
            PolicyStore::new(PolicySet::compile(std::slice::from_ref(&policy), &[]).unwrap());
        let controller = RescanController::new(
            rescanner,
            scanner,
            ControllerPorts {
                pods: Arc::new(Pods(vec![running_pod()])),
                leadership: leader.clone(),
                credentials: Arc::new(Anonymous),
                policies: policies.clone(),
                events: events.clone(),
            },
            RescanMetrics::register(&mut registry),
        );

        let idle = controller.tick(at(0)).await;
        assert!(!idle.leader && idle.rescanned == 0, "followers do not scan");
        assert_eq!(db.lock().unwrap().scans, 0);

        leader.0.store(true, Ordering::SeqCst);
        let first = controller.tick(at(0)).await;
        assert_eq!(
            (first.running, first.rescanned, first.new_findings),
            (1, 1, 0)
        );
        assert_eq!(controller.tick(at(1)).await.rescanned, 0, "nothing due");

        {
            let mut db = db.lock().unwrap();
            db.revision = "r2".into();
            db.findings.push(finding("CVE-NEW", Severity::High));
        }
        let second = controller.tick(at(2)).await;
        assert_eq!((second.rescanned, second.new_findings), (1, 1));
        let emitted = events.0.lock().unwrap().clone();
        assert_eq!(emitted.len(), 1);
        assert_eq!(emitted[0].reason, AdmissionEventReason::NewVulnerabilities);
        assert_eq!(
            (
                emitted[0].namespace.as_str(),
                emitted[0].kind.as_str(),
                emitted[0].name.as_str()
            ),
            ("shop", "Deployment", "cart")
        );
        assert!(emitted[0].message.contains("CVE-NEW") && !emitted[0].message.contains("CVE-OLD"));

        // CVE-OLD (CRITICAL, first seen at hour 0) is overdue after 24 h, once.
        assert_eq!(controller.tick(at(25)).await.overdue, 1);
        assert_eq!(controller.tick(at(26)).await.overdue, 0);

        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains(
            r#"scangate_running_findings{severity="CRITICAL",state="overdue",namespace="shop",workload="Deployment/cart"} 1"#
        ), "{text}");
        // Hours 0 and 2 (new revision), and 26: the 24 h interval since hour 2.
        assert!(
            text.contains(r#"scangate_rescans_total{result="ok"} 3"#),
            "{text}"
        );
        assert!(text.contains("scangate_running_digests 1"));

        // An exception in force in the workload's namespace moves CVE-NEW
        // to `excepted`; an expired one leaves CVE-OLD overdue.
        let exception = |name: &str, vulnerability: &str, expires: &str| {
            let mut e = ScanException::new(
                name,
                ScanExceptionSpec {
                    vulnerabilities: vec![vulnerability.into()],
                    images: vec!["*".into()],
                    namespaces: vec![],
                    reason: "accepted".into(),
                    reviewed_by: Some("sec".into()),
                    expires: expires.into(),
                },
            );
            e.metadata.namespace = Some("shop".into());
            e
        };
        policies.replace(
            PolicySet::compile(
                &[policy],
                &[
                    exception("new-accepted", "CVE-NEW", "2030-01-01"),
                    exception("old-lapsed", "CVE-OLD", "2026-01-01"),
                ],
            )
            .unwrap(),
        );
        controller.tick(at(27)).await;
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let gauge = |severity: &str, state: &str| {
            format!(
                r#"scangate_running_findings{{severity="{severity}",state="{state}",namespace="shop",workload="Deployment/cart"}} 1"#
            )
        };
        assert!(text.contains(&gauge("HIGH", "excepted")), "{text}");
        assert!(text.contains(&gauge("CRITICAL", "overdue")), "{text}");
        assert!(!text.contains(r#"severity="HIGH",state="open""#), "{text}");
    }
}
