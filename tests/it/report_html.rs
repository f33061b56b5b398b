//! `scangate report --html` opened in a real browser (headless Chromium via
//! playwright-core): the page renders, loads nothing from elsewhere, and
//! its charts show the history's numbers.

use scangate::model::{Finding, Inventory, PackageKind, ScanReport, Severity, SeveritySource};
use scangate::rescan::history::{HistoryStore, Retention};
use scangate::scan::format::ScanDocument;
use std::path::Path;
use std::process::Command;

fn finding(id: &str, severity: Severity) -> Finding {
    Finding {
        id: id.into(),
        aliases: vec![],
        package: "libxml2".into(),
        kind: PackageKind::Deb,
        ecosystem: "Debian:12".into(),
        installed_version: "2.9.14+dfsg-1.3".into(),
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

fn scan(image: &str, day: i64, findings: Vec<Finding>) -> ScanDocument {
    // Recent scans: the store's retention (180 days) keeps them.
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * (10 - day));
    ScanDocument::new(
        &ScanReport {
            image: image.into(),
            digest: format!("sha256:{day:064}"),
            db_revision: "r".into(),
            scanned_at: at.to_string(),
            inventory: Inventory::default(),
            findings,
            unchecked: vec![],
        },
        None,
    )
}

#[test]
fn the_html_report_renders_the_history_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let playwright = root.join(".cache/npm-playwright");
    assert!(
        playwright.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run scripts/deps/report-html.sh"
    );
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history");
    let store = HistoryStore::new(&history, Retention::default());
    let now = jiff::Timestamp::now();
    let image = "registry.example/web/<script>alert(1)</script>:1";
    for doc in [
        scan(image, 0, vec![finding("CVE-1", Severity::Critical)]),
        scan(
            image,
            1,
            vec![
                finding("CVE-1", Severity::Critical),
                finding("CVE-2", Severity::High),
            ],
        ),
        scan(image, 2, vec![finding("CVE-2", Severity::High)]),
        scan(
            "registry.example/api:2",
            1,
            vec![finding("CVE-3", Severity::Medium)],
        ),
    ] {
        store.record(&doc, now).unwrap();
    }
    let html = dir.path().join("report.html");
    let status = Command::new(env!("CARGO_BIN_EXE_scangate"))
        .args(["report", "--history"])
        .arg(&history)
        .arg("--html")
        .arg(&html)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());

    let screenshot = dir.path().join("report.png");
    let output = Command::new("node")
        .arg(root.join("tests/browser/report-page.js"))
        .arg(&html)
        .arg(&screenshot)
        .env("PLAYWRIGHT_DIR", &playwright)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "browser failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5_000,
        "a real screenshot"
    );
    assert_eq!(shown["externalRequests"], serde_json::json!([]));

    // Images sort by repository folder: registry.example/api first.
    let charts = shown["charts"].as_array().unwrap();
    assert_eq!(charts.len(), 2);
    assert_eq!(charts[0]["MEDIUM"], serde_json::json!([1]));
    assert_eq!(charts[1]["CRITICAL"], serde_json::json!([1, 1, 0]));
    assert_eq!(charts[1]["HIGH"], serde_json::json!([0, 1, 1]));
    for size in shown["chartBoxes"].as_array().unwrap() {
        assert!(size[0].as_f64().unwrap() > 100.0 && size[1].as_f64().unwrap() > 20.0);
    }
    // The embedded data is the report itself; the hostile image name stays text.
    assert_eq!(shown["data"]["overall"]["opened"], 3);
    assert_eq!(shown["data"]["overall"]["fixed"], 1);
    let summary = shown["summary"].as_array().unwrap();
    assert_eq!(summary[1][0], image);
    assert_eq!(summary[2][0], "All images");
    assert_eq!(summary[2][1], "3");
}
