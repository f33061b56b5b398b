//! Small real image contents and a one-record OSV database for scanner tests.
#![allow(dead_code)]

use scangate::scan::{ImageScanner, ScannerConfig};
use scangate::vulndb::{DbHandle, LoadOptions, load_dir};
use std::io::Write as _;

pub const OS_RELEASE: &[u8] = b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n";

/// A dpkg status file listing `(name, version)` packages.
pub fn dpkg_status(packages: &[(&str, &str)]) -> Vec<u8> {
    let mut text = String::new();
    for (name, version) in packages {
        text.push_str(&format!(
            "Package: {name}\nStatus: install ok installed\nPriority: optional\nSection: misc\nInstalled-Size: 10\nMaintainer: Test <t@example.org>\nArchitecture: amd64\nVersion: {version}\nDescription: test package\n\n"
        ));
    }
    text.into_bytes()
}

/// A database with one Debian 12 record: `hello` fixed in 2.10-4.
pub fn test_db() -> (tempfile::TempDir, DbHandle) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("Debian")).expect("Debian dir");
    let file = std::fs::File::create(dir.path().join("Debian/all.zip")).expect("zip");
    let mut zip = zip::ZipWriter::new(file);
    zip.start_file("DSA-TEST-1.json", zip::write::SimpleFileOptions::default())
        .expect("zip entry");
    zip.write_all(br#"{"id":"DSA-TEST-1","modified":"2024-01-01T00:00:00Z","summary":"test","affected":[{"package":{"ecosystem":"Debian:12","name":"hello"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.10-4"}]}]}]}"#).expect("zip write");
    zip.finish().expect("zip finish");
    let db = load_dir(dir.path(), &LoadOptions::default()).expect("load test db");
    let handle = DbHandle::default();
    handle.replace(db);
    (dir, handle)
}

/// A scanner that may reach `insecure` over plain HTTP.
pub fn scanner_for(
    insecure: &str,
    db: DbHandle,
    tweak: impl FnOnce(&mut ScannerConfig),
) -> ImageScanner {
    let mut config = ScannerConfig::default();
    config.registries.insecure_registries = vec![insecure.to_string()];
    config.registry_request_timeout = scangate::model::ConfigDuration::secs(10);
    config.scan_timeout = scangate::model::ConfigDuration::secs(60);
    tweak(&mut config);
    ImageScanner::new(config, db)
}

pub fn names(inventory: &scangate::model::Inventory) -> Vec<String> {
    let mut names: Vec<String> = inventory
        .packages
        .iter()
        .map(|p| format!("{}={}", p.name, p.version))
        .collect();
    names.sort();
    names
}

/// A gzip'd Debian layer with `hello 2.10-3` (affected by DSA-TEST-1 in
/// [`test_db`]), made unique by `name` and padded with `noise` bytes that
/// do not compress, so that each image's layer is its own blob.
pub fn unique_debian_layer(name: &str, noise: usize) -> super::registry::Layer {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15 ^ name.len() as u64;
    for byte in name.bytes() {
        state = state.rotate_left(5) ^ u64::from(byte);
    }
    let padding: Vec<u8> = (0..noise)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    super::registry::Layer::gzip(super::registry::tar_layer(&[
        ("etc/os-release", OS_RELEASE),
        ("var/lib/dpkg/status", &dpkg_status(&[("hello", "2.10-3")])),
        ("srv/name", name.as_bytes()),
        ("srv/noise", &padding),
    ]))
}

/// A database directory with one Debian 12 record per `(id, fixed)`, each
/// affecting `hello` below `fixed`.
pub fn debian_db_dir(records: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("Debian")).expect("Debian dir");
    let file = std::fs::File::create(dir.path().join("Debian/all.zip")).expect("zip");
    let mut zip = zip::ZipWriter::new(file);
    for (id, fixed) in records {
        zip.start_file(
            format!("{id}.json"),
            zip::write::SimpleFileOptions::default(),
        )
        .expect("zip entry");
        let record = serde_json::json!({
            "id": id, "modified": "2024-01-01T00:00:00Z", "summary": "test",
            "affected": [{"package": {"ecosystem": "Debian:12", "name": "hello"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]
        });
        zip.write_all(record.to_string().as_bytes())
            .expect("zip write");
    }
    zip.finish().expect("zip finish");
    dir
}

/// An OSV record of Debian 12: `package` below `fixed` is affected, rated
/// `severity` (`database_specific.severity`, as the distribution labels it).
pub fn debian_record(id: &str, package: &str, fixed: &str, severity: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id, "modified": "2026-01-01T00:00:00Z", "summary": format!("test record {id}"),
        "affected": [{"package": {"ecosystem": "Debian:12", "name": package},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
        "database_specific": {"severity": severity}
    })
}

/// The database that loading `records` (all from the Debian export) gives,
/// under `revision`, updated now.
pub fn debian_database(
    records: &[serde_json::Value],
    revision: &str,
) -> scangate::vulndb::Database {
    let texts: Vec<String> = records.iter().map(|r| r.to_string()).collect();
    let parsed = texts.iter().map(|t| {
        (
            "Debian".to_string(),
            serde_json::from_str(t).expect("OSV record"),
        )
    });
    scangate::vulndb::load::from_records(parsed, revision.to_string(), jiff::Timestamp::now())
}
