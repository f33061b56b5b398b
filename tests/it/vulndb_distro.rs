//! Distributions on real package databases and records: the CBL-Mariner
//! 2.0 and SUSE BCI rpm databases of tests/fixtures looked up as the
//! export names them, Ubuntu Pro on Ubuntu's own record, and the
//! distributions the export does not cover named in "not checked". The
//! records and where they come from: tests/data/distro/SOURCES.md.

use scangate::inventory::detectors::{self, Detected, FileMeta};
use scangate::model::{Finding, Inventory, Location, OsInfo, Package, PackageKind};
use scangate::vulndb::{Database, LoadOptions, load_dir};
use std::io::Write;
use std::path::{Path, PathBuf};

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Zips every `<folder>/<Ecosystem>/*.json` into `<root>/<Ecosystem>/all.zip`
/// and loads the result.
fn load(folders: &[&str]) -> (tempfile::TempDir, Database) {
    let root = tempfile::tempdir().unwrap();
    for folder in folders {
        for ecosystem in std::fs::read_dir(data(folder)).unwrap() {
            let ecosystem = ecosystem.unwrap().path();
            // `constructed/` is loaded on its own (see SOURCES.md).
            if !ecosystem.is_dir() || ecosystem.ends_with("constructed") {
                continue;
            }
            let out = root.path().join(ecosystem.file_name().unwrap());
            std::fs::create_dir_all(&out).unwrap();
            let file = std::fs::File::create(out.join("all.zip")).unwrap();
            let mut zip = zip::ZipWriter::new(file);
            for record in std::fs::read_dir(&ecosystem).unwrap() {
                let record = record.unwrap().path();
                if !record.is_file() {
                    continue;
                }
                let name = record.file_name().unwrap().to_string_lossy().into_owned();
                zip.start_file(name, zip::write::SimpleFileOptions::default())
                    .unwrap();
                zip.write_all(&std::fs::read(&record).unwrap()).unwrap();
            }
            zip.finish().unwrap();
        }
    }
    let db = load_dir(root.path(), &LoadOptions::default()).expect("the records load");
    (root, db)
}

/// The packages the rpm detector reads from a real database.
fn rpm_packages(fixture: &str, path: &str) -> Vec<Package> {
    let bytes = std::fs::read(data("tests/fixtures/rpmdb").join(fixture)).unwrap();
    let meta = FileMeta {
        path,
        size: bytes.len() as u64,
        mode: 0o644,
    };
    let detectors = detectors::system::detectors();
    let detector = detectors.iter().find(|d| d.wants(&meta)).unwrap();
    match detector.detect(&meta, &bytes) {
        Ok(Detected::Packages(packages)) => packages,
        other => panic!("{fixture}: {other:?}"),
    }
}

fn os(family: &str, version: &str, pretty_name: Option<&str>) -> Option<OsInfo> {
    Some(OsInfo {
        family: family.into(),
        version: version.into(),
        pretty_name: pretty_name.map(String::from),
        ..OsInfo::default()
    })
}

fn finding<'a>(findings: &'a [Finding], id: &str, package: &str) -> Option<&'a Finding> {
    findings.iter().find(|f| f.id == id && f.package == package)
}

#[test]
fn cbl_mariner_2_is_checked_as_azure_linux_2_by_source_rpm() {
    let (_root, db) = load(&["tests/data/distro/constructed"]);
    let packages = rpm_packages("cbl-mariner-2.0-rpmdb.sqlite", "var/lib/rpm/rpmdb.sqlite");
    let curl_libs = packages
        .iter()
        .find(|p| p.name == "curl-libs")
        .expect("the Mariner image has curl-libs");
    assert_eq!(curl_libs.source_name.as_deref(), Some("curl"));
    let inventory = Inventory {
        os: os("mariner", "2.0", Some("CBL-Mariner/Linux")),
        packages,
    };
    let found = db.match_inventory(&inventory);
    assert!(found.unchecked.is_empty(), "{:?}", found.unchecked);
    // curl-libs 7.76.0-6.cm2 (a binary) meets the record of its source.
    let f = finding(&found.findings, "CONSTRUCTED-AZL-curl", "curl-libs")
        .expect("curl-libs is looked up as curl");
    assert_eq!(f.ecosystem, "Azure Linux:2");
    assert_eq!(f.installed_version, "7.76.0-6.cm2");
    assert_eq!(f.fixed_version.as_deref(), Some("7.76.0-7.cm2"));

    // Azure Linux 3 is another release: not in these records, so said.
    let azl3 = Inventory {
        os: os("azurelinux", "3.0", None),
        ..inventory
    };
    let found = db.match_inventory(&azl3);
    assert!(found.findings.is_empty());
    assert_eq!(found.unchecked, ["Azure Linux:3"]);
}

#[test]
fn sle_bci_binaries_meet_their_source_rpms_record_at_the_source_version() {
    let (_root, db) = load(&["tests/data/distro/constructed"]);
    let packages = rpm_packages("sle15-bci-Packages.ndb", "var/lib/rpm/Packages.db");
    let readline = packages
        .iter()
        .find(|p| p.name == "libreadline7")
        .expect("the BCI image has libreadline7");
    // The binary's own version is 7.0; the source it comes from is 4.4.
    assert_eq!(readline.version, "7.0-19.6.1");
    assert_eq!(readline.source_name.as_deref(), Some("bash"));
    assert_eq!(readline.source_version.as_deref(), Some("4.4-19.6.1"));
    let inventory = Inventory {
        os: os("sles", "15.3", Some("SUSE Linux Enterprise Server 15 SP3")),
        packages,
    };
    let found = db.match_inventory(&inventory);
    assert!(found.unchecked.is_empty(), "{:?}", found.unchecked);
    for binary in ["bash", "libreadline7"] {
        let f = finding(&found.findings, "CONSTRUCTED-SUSE-bash", binary)
            .unwrap_or_else(|| panic!("{binary} is looked up as bash 4.4-19.6.1"));
        assert_eq!(f.fixed_version.as_deref(), Some("4.4-19.9.1"));
    }
    // Compared by its own version (7.0 > 4.4-19.9.1) libreadline7 would
    // pass; nothing else of the image comes from bash.
    let from_bash = found
        .findings
        .iter()
        .filter(|f| f.id == "CONSTRUCTED-SUSE-bash")
        .count();
    assert_eq!(from_bash, 2);
}

fn deb(name: &str, source: &str, version: &str) -> Package {
    Package {
        name: name.into(),
        version: version.into(),
        kind: PackageKind::Deb,
        purl: format!("pkg:deb/ubuntu/{name}@{version}"),
        source_name: Some(source.into()),
        source_version: None,
        arch: None,
        location: Location {
            layer: None,
            path: "var/lib/dpkg/status".into(),
        },
    }
}

fn ubuntu(version: &str, packages: Vec<Package>) -> Inventory {
    Inventory {
        os: os("ubuntu", version, None),
        packages,
    }
}

#[test]
fn ubuntu_pro_fixes_count_only_on_images_with_pro() {
    let (_root, db) = load(&["tests/data/distro"]);
    let id = "CVE-2024-0727";
    // 18.04 without Pro: vulnerable, and the only fix (+esm4) is not one
    // it can install.
    let plain = db.match_inventory(&ubuntu(
        "18.04",
        vec![deb("libssl1.1", "openssl", "1.1.1-1ubuntu2.1~18.04.23")],
    ));
    // This excerpt has no standard 18.04 entry (the export has many):
    // the standard stream is required, so its absence is said.
    assert_eq!(plain.unchecked, ["Ubuntu:18.04:LTS"]);
    let f = finding(&plain.findings, id, "libssl1.1").expect("18.04 is affected");
    assert_eq!(f.ecosystem, "Ubuntu:Pro:18.04:LTS");
    assert_eq!(f.fixed_version, None);

    // With Pro (an ESM build installed): the fix is its to take …
    let pro = db.match_inventory(&ubuntu(
        "18.04",
        vec![
            deb("libssl1.1", "openssl", "1.1.1-1ubuntu2.1~18.04.23"),
            deb("zlib1g", "zlib", "1:1.2.11.dfsg-0ubuntu2.2+esm1"),
        ],
    ));
    let f = finding(&pro.findings, id, "libssl1.1").expect("still affected");
    assert_eq!(
        f.fixed_version.as_deref(),
        Some("1.1.1-1ubuntu2.1~18.04.23+esm4")
    );
    // … and once taken, the record no longer applies.
    let fixed = db.match_inventory(&ubuntu(
        "18.04",
        vec![deb(
            "libssl1.1",
            "openssl",
            "1.1.1-1ubuntu2.1~18.04.23+esm4",
        )],
    ));
    assert!(finding(&fixed.findings, id, "libssl1.1").is_none());

    // 20.04's fix is a standard one; no Pro stream in the data is no gap.
    let focal = db.match_inventory(&ubuntu(
        "20.04",
        vec![deb("libssl1.1", "openssl", "1.1.1f-1ubuntu2.20")],
    ));
    assert!(focal.unchecked.is_empty(), "{:?}", focal.unchecked);
    let f = finding(&focal.findings, id, "libssl1.1").expect("focal affected");
    assert_eq!(f.ecosystem, "Ubuntu:20.04:LTS");
    assert_eq!(f.fixed_version.as_deref(), Some("1.1.1f-1ubuntu2.21"));

    // An image with Pro whose Pro stream the database lacks is not passed.
    let pro_focal = db.match_inventory(&ubuntu(
        "20.04",
        vec![deb("libssl1.1", "openssl", "1.1.1f-1ubuntu2.20+esm1")],
    ));
    assert_eq!(pro_focal.unchecked, ["Ubuntu:Pro:20.04:LTS"]);
}

#[test]
fn distributions_the_export_lacks_are_named_as_not_covered() {
    let (_root, db) = load(&["tests/data/distro/constructed"]);
    // Real packages of a real rpmdb, under an os-release the export lacks.
    let packages = rpm_packages("cbl-mariner-2.0-rpmdb.sqlite", "var/lib/rpm/rpmdb.sqlite");
    for (id, version, name) in [
        ("amzn", "2", "Amazon Linux 2"),
        ("ol", "9", "Oracle Linux 9"),
        ("centos", "7", "CentOS 7"),
        ("fedora", "40", "Fedora 40"),
        ("photon", "5.0", "Photon OS 5.0"),
        ("bottlerocket", "1.20.0", "Bottlerocket 1.20.0"),
    ] {
        let found = db.match_inventory(&Inventory {
            os: os(id, version, None),
            packages: packages.clone(),
        });
        assert!(found.findings.is_empty());
        assert_eq!(
            found.unchecked,
            [format!(
                "{name}: not covered by the OSV export; see the second source"
            )]
        );
    }
}
