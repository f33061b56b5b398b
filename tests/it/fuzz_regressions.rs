//! What fuzzing (fuzz/, issue 7) found, kept: every input a fuzz target
//! crashed, hung or over-allocated on is a file in `tests/data/fuzz/<target>/`
//! and runs here through the same code as its target, so a fix cannot
//! silently regress. The seed corpora are checked too: the cut-down rpm
//! databases `fuzz/seed_corpora.py` wrote must still read as real ones.

use scangate::admission::images::extract;
use scangate::admission::review;
use scangate::inventory::detectors::system::rpm::{RpmDetector, bdb, header, ndb, sqlite};
use scangate::inventory::detectors::{Detected, Detector, FileMeta, all};
use scangate::inventory::{LayerLimits, analyze_layer};
use scangate::model::{Inventory, Location, Package, PackageKind};
use scangate::registry::ImageRef;
use scangate::version::{VersionScheme, compare};
use scangate::vulndb::load::from_records;
use scangate::vulndb::osv::Record;
use scangate::vulndb::ranges::{CompactRange, EventKind, VersionList, check};
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every saved input of `target` (file name, bytes).
fn saved(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

const SCHEMES: [VersionScheme; 11] = [
    VersionScheme::Dpkg,
    VersionScheme::Rpm,
    VersionScheme::Apk,
    VersionScheme::Pep440,
    VersionScheme::Npm,
    VersionScheme::Go,
    VersionScheme::Cargo,
    VersionScheme::Maven,
    VersionScheme::RubyGems,
    VersionScheme::NuGet,
    VersionScheme::Packagist,
];

fn meta(path: &'static str, data: &[u8], mode: u32) -> FileMeta<'static> {
    FileMeta {
        path,
        size: data.len() as u64,
        mode,
    }
}

/// The single-detector targets: target, detector, path, mode.
const DETECTOR_TARGETS: [(&str, &str, &str, u32); 10] = [
    ("dpkg_status", "dpkg", "var/lib/dpkg/status", 0o644),
    ("apk_installed", "apk", "lib/apk/db/installed", 0o644),
    (
        "python_metadata",
        "python",
        "usr/lib/python3/site-packages/x-1.0.dist-info/METADATA",
        0o644,
    ),
    (
        "npm_package",
        "npm",
        "app/node_modules/x/package.json",
        0o644,
    ),
    ("go_buildinfo", "go-binary", "usr/local/bin/app", 0o755),
    ("java_archive", "java", "app/lib/app.jar", 0o644),
    (
        "cargo_auditable",
        "rust-auditable",
        "usr/local/bin/app",
        0o755,
    ),
    (
        "gemspec",
        "ruby",
        "usr/local/bundle/specifications/x-1.0.gemspec",
        0o644,
    ),
    (
        "composer",
        "composer",
        "app/vendor/composer/installed.json",
        0o644,
    ),
    ("dotnet_deps", "dotnet", "app/App.deps.json", 0o644),
];

/// Runs `data` through what fuzz target `target` runs (its properties
/// included); panics are the failure.
fn run_target(target: &str, data: &[u8]) {
    match target {
        "admission_review" => {
            if let Ok(request) = review::parse(data) {
                let _ = extract(&request, true);
                let _ = extract(&request, false);
            }
        }
        "image_reference" => {
            let text = String::from_utf8_lossy(data);
            if let Ok(reference) = ImageRef::parse(&text) {
                let again = ImageRef::parse(&reference.to_string()).unwrap();
                assert_eq!(again, reference);
            }
        }
        "rpm_header" => {
            if let Ok(h) = header::parse(data) {
                let _ = (h.evr(), h.source());
            }
        }
        "rpm_sqlite" | "rpm_bdb" | "rpm_ndb" => {
            let blobs: Option<Vec<Vec<u8>>> = match target {
                "rpm_sqlite" => sqlite::blobs(data).ok(),
                "rpm_bdb" => bdb::blobs(data).ok(),
                _ => ndb::blobs(data)
                    .ok()
                    .map(|b| b.into_iter().map(<[u8]>::to_vec).collect()),
            };
            for blob in blobs.iter().flatten() {
                let _ = header::parse(blob);
            }
            let _ = RpmDetector.detect(&meta("var/lib/rpm/Packages", data, 0o644), data);
        }
        "detectors" => {
            for (path, mode) in [
                ("var/lib/dpkg/status", 0o644),
                ("lib/apk/db/installed", 0o644),
                ("var/lib/rpm/Packages", 0o644),
                ("usr/local/bin/app", 0o755),
            ] {
                for detector in all() {
                    if detector.wants(&meta(path, data, mode)) {
                        let _ = detector.detect(&meta(path, data, mode), data);
                    }
                }
            }
        }
        "osv_record" => {
            let Some((&n, rest)) = data.split_first() else {
                return;
            };
            let cut = usize::from(n).min(rest.len());
            let version = String::from_utf8_lossy(&rest[..cut]).into_owned();
            let Ok(record) = serde_json::from_slice::<Record>(&rest[cut..]) else {
                return;
            };
            let packages: Vec<Package> = record
                .affected
                .iter()
                .filter_map(|a| a.package.as_ref())
                .map(|p| Package {
                    name: p.name.to_string(),
                    version: version.clone(),
                    kind: PackageKind::Golang,
                    purl: String::new(),
                    source_name: None,
                    source_version: None,
                    arch: None,
                    location: Location::default(),
                })
                .collect();
            let db = from_records(
                vec![("Go".to_string(), record)],
                "fuzz".into(),
                jiff::Timestamp::UNIX_EPOCH,
            );
            let _ = db.match_inventory(&Inventory { os: None, packages });
        }
        "layer_walker" => {
            let limits = LayerLimits {
                max_uncompressed_bytes: 4 << 20,
                max_entries: 10_000,
                max_file_bytes: 1 << 20,
                ..LayerLimits::default()
            };
            let _ = analyze_layer(data, "sha256:fuzz", &all(), &limits);
        }
        "version_order" => {
            let Some((&selector, rest)) = data.split_first() else {
                return;
            };
            let scheme = SCHEMES[usize::from(selector) % SCHEMES.len()];
            let text = String::from_utf8_lossy(rest);
            let parts: Vec<&str> = text.splitn(3, '\n').collect();
            for a in &parts {
                for b in &parts {
                    if let (Ok(ab), Ok(ba)) = (compare(scheme, a, b), compare(scheme, b, a)) {
                        assert_eq!(ab, ba.reverse(), "{scheme:?} {a:?} {b:?}");
                    }
                }
            }
        }
        "osv_ranges" => {
            // As fuzz/fuzz_targets/osv_ranges.rs: `-` starts a new range,
            // `v V` lists an affected version.
            let Some((&selector, rest)) = data.split_first() else {
                return;
            };
            let scheme = SCHEMES[usize::from(selector) % SCHEMES.len()];
            let text = String::from_utf8_lossy(rest);
            let mut lines = text.lines();
            let installed = lines.next().unwrap_or_default();
            let mut written = vec![CompactRange::new(vec![])];
            let mut versions: Vec<&str> = vec![];
            for line in lines {
                let (tag, v) = line.split_once(' ').unwrap_or((line, ""));
                let kind = match tag {
                    "i" => EventKind::Introduced,
                    "f" => EventKind::Fixed,
                    "l" => EventKind::LastAffected,
                    "m" => EventKind::Limit,
                    "v" => {
                        versions.push(v);
                        continue;
                    }
                    "-" => {
                        written.push(CompactRange::new(vec![]));
                        continue;
                    }
                    _ => continue,
                };
                if let Some(range) = written.last_mut() {
                    range.push(kind, v);
                }
            }
            let versions = VersionList::from_versions(versions);
            let verdict = check(scheme, &written, &versions, installed);
            let mut normalized = written.to_vec();
            for range in &mut normalized {
                range.normalize(scheme);
            }
            assert_eq!(
                verdict,
                check(scheme, &normalized, &versions, installed),
                "{scheme:?}: normalized ranges disagree at {installed:?}"
            );
            if let Some(fixed) = &verdict.fixed {
                assert!(verdict.affected, "a fix for an unaffected version");
                assert_eq!(
                    compare(scheme, installed, fixed).ok(),
                    Some(std::cmp::Ordering::Less),
                    "{scheme:?}: fix {fixed:?} is not above {installed:?}"
                );
            }
        }
        other => {
            let (_, detector, path, mode) = DETECTOR_TARGETS
                .iter()
                .find(|(name, ..)| *name == other)
                .unwrap_or_else(|| panic!("no fuzz target {other}"));
            let detector = all().into_iter().find(|d| d.name() == *detector).unwrap();
            if let Ok(Detected::Packages(packages)) =
                detector.detect(&meta(path, data, *mode), data)
            {
                for p in packages {
                    assert!(!p.name.is_empty() && !p.version.is_empty(), "{p:?}");
                }
            }
        }
    }
}

#[test]
fn every_saved_fuzz_finding_runs_without_panicking() {
    let dir = root().join("tests/data/fuzz");
    let mut count = 0;
    for target in std::fs::read_dir(&dir).unwrap() {
        let target = target.unwrap().path();
        if !target.is_dir() {
            continue;
        }
        let name = target.file_name().unwrap().to_string_lossy().into_owned();
        for (file, data) in saved(&target) {
            let started = std::time::Instant::now();
            run_target(&name, &data);
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "{name}/{file} took {:?}",
                started.elapsed()
            );
            count += 1;
        }
    }
    assert!(count > 0, "no saved inputs in {}", dir.display());
}

/// Found by review while writing the rpm_ndb target: slots naming the same
/// blob made a small file yield one header per slot, so the detector copied
/// and parsed (slots × blob size) bytes.
#[test]
fn ndb_slots_sharing_a_blob_are_refused() {
    let data =
        std::fs::read(root().join("tests/data/fuzz/rpm_ndb/two-slots-one-blob.ndb")).unwrap();
    let err = ndb::blobs(&data).unwrap_err().to_string();
    assert!(err.contains("overlap"), "{err}");
}

/// Found by review while writing the rpm_bdb target: items whose off-page
/// values share an overflow chain made the chain be copied once per item.
#[test]
fn bdb_items_sharing_an_overflow_chain_are_refused() {
    let data =
        std::fs::read(root().join("tests/data/fuzz/rpm_bdb/two-items-one-overflow-chain.bdb"))
            .unwrap();
    let err = bdb::blobs(&data).unwrap_err().to_string();
    assert!(err.contains("read twice"), "{err}");
}

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    saved(&root().join("fuzz/corpus").join(target))
        .into_iter()
        .filter(|(name, _)| name.starts_with("seed-"))
        .collect()
}

fn package_count(path: &'static str, data: &[u8]) -> usize {
    match RpmDetector.detect(&meta(path, data, 0o644), data) {
        Ok(Detected::Packages(p)) => p.len(),
        other => panic!("{path}: {other:?}"),
    }
}

/// The rpm databases the seed script cut down from the real fixtures are
/// still databases of their format, holding the packages kept.
#[test]
fn the_rpm_seed_databases_read_as_real_ones() {
    let counts = |target, path| -> Vec<(String, usize)> {
        seeds(target)
            .iter()
            .map(|(name, data)| (name.clone(), package_count(path, data)))
            .collect()
    };
    let sqlite = counts("rpm_sqlite", "var/lib/rpm/rpmdb.sqlite");
    assert_eq!(
        sqlite,
        [
            ("seed-mariner-1-package.sqlite".to_string(), 1),
            ("seed-mariner-3-packages.sqlite".to_string(), 3)
        ]
    );
    let ndb = counts("rpm_ndb", "usr/lib/sysimage/rpm/Packages.db");
    assert_eq!(
        ndb,
        [
            ("seed-sle15-1-package.ndb".to_string(), 1),
            ("seed-sle15-2-packages.ndb".to_string(), 2)
        ]
    );
    let bdb = counts("rpm_bdb", "var/lib/rpm/Packages");
    assert_eq!(bdb.len(), 3);
    assert!(
        bdb.iter()
            .any(|(name, n)| name.contains("65536") && *n == 2)
    );
    assert!(bdb.iter().any(|(name, n)| name.contains("512") && *n == 2));
    for (name, blob) in seeds("rpm_header") {
        header::parse(&blob).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// Each single-detector target's seeds are files its detector reads
/// packages from: the fuzzer starts from inputs that reach the parsing.
#[test]
fn every_detector_seed_holds_packages() {
    for (target, detector, path, mode) in DETECTOR_TARGETS {
        let detector = all().into_iter().find(|d| d.name() == detector).unwrap();
        let seeds = seeds(target);
        assert!(!seeds.is_empty(), "{target} has no seeds");
        for (name, data) in seeds {
            match detector.detect(&meta(path, &data, mode), &data) {
                Ok(Detected::Packages(p)) => assert!(!p.is_empty()),
                other => panic!("{target}/{name}: {other:?}"),
            }
        }
    }
}

/// Found by the version_order property: Maven's ordering (like Maven's
/// own) is not transitive on odd strings, and range evaluation sorted
/// events with it, which panics ("does not correctly implement a total
/// order") once a range has more than 20 events. Evaluation no longer sorts.
#[test]
fn maven_range_events_that_are_not_totally_ordered_do_not_panic() {
    let data =
        std::fs::read(root().join("tests/data/fuzz/osv_ranges/maven-events-not-totally-ordered"))
            .unwrap();
    run_target("osv_ranges", &data);
}

/// Found by the image_reference fuzz target: `deWv/dete.2dev/de` parsed
/// as a Docker Hub repository and printed as `docker.io/deWv/...:latest`,
/// which does not parse; the container runtime takes a capitalised first
/// component for a registry host. Such references are refused; every
/// accepted one prints back to itself.
#[test]
fn references_whose_normal_form_names_another_image_are_refused() {
    for bad in ["deWv/dete.2dev/de", "OOea/em", "zAaee0/d:z"] {
        let err = ImageRef::parse(bad).unwrap_err().to_string();
        assert!(err.contains("ambiguous"), "{bad}: {err}");
    }
    for good in [
        "nginx",
        "library/nginx:1.25",
        "localhost/app",
        "localhost:5000/team/app:v1",
        "ghcr.io/org/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "registry.example.com/a/b/c:1",
    ] {
        let parsed = ImageRef::parse(good).unwrap();
        assert_eq!(ImageRef::parse(&parsed.to_string()).unwrap(), parsed);
    }
}
