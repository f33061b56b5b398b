//! The bbolt reader and the Trivy database layer on files written by the
//! real Go bbolt library (tests/tools/trivydb-writer, built by
//! scripts/deps/trivydb.sh): Trivy's own fixture databases and shapes of
//! our own (thousands of keys, overflow values, inline, deep and empty
//! buckets, freed pages). The same tool dumps every key and value and
//! bbolt's page statistics, the oracle the Rust reader must match; then
//! corrupted copies must be refused with an error, never a panic.

use scangate::vulndb::trivy::bbolt::{BboltError, Bucket, Db, Stats, Tree, Value};
use scangate::vulndb::trivy::{TrivyDb, TrivyError, TrivySeverity, TrivyStatus};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn writer() -> PathBuf {
    let bin = repo().join(".cache/tools/bin/trivydb-writer");
    assert!(
        bin.is_file(),
        "{} missing: run scripts/deps/trivydb.sh",
        bin.display()
    );
    bin
}

fn run_writer(args: &[&str]) -> Vec<u8> {
    let out = Command::new(writer())
        .args(args)
        .output()
        .expect("trivydb-writer runs");
    assert!(
        out.status.success(),
        "trivydb-writer {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

const FIXTURES: [&str; 8] = [
    "alpine",
    "amazon",
    "data-source",
    "debian",
    "python",
    "redhat",
    "ubuntu",
    "vulnerability",
];

fn fixture_paths() -> Vec<String> {
    FIXTURES
        .iter()
        .map(|f| {
            repo()
                .join(format!("tests/data/trivydb/{f}.yaml"))
                .display()
                .to_string()
        })
        .collect()
}

fn write_fixtures(dir: &Path, page_size: u32) -> PathBuf {
    let db = dir.join(format!("fixtures-{page_size}.db"));
    let mut args = vec![
        "fixtures".to_owned(),
        "-o".into(),
        db.display().to_string(),
        "-page-size".into(),
        page_size.to_string(),
    ];
    args.extend(fixture_paths());
    run_writer(&args.iter().map(String::as_str).collect::<Vec<_>>());
    db
}

fn write_synthetic(dir: &Path, case: &str, page_size: u32) -> PathBuf {
    let db = dir.join(format!("{case}-{page_size}.db"));
    let path = db.display().to_string();
    let size = page_size.to_string();
    run_writer(&["synthetic", "-o", &path, "-case", case, "-page-size", &size]);
    db
}

/// One key as the Go dump lists it: bucket path and key in hex, the value
/// in hex or, for a nested bucket, its sequence.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct Entry {
    path: Vec<String>,
    key: String,
    value: Option<String>,
    sequence: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GoStats {
    branch_page_n: u64,
    branch_overflow_n: u64,
    leaf_page_n: u64,
    leaf_overflow_n: u64,
    key_n: u64,
    depth: u64,
    bucket_n: u64,
    inline_bucket_n: u64,
}

#[derive(Debug, Deserialize)]
struct GoDump {
    page_size: u32,
    txid: u64,
    pages: u64,
    entries: Vec<Entry>,
    stats: GoStats,
}

fn go_dump(db: &Path) -> GoDump {
    let out = run_writer(&["dump", &db.display().to_string()]);
    serde_json::from_slice(&out).expect("the Go dump is JSON")
}

fn rust_entries(
    bucket: Bucket<'_>,
    path: &[String],
    out: &mut Vec<Entry>,
) -> Result<(), BboltError> {
    for entry in bucket.iter() {
        let (key, value) = entry?;
        let key = hex::encode(key);
        match value {
            Value::Data(data) => out.push(Entry {
                path: path.to_vec(),
                key,
                value: Some(hex::encode(data)),
                sequence: None,
            }),
            Value::Bucket(child) => {
                out.push(Entry {
                    path: path.to_vec(),
                    key: key.clone(),
                    value: None,
                    sequence: Some(child.sequence()),
                });
                let mut child_path = path.to_vec();
                child_path.push(key);
                rust_entries(child, &child_path, out)?;
            }
        }
    }
    Ok(())
}

fn stats_of(go: &GoStats) -> Stats {
    Stats {
        branch_page_n: go.branch_page_n,
        branch_overflow_n: go.branch_overflow_n,
        leaf_page_n: go.leaf_page_n,
        leaf_overflow_n: go.leaf_overflow_n,
        key_n: go.key_n,
        depth: go.depth,
        bucket_n: go.bucket_n,
        inline_bucket_n: go.inline_bucket_n,
    }
}

/// The bucket at a hex path below the root.
fn bucket_at<'a>(root: Bucket<'a>, path: &[String]) -> Bucket<'a> {
    path.iter().fold(root, |b, name| {
        let name = hex::decode(name).expect("hex path");
        b.bucket(&name)
            .expect("lookup reads")
            .unwrap_or_else(|| panic!("bucket {path:?} present"))
    })
}

/// Reads `db` with the Rust reader and checks it against Go's dump: the
/// meta, every key and value in order, bbolt's page statistics, and a
/// lookup of every key (and of keys just beside it) by descending the tree.
fn check_against_go(db_path: &Path) -> (GoDump, Stats) {
    let go = go_dump(db_path);
    let db = Db::open(db_path).expect("the Go-written file opens");
    let meta = db.meta();
    assert_eq!(
        (meta.page_size, meta.txid, meta.pages),
        (go.page_size, go.txid, go.pages),
        "{}",
        db_path.display()
    );
    let stats = db.verify().expect("the Go-written file verifies");
    assert_eq!(
        stats,
        stats_of(&go.stats),
        "page statistics of {}",
        db_path.display()
    );

    let mut entries = Vec::new();
    rust_entries(db.root(), &[], &mut entries).expect("every bucket iterates");
    assert_eq!(entries.len(), go.entries.len(), "{}", db_path.display());
    if let Some(i) = (0..entries.len()).find(|&i| entries[i] != go.entries[i]) {
        panic!(
            "{}: entry {i} differs: rust {:?}, go {:?}",
            db_path.display(),
            entries[i],
            go.entries[i]
        );
    }

    let listed: HashSet<(&[String], &str)> = go
        .entries
        .iter()
        .map(|e| (e.path.as_slice(), e.key.as_str()))
        .collect();
    for e in &go.entries {
        let bucket = bucket_at(db.root(), &e.path);
        let key = hex::decode(&e.key).expect("hex key");
        match (bucket.entry(&key).expect("lookup reads"), &e.value) {
            (Some(Value::Data(v)), Some(want)) => assert_eq!(&hex::encode(v), want, "{e:?}"),
            (Some(Value::Bucket(b)), None) => assert_eq!(Some(b.sequence()), e.sequence, "{e:?}"),
            (got, _) => panic!("{}: lookup of {e:?} found {got:?}", db_path.display()),
        }
        // Just after the key, and a prefix of it: absent unless listed.
        let mut after = key.clone();
        after.push(0);
        if !listed.contains(&(e.path.as_slice(), hex::encode(&after).as_str())) {
            assert!(
                bucket.entry(&after).expect("lookup reads").is_none(),
                "{e:?}+00"
            );
        }
    }
    (go, stats)
}

#[test]
fn trivy_fixture_databases_read_back_as_go_wrote_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    for page_size in [4096, 1024, 16384] {
        let db = write_fixtures(dir.path(), page_size);
        let (go, stats) = check_against_go(&db);
        assert!(
            go.entries.len() > 100,
            "fixtures loaded: {}",
            go.entries.len()
        );
        // Long descriptions need overflow pages below 16 KiB pages.
        assert!(page_size > 4096 || stats.leaf_overflow_n > 0, "{stats:?}");
        assert!(stats.inline_bucket_n > 0, "{stats:?}");
    }
}

#[test]
fn synthetic_shapes_read_back_as_go_wrote_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (case, page_sizes) in [
        ("many-keys", &[4096, 1024][..]),
        ("overflow", &[4096, 1024]),
        ("inline", &[4096, 16384]),
        ("deep", &[4096]),
        ("empty", &[4096]),
        ("churn", &[4096, 1024]),
        ("binary", &[4096]),
    ] {
        for &page_size in page_sizes {
            let db = write_synthetic(dir.path(), case, page_size);
            let (_, s) = check_against_go(&db);
            // Each case must reach the shape it is named for.
            let shaped = match case {
                "many-keys" => s.key_n == 60_002 && s.branch_page_n > 10 && s.depth >= 4,
                "overflow" => s.leaf_overflow_n > 100 && s.branch_page_n > 0,
                "inline" => s.inline_bucket_n > 400 && s.bucket_n == 502,
                "deep" => s.bucket_n == 42 && s.depth == 42,
                "empty" => s.bucket_n == 4 && s.key_n == 3,
                "churn" => s.bucket_n == 2 && s.branch_page_n > 0,
                "binary" => s.key_n == 3003,
                _ => false,
            };
            assert!(shaped, "{case} at page size {page_size}: {s:?}");
        }
    }
}

/// Advisories as the fixture YAML states them: (source, package, id) →
/// the value mapping, later duplicates winning as they do in bbolt.
fn fixture_advisories(file: &str) -> BTreeMap<(String, String, String), serde_yaml::Value> {
    let text = std::fs::read_to_string(repo().join(format!("tests/data/trivydb/{file}.yaml")))
        .expect("fixture reads");
    let top: Vec<serde_yaml::Value> = serde_yaml::from_str(&text).expect("fixture YAML");
    let mut out = BTreeMap::new();
    let str_of = |v: &serde_yaml::Value, k: &str| v[k].as_str().map(str::to_owned);
    for source in &top {
        let source_name = str_of(source, "bucket").expect("source bucket");
        for pkg in source["pairs"].as_sequence().into_iter().flatten() {
            let pkg_name = str_of(pkg, "bucket").expect("package bucket");
            for adv in pkg["pairs"].as_sequence().into_iter().flatten() {
                let id = str_of(adv, "key").expect("advisory key");
                out.insert(
                    (source_name.clone(), pkg_name.clone(), id),
                    adv["value"].clone(),
                );
            }
        }
    }
    out
}

fn open_fixture_db(dir: &Path) -> TrivyDb {
    let db = write_fixtures(dir, 4096);
    std::fs::rename(&db, dir.join("trivy.db")).expect("rename");
    std::fs::write(
        dir.join("metadata.json"),
        r#"{"Version":2,"NextUpdate":"2024-05-02T06:00:00Z","UpdatedAt":"2024-05-01T00:00:00Z","DownloadedAt":"2024-05-01T01:02:03.5Z"}"#,
    )
    .expect("metadata written");
    TrivyDb::open_dir(dir).expect("the fixture database opens")
}

#[test]
fn trivy_layer_reads_every_fixture_advisory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = open_fixture_db(dir.path());
    assert_eq!(db.metadata().version, 2);
    assert_eq!(
        db.metadata().downloaded_at.map(|t| t.to_string()),
        Some("2024-05-01T01:02:03.5Z".to_owned())
    );

    let mut checked = 0;
    for file in ["alpine", "amazon", "debian", "python", "ubuntu"] {
        for ((source, pkg, id), want) in fixture_advisories(file) {
            let got = db.advisories(&source, &pkg).expect("advisories read");
            let adv = got
                .iter()
                .find(|a| a.vulnerability_id == id)
                .unwrap_or_else(|| panic!("{source}/{pkg}/{id} read back"));
            let text = |k: &str| want[k].as_str().unwrap_or_default().to_owned();
            let list = |k: &str| -> Vec<String> {
                want[k]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .map(|v| v.as_str().expect("string list").to_owned())
                    .collect()
            };
            let number = |k: &str| want[k].as_f64().unwrap_or(0.0) as i64;
            assert_eq!(
                adv.fixed_version,
                text("FixedVersion"),
                "{source}/{pkg}/{id}"
            );
            assert_eq!(adv.vendor_ids, list("VendorIDs"), "{source}/{pkg}/{id}");
            assert_eq!(adv.vulnerable_versions, list("VulnerableVersions"));
            assert_eq!(adv.patched_versions, list("PatchedVersions"));
            assert_eq!(
                adv.status,
                TrivyStatus::from_number(number("Status")).expect("status")
            );
            let severity = match number("Severity") {
                0 => None,
                n => Some(TrivySeverity::from_number(n).expect("severity")),
            };
            assert_eq!(adv.severity, severity, "{source}/{pkg}/{id}");
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked} advisories compared");

    // Spot checks against the fixture text itself.
    let bash = db.advisories("debian 9", "bash").expect("read");
    assert_eq!(bash.len(), 1);
    assert_eq!(bash[0].status, TrivyStatus::EndOfLife);
    assert_eq!(bash[0].severity, Some(TrivySeverity::Low));
    // The openssl bucket appears twice in debian.yaml: both keys land in it.
    let openssl: Vec<_> = db
        .advisories("debian 9", "openssl")
        .expect("read")
        .into_iter()
        .map(|a| a.vulnerability_id)
        .collect();
    assert_eq!(openssl, ["CVE-2019-1551", "CVE-2019-1563"]);
    assert!(
        db.advisories("debian 9", "no-such-package")
            .expect("read")
            .is_empty()
    );
    assert!(db.advisories("debian 99", "bash").expect("read").is_empty());
}

#[test]
fn trivy_layer_reads_sources_vulnerabilities_and_refuses_red_hat_entries() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = open_fixture_db(dir.path());

    let sources = db.sources().expect("sources read");
    let names: Vec<_> = sources.iter().map(|s| s.bucket.as_str()).collect();
    assert!(
        names.contains(&"debian 9") && names.contains(&"amazon linux 2"),
        "{names:?}"
    );
    assert!(!names.contains(&"vulnerability") && !names.contains(&"data-source"));
    let pip = sources
        .iter()
        .find(|s| s.bucket == "pip::GitHub Security Advisory Pip")
        .expect("pip source");
    let ds = pip.data_source.as_ref().expect("pip has a data source");
    assert_eq!(
        (ds.id.as_str(), ds.name.as_str()),
        ("ghsa", "GitHub Security Advisory Pip")
    );

    // trivy-db's "pip::" prefix lookup, with the data source attached.
    let werkzeug = db.advisories_by_prefix("pip::", "werkzeug").expect("read");
    assert_eq!(werkzeug.len(), 2);
    assert_eq!(werkzeug[0].vulnerable_versions, ["< 0.15.3"]);
    assert_eq!(
        werkzeug[0].data_source.as_ref().map(|d| d.id.as_str()),
        Some("ghsa")
    );

    let v = db
        .vulnerability("CVE-2022-38177")
        .expect("read")
        .expect("CVE-2022-38177 present");
    assert_eq!(
        v.title,
        "bind: memory leak in ECDSA DNSSEC verification code"
    );
    assert_eq!(v.severity, Some(TrivySeverity::High));
    assert_eq!(v.vendor_severity.get("nvd"), Some(&TrivySeverity::Medium));
    assert_eq!(v.cvss["nvd"].v3_score, 7.5);
    assert_eq!(
        v.published_date.map(|t| t.to_string()),
        Some("2022-09-21T11:15:00Z".to_owned())
    );
    assert!(db.vulnerability("CVE-0000-0000").expect("read").is_none());

    // Red Hat's per-CPE entries are another layout: refused, not misread.
    let err = db
        .advisories("Red Hat", "bash")
        .expect_err("Red Hat entries");
    assert!(matches!(err, TrivyError::UnsupportedLayout { .. }), "{err}");
}

// --- corruption -----------------------------------------------------------

/// Reads everything a consumer could: verify, every bucket, every lookup.
/// Returns the first error; must never panic or hang.
fn read_all(data: &[u8]) -> Result<usize, BboltError> {
    let tree = Tree::from_bytes(data)?;
    let mut entries = Vec::new();
    let walked = rust_entries(tree.root(), &[], &mut entries);
    for e in &entries {
        let mut b = tree.root();
        for name in &e.path {
            match b.bucket(&hex::decode(name).unwrap_or_default())? {
                Some(child) => b = child,
                None => break,
            }
        }
        b.entry(&hex::decode(&e.key).unwrap_or_default())?;
    }
    walked?;
    tree.verify()?;
    Ok(entries.len())
}

/// The ids of pages of a given type, by their header flags.
fn pages_with_flags(data: &[u8], page_size: usize, pages: u64, flags: u16) -> Vec<u64> {
    (2..pages)
        .filter(|&id| {
            let at = id as usize * page_size + 8;
            data.get(at..at + 2) == Some(&flags.to_le_bytes()[..])
                && data.get(id as usize * page_size..id as usize * page_size + 8)
                    == Some(&id.to_le_bytes()[..])
        })
        .collect()
}

#[test]
fn corrupted_files_are_refused_with_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_synthetic(dir.path(), "many-keys", 4096);
    let good = std::fs::read(&path).expect("read db");
    let meta = Tree::from_bytes(&good).expect("opens").meta();
    let ps = meta.page_size as usize;
    let in_use = meta.pages as usize * ps;
    let total = read_all(&good).expect("the intact file reads");
    // Two source buckets of 30 000 keys each.
    assert_eq!(total, 60_002);

    // Truncation: up to the pages in use is fine, a byte less is not.
    assert_eq!(read_all(&good[..in_use]).ok(), Some(total));
    // Refused, not read by the older meta page (the empty database the
    // file was created as, which would read as "no advisories").
    for len in [0, 1, 100, ps, 2 * ps, in_use / 2, in_use - 1] {
        let err = read_all(&good[..len]).expect_err("truncated file refused");
        assert!(
            matches!(
                err,
                BboltError::NoValidMeta { .. } | BboltError::NewestMetaInconsistent { .. }
            ),
            "{len}: {err}"
        );
    }
    // Through the file API too: an empty file and a missing one.
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").expect("write");
    assert!(matches!(
        Db::open(&empty),
        Err(BboltError::NoValidMeta { .. })
    ));
    assert!(matches!(
        Db::open(&dir.path().join("absent.db")),
        Err(BboltError::Io { .. })
    ));

    // One damaged meta page: the other one (an older transaction) is used,
    // as bbolt does; both damaged: refused.
    let newest = meta.slot as usize;
    let mut one = good.clone();
    one[newest * ps + 16 + 20] ^= 0x40;
    let fallback = Tree::from_bytes(&one)
        .expect("the other meta is used")
        .meta();
    assert_eq!(fallback.slot as usize, 1 - newest);
    assert!(fallback.txid < meta.txid);
    let mut both = one.clone();
    both[(1 - newest) * ps + 16] ^= 0x01;
    let err = Tree::from_bytes(&both).expect_err("both metas damaged");
    assert!(
        err.to_string().contains("magic") && err.to_string().contains("checksum"),
        "{err}"
    );

    let branches = pages_with_flags(&good, ps, meta.pages, 0x01);
    let leaves = pages_with_flags(&good, ps, meta.pages, 0x02);
    assert!(branches.len() > 10 && leaves.len() > 1000);
    let mutate = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut data = good.clone();
        f(&mut data);
        read_all(&data).expect_err("corruption refused")
    };
    let branch = branches[branches.len() / 2] as usize * ps;
    let leaf = leaves[leaves.len() / 2] as usize * ps;

    // A child page id past the end of the file.
    let err =
        mutate(&|d| d[branch + 24..branch + 32].copy_from_slice(&(meta.pages + 5).to_le_bytes()));
    assert!(matches!(err, BboltError::PageOutOfRange { .. }), "{err}");
    // A branch that is its own child: a cycle.
    let own = branches[branches.len() / 2];
    let err = mutate(&|d| d[branch + 24..branch + 32].copy_from_slice(&own.to_le_bytes()));
    assert!(
        matches!(
            err,
            BboltError::KeyOutOfOrder { .. } | BboltError::TreeTooDeep { .. }
        ),
        "{err}"
    );
    // A child pointing at a meta page.
    let err = mutate(&|d| d[branch + 24..branch + 32].copy_from_slice(&1u64.to_le_bytes()));
    assert!(matches!(err, BboltError::MetaPageInTree { id: 1 }), "{err}");
    // A leaf's page type flags changed.
    let err = mutate(&|d| d[leaf + 8] = 0x20);
    assert!(
        matches!(err, BboltError::NotATreePage { flags: 0x20, .. }),
        "{err}"
    );
    // A page that says it is another page.
    let err = mutate(&|d| d[leaf] ^= 0x01);
    assert!(matches!(err, BboltError::PageIdMismatch { .. }), "{err}");
    // An element count larger than the page holds.
    let err = mutate(&|d| d[leaf + 10..leaf + 12].copy_from_slice(&0xFFFFu16.to_le_bytes()));
    assert!(
        matches!(err, BboltError::ElementsPastPageEnd { .. }),
        "{err}"
    );
    // A key offset past the page's end.
    let err =
        mutate(&|d| d[leaf + 16 + 4..leaf + 16 + 8].copy_from_slice(&0xFFFF_FF00u32.to_le_bytes()));
    assert!(
        matches!(err, BboltError::ElementPastPageEnd { .. }),
        "{err}"
    );
    // A key rewritten so the leaf is no longer sorted.
    let err = mutate(&|d| {
        let pos = u32::from_le_bytes(
            d[leaf + 32 + 4..leaf + 32 + 8]
                .try_into()
                .unwrap_or_default(),
        );
        d[leaf + 32 + pos as usize] = 0xFF;
    });
    assert!(matches!(err, BboltError::KeyOutOfOrder { .. }), "{err}");
    // An overflow count running past the pages in use.
    let err = mutate(&|d| d[leaf + 12..leaf + 16].copy_from_slice(&u32::MAX.to_le_bytes()));
    assert!(matches!(err, BboltError::PageBeyondFile { .. }), "{err}");
    // Unknown leaf element flags.
    let err = mutate(&|d| d[leaf + 16] = 0x08);
    assert!(
        matches!(err, BboltError::UnknownElementFlags { .. }),
        "{err}"
    );
}

#[test]
fn random_damage_never_panics() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut refused = 0;
    let mut runs = 0;
    for (case, page_size) in [("inline", 4096), ("deep", 4096), ("overflow", 1024)] {
        let path = write_synthetic(dir.path(), case, page_size);
        let good = std::fs::read(&path).expect("read db");
        let meta = Tree::from_bytes(&good).expect("opens").meta();
        let in_use = (meta.pages * u64::from(meta.page_size)) as usize;
        // A fixed xorshift sequence: reproducible damage.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..100 {
            let mut data = good[..in_use].to_vec();
            for _ in 0..1 + next() % 8 {
                let at = (next() % in_use as u64) as usize;
                data[at] = next() as u8;
            }
            runs += 1;
            if read_all(&data).is_err() {
                refused += 1;
            }
        }
    }
    // Most flips land in key or value bytes and stay readable; some must not.
    assert!(refused > 20, "{refused} of {runs} damaged files refused");
}
