//! Vulnerability-database benchmark driver (run through `bench/vulndb/run.sh`,
//! which runs each phase in its own process so peak memory is per phase).
//!
//! `generate ROOT`            write the synthetic OSV export (see corpus.rs)
//! `inflate ROOT`             baseline: read every zip and inflate every entry
//! `load ROOT`                cold load of the zips (what `scangate` does without a snapshot)
//! `snapshot-write ROOT DIR`  load, then time writing the snapshot into DIR
//! `snapshot-read FILE`       baseline: read the snapshot file's bytes
//! `snapshot-load FILE`       time loading the database from the snapshot
//! `match FILE RUNS`          match a 1,000-package inventory RUNS times (from the snapshot)
//!
//! Every command prints one JSON line.

mod corpus;

use scangate::model::{Inventory, Location, OsInfo, Package, PackageKind};
use scangate::vulndb::snapshot::{read_snapshot, snapshot_path, write_snapshot};
use scangate::vulndb::{LoadOptions, load_dir};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// (peak, current) resident set size of this process in MiB, from /proc.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn generate(root: &Path) -> anyhow::Result<()> {
    let start = Instant::now();
    std::fs::create_dir_all(root)?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let totals = std::sync::Mutex::new((0usize, 0u64));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| -> std::io::Result<()> {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(spec) = corpus::ECOSYSTEMS.get(i) else {
                        return Ok(());
                    };
                    let (records, bytes) =
                        corpus::write_ecosystem(root, spec, 0x05c4_6a7e + i as u64)?;
                    let mut t = totals
                        .lock()
                        .map_err(|_| std::io::Error::other("poisoned"))?;
                    t.0 += records;
                    t.1 += bytes;
                    eprintln!("{:<12} {records:>7} records", spec.name);
                }
            });
        }
    });
    let (records, bytes) = *totals.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    std::fs::write(
        root.join(".corpus-version"),
        corpus::CORPUS_VERSION.to_string(),
    )?;
    let zip_bytes: u64 = corpus::ECOSYSTEMS
        .iter()
        .filter_map(|s| std::fs::metadata(root.join(s.name).join("all.zip")).ok())
        .map(|m| m.len())
        .sum();
    println!(
        "{{\"phase\":\"generate\",\"records\":{records},\"jsonBytes\":{bytes},\"zipBytes\":{zip_bytes},\"ms\":{:.0}}}",
        ms(start.elapsed())
    );
    Ok(())
}

/// Reads and inflates every entry of every zip, in parallel over the zips
/// the way the loader is; nothing is parsed.
fn inflate(root: &Path) -> anyhow::Result<()> {
    let start = Instant::now();
    let zips: Vec<PathBuf> = scangate::vulndb::load::zips_in(root)?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let total = std::sync::atomic::AtomicU64::new(0);
    let entries = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| -> anyhow::Result<()> {
                let mut buf = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(path) = zips.get(i) else {
                        return Ok(());
                    };
                    let bytes = std::fs::read(path)?;
                    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))?;
                    for k in 0..archive.len() {
                        buf.clear();
                        archive.by_index(k)?.read_to_end(&mut buf)?;
                        total.fetch_add(buf.len() as u64, std::sync::atomic::Ordering::Relaxed);
                        entries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let (peak, _) = rss_mib();
    println!(
        "{{\"phase\":\"inflate\",\"entries\":{},\"bytes\":{},\"ms\":{:.0},\"peakRssMiB\":{peak:.0}}}",
        entries.into_inner(),
        total.into_inner(),
        ms(start.elapsed())
    );
    Ok(())
}

fn load(root: &Path) -> anyhow::Result<()> {
    let start = Instant::now();
    let db = load_dir(root, &LoadOptions::default())?;
    let elapsed = start.elapsed();
    let (peak, now) = rss_mib();
    println!(
        "{{\"phase\":\"load\",\"records\":{},\"revision\":\"{}\",\"ms\":{:.0},\"peakRssMiB\":{peak:.0},\"rssAfterMiB\":{now:.0}}}",
        db.records().len(),
        db.revision(),
        ms(elapsed)
    );
    Ok(())
}

fn snapshot_write(root: &Path, dir: &Path) -> anyhow::Result<()> {
    let db = load_dir(root, &LoadOptions::default())?;
    let path = snapshot_path(dir, db.revision());
    let start = Instant::now();
    write_snapshot(&db, &path)?;
    let elapsed = start.elapsed();
    println!(
        "{{\"phase\":\"snapshot-write\",\"file\":\"{}\",\"bytes\":{},\"ms\":{:.0}}}",
        path.display(),
        std::fs::metadata(&path)?.len(),
        ms(elapsed)
    );
    Ok(())
}

fn snapshot_read(file: &Path) -> anyhow::Result<()> {
    let start = Instant::now();
    let bytes = std::fs::read(file)?;
    let elapsed = start.elapsed();
    println!(
        "{{\"phase\":\"snapshot-read\",\"bytes\":{},\"ms\":{:.0}}}",
        bytes.len(),
        ms(elapsed)
    );
    Ok(())
}

fn snapshot_load(file: &Path) -> anyhow::Result<()> {
    let start = Instant::now();
    let db = read_snapshot(file)?;
    let elapsed = start.elapsed();
    let (peak, now) = rss_mib();
    println!(
        "{{\"phase\":\"snapshot-load\",\"records\":{},\"ms\":{:.0},\"peakRssMiB\":{peak:.0},\"rssAfterMiB\":{now:.0}}}",
        db.records().len(),
        ms(elapsed)
    );
    Ok(())
}

fn package(name: String, version: String, kind: PackageKind, source: Option<String>) -> Package {
    Package {
        purl: format!("pkg:generic/{name}@{version}"),
        name,
        version,
        kind,
        source_name: source,
        source_version: None,
        arch: None,
        location: Location {
            layer: None,
            path: "bench".into(),
        },
    }
}

/// A version above every fixed version the corpus generator writes (those
/// have epochs 3 and 4 for dpkg and rpm, majors below 18 elsewhere).
fn current(rng: &mut corpus::Rng, style: corpus::Style) -> String {
    let (b, c) = (rng.below(30), rng.below(40));
    match style {
        corpus::Style::Deb => format!("5:30.{b}.{c}-1"),
        corpus::Style::Rpm => format!("5:30.{b}.{c}-1.el9"),
        corpus::Style::Apk => format!("30.{b}.{c}-r0"),
        _ => format!("30.{b}.{c}"),
    }
}

/// 1,000 packages of a Debian 12 image with Node, Python, Java and Go
/// applications: names drawn from the corpus by the same popularity laws
/// as the records (so the famous, record-heavy packages are in); 90 % of
/// them at a version past every fix (an image kept up to date), the rest at
/// a random one.
fn inventory() -> Inventory {
    let mut rng = corpus::Rng::new(1000);
    let mut packages = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let plan = [
        ("Debian", PackageKind::Deb, 300),
        ("npm", PackageKind::Npm, 400),
        ("PyPI", PackageKind::Pypi, 150),
        ("Maven", PackageKind::Maven, 100),
        ("Go", PackageKind::Golang, 50),
    ];
    for (eco, kind, count) in plan {
        let Some(spec) = corpus::ECOSYSTEMS.iter().find(|s| s.name == eco) else {
            continue;
        };
        let mut taken = 0;
        while taken < count {
            let index = if kind == PackageKind::Deb {
                rng.zipf(spec.packages)
            } else {
                rng.zipf_light(spec.packages)
            };
            let name = corpus::package_name(spec, index);
            if !seen.insert((eco, name.clone())) {
                continue;
            }
            // Most packages of a maintained image are past every fix.
            let version = if rng.chance(90) {
                current(&mut rng, spec.style)
            } else {
                corpus::version(&mut rng, spec.style)
            };
            let (binary, source) = if kind == PackageKind::Deb {
                (format!("{name}-bin"), Some(name))
            } else {
                (name, None)
            };
            packages.push(package(binary, version, kind, source));
            taken += 1;
        }
    }
    Inventory {
        os: Some(OsInfo {
            family: "debian".into(),
            version: "12.5".into(),
            ..OsInfo::default()
        }),
        packages,
    }
}

fn matching(file: &Path, runs: usize) -> anyhow::Result<()> {
    let db = read_snapshot(file)?;
    let inventory = inventory();
    let first = db.match_inventory(&inventory);
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let outcome = db.match_inventory(&inventory);
        times.push(start.elapsed());
        anyhow::ensure!(outcome == first, "matching is not deterministic");
    }
    times.sort();
    let median = times[times.len() / 2];
    let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
    println!(
        "{{\"phase\":\"match\",\"packages\":{},\"findings\":{},\"unchecked\":{},\"runs\":{runs},\"medianMs\":{:.3},\"p99Ms\":{:.3}}}",
        inventory.packages.len(),
        first.findings.len(),
        first.unchecked.len(),
        ms(median),
        ms(p99)
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["generate", root] => generate(Path::new(root)),
        ["inflate", root] => inflate(Path::new(root)),
        ["load", root] => load(Path::new(root)),
        ["snapshot-write", root, dir] => snapshot_write(Path::new(root), Path::new(dir)),
        ["snapshot-read", file] => snapshot_read(Path::new(file)),
        ["snapshot-load", file] => snapshot_load(Path::new(file)),
        ["match", file, runs] => matching(Path::new(file), runs.parse()?),
        _ => anyhow::bail!(
            "usage: vulndb_bench generate ROOT | inflate ROOT | load ROOT | snapshot-write ROOT DIR | snapshot-read FILE | snapshot-load FILE | match FILE RUNS"
        ),
    }
}
