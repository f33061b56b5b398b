//! The on-disk snapshot on the real exports in ../shared/osv (see its
//! SOURCES.md): a restart from the snapshot gives the same database and
//! the same findings; a stale or damaged snapshot falls back to the zips.

use scangate::model::{Inventory, Location, OsInfo, Package, PackageKind};
use scangate::vulndb::snapshot::{load_with_snapshot, read_snapshot, snapshot_path};
use scangate::vulndb::{LoadOptions, load_dir};
use std::path::{Path, PathBuf};

/// `../shared/osv` beside the repo (CI), or two levels up for a worktree.
fn shared_osv() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    ["../shared/osv", "../../shared/osv"]
        .iter()
        .map(|p| repo.join(p))
        .find(|p| p.is_dir())
        .expect("the real OSV exports in ../shared/osv")
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

#[test]
fn snapshot_round_trips_the_real_exports() {
    let snapshots = tempfile::tempdir().unwrap();
    let config = LoadOptions::default();
    let from_zips = load_dir(&shared_osv(), &config).unwrap();
    let first = load_with_snapshot(&shared_osv(), &config, snapshots.path()).unwrap();
    let path = snapshot_path(snapshots.path(), from_zips.revision());
    assert!(path.is_file(), "snapshot written at {}", path.display());
    let restored = read_snapshot(&path).unwrap();
    for db in [&first, &restored] {
        assert_eq!(db.revision(), from_zips.revision());
        assert_eq!(db.updated_at(), from_zips.updated_at());
        assert_eq!(db.records(), from_zips.records());
        assert_eq!(db.ecosystems(), from_zips.ecosystems());
    }
    let inventory = Inventory {
        os: Some(OsInfo {
            family: "almalinux".into(),
            version: "9.3".into(),
            ..OsInfo::default()
        }),
        packages: vec![
            package("stdlib", "1.19.8", PackageKind::Golang),
            package("openssl", "0.8.3", PackageKind::Cargo),
            package("openssl", "1:3.0.7-24.el9", PackageKind::Rpm),
        ],
    };
    let expected = from_zips.match_inventory(&inventory);
    assert!(expected.findings.len() > 10, "{expected:?}");
    assert_eq!(restored.match_inventory(&inventory), expected);

    // A damaged snapshot is ignored and rewritten from the zips.
    std::fs::write(&path, b"not a snapshot").unwrap();
    assert!(read_snapshot(&path).is_err());
    let rebuilt = load_with_snapshot(&shared_osv(), &config, snapshots.path()).unwrap();
    assert_eq!(rebuilt.records(), from_zips.records());
    assert!(read_snapshot(&path).is_ok());
}

/// `scangate serve` and `scangate scan` open the database through
/// `vulndb::open` with the configuration's loader settings: the first open
/// writes the snapshot under `<cacheDir>/snapshots` (and drops snapshots of
/// other revisions), the next one loads it instead of the zips.
#[tokio::test]
async fn open_goes_through_the_snapshot() {
    use scangate::vulndb::{DbMetrics, DbSource, open};
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("Go")).unwrap();
    let zip = root.path().join("Go/all.zip");
    std::fs::copy(shared_osv().join("Go/all.zip"), &zip).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let config = scangate::vulndb::DbConfig {
        root: Some(root.path().to_path_buf()),
        cache_dir: cache.path().to_path_buf(),
        ..scangate::vulndb::DbConfig::default()
    };
    let loader = config.loader();
    let snapshots = cache.path().join("snapshots");
    assert_eq!(loader.snapshot_dir.as_deref(), Some(snapshots.as_path()));
    std::fs::create_dir_all(&snapshots).unwrap();
    let old = snapshots.join("osv-0123456789abcdef.snapshot");
    std::fs::write(&old, b"an older revision").unwrap();

    let source = DbSource::parse(&root.path().to_string_lossy(), cache.path());
    let first = open(&source, &loader, &DbMetrics::default()).await.unwrap();
    let path = snapshot_path(&snapshots, first.revision());
    assert!(path.is_file(), "snapshot written at {}", path.display());
    assert!(!old.exists(), "the other revision's snapshot is pruned");

    // The zip's content is unchanged (same revision) but its time moves on:
    // loading the zips would report the new time, the snapshot the old one.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(86_400);
    std::fs::File::options()
        .write(true)
        .open(&zip)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let from_zips = load_dir(root.path(), &LoadOptions::default()).unwrap();
    assert_ne!(from_zips.updated_at(), first.updated_at());
    let second = open(&source, &loader, &DbMetrics::default()).await.unwrap();
    assert_eq!(second.revision(), first.revision());
    assert_eq!(
        second.updated_at(),
        first.updated_at(),
        "loaded from the snapshot"
    );
    assert_eq!(second.records(), first.records());
}
