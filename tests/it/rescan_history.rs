//! The history store and the remediation timeline built from it.

use scangate::model::{
    Finding, Inventory, Location, PackageKind, ScanReport, Severity, SeveritySource,
};
use scangate::policy::remediation::parse_duration;
use scangate::rescan::baseline::load;
use scangate::rescan::history::{HistoryStore, Retention};
use scangate::rescan::timeline::build_report;
use scangate::scan::format::ScanDocument;
use std::collections::BTreeMap;

const DAY: i64 = 86_400;
const T0: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn at(days: f64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(T0 + (days * DAY as f64) as i64).unwrap()
}

fn finding(id: &str, severity: Severity) -> Finding {
    Finding {
        id: id.into(),
        aliases: vec![],
        package: "openssl".into(),
        kind: PackageKind::Deb,
        ecosystem: "Debian:12".into(),
        installed_version: "3.0.11-1~deb12u1".into(),
        fixed_version: Some("3.0.13-1~deb12u1".into()),
        severity,
        severity_source: SeveritySource::None,
        cvss_score: None,
        cvss_vector: None,
        summary: None,
        published: None,
        location: Some(Location {
            layer: None,
            path: "var/lib/dpkg/status".into(),
        }),
    }
}

fn doc(image: &str, digest: &str, days: f64, findings: Vec<Finding>) -> ScanDocument {
    ScanDocument::new(
        &ScanReport {
            image: image.into(),
            digest: digest.into(),
            db_revision: "rev".into(),
            scanned_at: at(days).to_string(),
            inventory: Inventory::default(),
            findings,
            unchecked: vec![],
        },
        None,
    )
}

#[test]
fn history_round_trips_and_the_timeline_tracks_remediation() {
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::new(dir.path(), Retention::default());
    let image = "registry.example/shop/cart:1.0";
    let scans = [
        doc(
            image,
            "sha256:aaaa",
            0.0,
            vec![finding("CVE-A", Severity::High)],
        ),
        doc(
            image,
            "sha256:aaaa",
            1.0,
            vec![
                finding("CVE-A", Severity::High),
                finding("CVE-B", Severity::Critical),
            ],
        ),
        doc(
            image,
            "sha256:bbbb",
            2.5,
            vec![finding("CVE-B", Severity::Critical)],
        ),
    ];
    for scan in &scans {
        store.record(scan, at(3.0)).unwrap();
    }
    let loaded = store.load_all().unwrap();
    assert_eq!(loaded, scans);

    let windows = BTreeMap::from([
        (Severity::Critical, parse_duration("24h").unwrap()),
        (Severity::High, parse_duration("7d").unwrap()),
    ]);
    let report = build_report(&loaded, &windows, at(3.0));
    assert_eq!(report.images.len(), 1);
    let timeline = &report.images[0];
    assert_eq!(timeline.scans, 3);
    let opened: Vec<usize> = timeline.points.iter().map(|p| p.opened).collect();
    let fixed: Vec<usize> = timeline.points.iter().map(|p| p.fixed).collect();
    assert_eq!(opened, [1, 1, 0]);
    assert_eq!(fixed, [0, 0, 1]);
    // CVE-B (CRITICAL, 24h) was first seen on day 1: past its deadline (day 2) at the day-2.5 scan.
    assert_eq!(timeline.points[2].overdue, 1);
    let a = timeline.findings.iter().find(|f| f.id == "CVE-A").unwrap();
    assert_eq!(a.fixed_at.as_deref(), Some(at(2.5).to_string().as_str()));
    assert!(!a.overdue, "fixed after 2.5 days, within the 7-day window");
    let b = timeline.findings.iter().find(|f| f.id == "CVE-B").unwrap();
    assert!(b.overdue && b.fixed_at.is_none());
    assert_eq!(report.overall.opened, 2);
    assert_eq!(report.overall.fixed, 1);
    assert_eq!(report.overall.open, 1);
    assert_eq!(report.overall.overdue, 1);
    assert_eq!(report.overall.mean_hours_to_remediate, Some(60.0));
}

#[test]
fn retention_prunes_by_count_and_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::new(
        dir.path(),
        Retention {
            max_age: scangate::model::ConfigDuration::secs(10 * 86_400),
            max_scans_per_image: 3,
        },
    );
    for day in 0..6 {
        store
            .record(&doc("app:1", "sha256:cc", f64::from(day), vec![]), at(6.0))
            .unwrap();
    }
    let kept: Vec<String> = store
        .load_all()
        .unwrap()
        .into_iter()
        .map(|d| d.scanned_at)
        .collect();
    assert_eq!(kept, [at(3.0), at(4.0), at(5.0)].map(|t| t.to_string()));

    // Twenty days later only what is younger than ten days survives.
    store
        .record(&doc("app:1", "sha256:cc", 20.0, vec![]), at(20.0))
        .unwrap();
    assert_eq!(store.load_all().unwrap().len(), 1);
}

#[test]
fn foreign_and_temporary_files_in_the_store_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::new(dir.path(), Retention::default());
    store
        .record(&doc("app:1", "sha256:dd", 0.0, vec![]), at(0.0))
        .unwrap();
    let folder = dir.path().join("app");
    std::fs::write(folder.join(".123-abc.json.tmp"), b"{half").unwrap();
    std::fs::write(folder.join("README"), b"notes").unwrap();
    assert_eq!(store.load_all().unwrap().len(), 1);
}

/// A new leader's baseline from history alone: the latest document of the
/// digest (not another digest of the repository), each finding first seen
/// where its unbroken run of documents starts.
#[tokio::test]
async fn a_baseline_from_history_dates_findings_from_their_unbroken_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::new(dir.path(), Retention::default());
    let image = "registry.example/shop/cart:1.0";
    let (digest, other) = ("sha256:aaaa1111", "sha256:bbbb2222");
    let (a, b) = (
        finding("CVE-A", Severity::High),
        finding("CVE-B", Severity::Low),
    );
    for scan in [
        doc(image, digest, 0.0, vec![b.clone()]),
        doc(image, digest, 1.0, vec![a.clone()]),
        doc(image, digest, 2.0, vec![a.clone(), b.clone()]),
        doc(image, other, 2.5, vec![finding("CVE-C", Severity::High)]),
        doc(image, digest, 3.0, vec![a.clone(), b.clone()]),
    ] {
        store.record(&scan, at(3.0)).unwrap();
    }
    let baseline = load(Some(&store), None, vec![image.into()], digest)
        .await
        .unwrap()
        .expect("the digest has history");
    let seen: BTreeMap<String, jiff::Timestamp> = baseline
        .previous(&[], at(4.0))
        .into_iter()
        .map(|(f, seen)| (f.id.to_string(), seen))
        .collect();
    assert_eq!(
        seen,
        BTreeMap::from([
            ("CVE-A".to_string(), at(1.0)),
            ("CVE-B".to_string(), at(2.0))
        ])
    );

    // Nothing persisted of a digest: its first scan is a silent baseline.
    let none = load(Some(&store), None, vec![image.into()], "sha256:cccc3333").await;
    assert_eq!(none, Ok(None));
}
