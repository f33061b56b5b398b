//! Loading and matching on real OSV records: the Go, crates.io and
//! AlmaLinux exports in ../shared/osv (see its SOURCES.md), and small
//! constructed databases that probe the loader's tolerance and severity.

use scangate::model::{
    Inventory, Location, OsInfo, Package, PackageKind, Severity, SeveritySource,
};
use scangate::vulndb::{Database, LoadOptions, load_dir};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `../shared/osv` beside the repo (CI), or two levels up for a worktree.
fn shared_osv() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    ["../shared/osv", "../../shared/osv"]
        .iter()
        .map(|p| repo.join(p))
        .find(|p| p.is_dir())
        .expect("the real OSV exports in ../shared/osv")
}

fn real_db() -> &'static Database {
    static DB: OnceLock<Database> = OnceLock::new();
    DB.get_or_init(|| {
        load_dir(&shared_osv(), &LoadOptions::default()).expect("../shared/osv loads")
    })
}

fn package(name: &str, version: &str, kind: PackageKind) -> Package {
    Package {
        name: name.into(),
        version: version.into(),
        kind,
        purl: format!("pkg:generic/{name}@{version}"),
        source_name: None,
        source_version: None,
        arch: None,
        location: Location {
            layer: None,
            path: "app".into(),
        },
    }
}

fn inventory(os: Option<(&str, &str)>, packages: Vec<Package>) -> Inventory {
    Inventory {
        os: os.map(|(family, version)| OsInfo {
            family: family.into(),
            version: version.into(),
            ..OsInfo::default()
        }),
        packages,
    }
}

#[test]
fn the_real_exports_load_without_withdrawn_records() {
    let db = real_db();
    let eco = db.ecosystems();
    // 4,291 Go records of which 17 are withdrawn; 1,206 RustSec of which 13.
    assert_eq!(eco["Go"].records, 4274);
    assert_eq!(eco["crates.io"].records, 1193);
    assert_eq!(eco["AlmaLinux"].records, 5637);
    assert!(eco.values().all(|e| e.skipped == 0));
    let releases: Vec<&str> = eco["AlmaLinux"]
        .releases
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(releases, ["10", "8", "9"]);
    assert_eq!(db.revision().len(), 16);
}

#[test]
fn go_stdlib_findings_carry_the_lowest_fix_and_borrowed_nothing() {
    let db = real_db();
    let found = db.match_inventory(&inventory(
        None,
        vec![package("stdlib", "1.19.8", PackageKind::Golang)],
    ));
    assert!(found.unchecked.is_empty());
    let f = found
        .findings
        .iter()
        .find(|f| f.id == "GO-2023-1878")
        .expect("GO-2023-1878 affects go1.19.8");
    assert_eq!(f.fixed_version.as_deref(), Some("1.19.11"));
    assert_eq!(f.aliases, ["CVE-2023-29406"]);
    assert_eq!(f.ecosystem, "Go");
    // Go records carry no severity and nothing else loaded names the CVE.
    assert_eq!(f.severity, Severity::Unknown);
    assert_eq!(f.severity_source, SeveritySource::None);
    // The fixed version itself is not affected by that record.
    let fixed = db.match_inventory(&inventory(
        None,
        vec![package("stdlib", "1.19.11", PackageKind::Golang)],
    ));
    assert!(fixed.findings.iter().all(|f| f.id != "GO-2023-1878"));
    assert!(fixed.findings.len() < found.findings.len());
}

#[test]
fn rustsec_severity_comes_from_its_cvss_vector() {
    let db = real_db();
    let found = db.match_inventory(&inventory(
        None,
        vec![package("openssl", "0.8.3", PackageKind::Cargo)],
    ));
    let f = found
        .findings
        .iter()
        .find(|f| f.id == "RUSTSEC-2016-0001")
        .expect("openssl 0.8.3 is before the fix 0.9.0");
    assert_eq!(f.fixed_version.as_deref(), Some("0.9.0"));
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.cvss_score, Some(8.1));
    assert_eq!(
        f.severity_source,
        SeveritySource::Cvss {
            version: "3.0".into()
        }
    );
}

#[test]
fn almalinux_matches_by_release_and_reports_unknown_releases() {
    let db = real_db();
    let rpm = |name: &str, version: &str| Package {
        kind: PackageKind::Rpm,
        ..package(name, version, PackageKind::Rpm)
    };
    let found = db.match_inventory(&inventory(
        Some(("almalinux", "8.9")),
        vec![rpm(
            "python3-dnf-plugin-spacewalk",
            "2.8.5-10.module_el8.3.0+2053+3ddf2832",
        )],
    ));
    let ids: Vec<&str> = found.findings.iter().map(|f| f.id.as_str()).collect();
    assert!(ids.contains(&"ALBA-2019:1955"), "{ids:?}");
    assert!(found.findings.iter().all(|f| f.ecosystem == "AlmaLinux:8"));

    let future = db.match_inventory(&inventory(
        Some(("almalinux", "11.0")),
        vec![rpm("bash", "5.2-1.el11")],
    ));
    assert_eq!(future.unchecked, ["AlmaLinux:11"]);
    let debian = db.match_inventory(&inventory(
        Some(("debian", "12.5")),
        vec![package("bash", "5.2.15-2+b2", PackageKind::Deb)],
    ));
    assert_eq!(debian.unchecked, ["Debian:12"], "no Debian data loaded");
}

/// Writes `<root>/<ecosystem>/all.zip` holding `records` (name, JSON text).
fn write_export(root: &Path, ecosystem: &str, records: &[(&str, &str)]) {
    let dir = root.join(ecosystem);
    std::fs::create_dir_all(&dir).unwrap();
    let file = std::fs::File::create(dir.join("all.zip")).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    for (name, json) in records {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(json.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn newer_and_broken_records_do_not_fail_the_load_and_aliases_lend_severity() {
    let dir = tempfile::tempdir().unwrap();
    write_export(
        dir.path(),
        "Debian",
        &[
            (
                "DEBIAN-CVE-2024-0001.json",
                r#"{"schema_version": "9.9.9", "id": "DEBIAN-CVE-2024-0001", "upstream": ["CVE-2024-0001"],
                    "new_field": {"anything": [1, 2]},
                    "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}]},
                                 {"type": "GIT", "repo": "x", "events": [{"introduced": "abc"}]},
                                 {"type": "FUTURE_KIND", "events": [{"introduced": "0"}]}]}]}"#,
            ),
            (
                "DEBIAN-CVE-2024-0002.json",
                r#"{"id": "DEBIAN-CVE-2024-0002",
                    "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
                      "ecosystem_specific": {"urgency": "low"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]}"#,
            ),
            (
                "DSA-0000-1.json",
                r#"{"id": "DSA-0000-1", "withdrawn": "2024-01-01T00:00:00Z",
                    "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]}"#,
            ),
            ("broken.json", r#"{"id": "#),
        ],
    );
    write_export(
        dir.path(),
        "GHSA",
        &[(
            "GHSA-xxxx.json",
            r#"{"id": "GHSA-xxxx", "aliases": ["CVE-2024-0001"],
                "database_specific": {"severity": "CRITICAL"}, "affected": []}"#,
        )],
    );
    let db = load_dir(dir.path(), &LoadOptions::default()).unwrap();
    assert_eq!(db.ecosystems()["Debian"].records, 2, "withdrawn left out");
    assert_eq!(db.ecosystems()["Debian"].skipped, 1, "broken counted");

    let mut openssl = package("libssl3", "3.0.11-1~deb12u2", PackageKind::Deb);
    openssl.source_name = Some("openssl".into());
    let found = db.match_inventory(&inventory(Some(("debian", "12.4")), vec![openssl]));
    let by_id = |id: &str| found.findings.iter().find(|f| f.id == id).unwrap();
    let borrowed = by_id("DEBIAN-CVE-2024-0001");
    assert_eq!(
        borrowed.package, "libssl3",
        "reported under the installed name"
    );
    assert_eq!(borrowed.fixed_version.as_deref(), Some("3.0.13-1~deb12u1"));
    assert_eq!(borrowed.severity, Severity::Critical);
    assert_eq!(
        borrowed.severity_source,
        SeveritySource::Alias {
            id: "GHSA-xxxx".into()
        }
    );
    let urgency = by_id("DEBIAN-CVE-2024-0002");
    assert_eq!(urgency.severity, Severity::Low);
    assert_eq!(urgency.fixed_version, None);
    assert_eq!(
        urgency.severity_source,
        SeveritySource::Distro {
            name: "Debian".into()
        }
    );
    assert_eq!(found.findings.len(), 2);
}

#[test]
fn a_root_without_exports_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_dir(dir.path(), &LoadOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("holds no <Ecosystem>/all.zip"),
        "{err}"
    );
    write_export(dir.path(), "Go", &[]);
    std::fs::write(dir.path().join("Go/all.zip"), b"PK\x03\x04 not really").unwrap();
    let err = load_dir(dir.path(), &LoadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("not a readable zip"), "{err}");
}
