//! Loading the OSV export's layout: `<root>/<Ecosystem>/all.zip`, one JSON
//! record per file. A record that does not parse is skipped and counted,
//! never a reason to fail the load; withdrawn records are left out.
//!
//! The zips are inflated and parsed in parallel (slices of each zip's
//! entries, one thread per core), and each record is compacted as soon as
//! it is parsed: nothing but the compact form outlives a record's bytes.

use super::osv::{self, Record};
use super::ranges::{CompactRange, EventKind, VersionList};
use super::severity;
use super::stored::StoredRecord;
use super::{AffectedEntry, Database, EcosystemInfo, PackageIndex, VulnRecord};
use crate::model::{ArcStr, SeveritySource};
use crate::version::VersionScheme;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use smallvec::SmallVec;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What the loader reads and where it keeps its snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LoadOptions {
    /// Base ecosystems to load (`Debian`, `Go`, …); empty loads all present.
    pub ecosystems: Vec<String>,
    /// Largest record accepted, in bytes (`maxRecordBytes`); larger ones are skipped.
    pub max_record_bytes: Option<u64>,
    /// Where the loaded index is kept on disk, keyed by revision
    /// (`snapshotDir`), so a restart skips the zips; `None`: no snapshot.
    pub snapshot_dir: Option<PathBuf>,
}

/// Default for [`LoadOptions::max_record_bytes`]: the largest real records are
/// a few hundred KiB.
pub const DEFAULT_MAX_RECORD_BYTES: u64 = 8 << 20;

/// Zip entries parsed as one unit of work.
const ENTRIES_PER_UNIT: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("database root {path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path} is not a readable zip: {cause}")]
    Zip {
        path: PathBuf,
        cause: zip::result::ZipError,
    },
    #[error("database root {0} holds no <Ecosystem>/all.zip")]
    Empty(PathBuf),
    #[error("a loader thread failed: {0}")]
    Thread(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LoadError + '_ {
    move |cause| LoadError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

/// The ecosystem folders under `root` that hold an `all.zip`, sorted.
pub fn zips_in(root: &Path) -> Result<Vec<(String, PathBuf)>, LoadError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).map_err(io(root))? {
        let entry = entry.map_err(io(root))?;
        let zip = entry.path().join("all.zip");
        if zip.is_file() {
            out.push((entry.file_name().to_string_lossy().into_owned(), zip));
        }
    }
    out.sort();
    Ok(out)
}

fn compact(
    affected: &osv::Affected,
    scheme: Option<VersionScheme>,
) -> (SmallVec<[CompactRange; 1]>, VersionList) {
    let ranges = affected
        .ranges
        .iter()
        .filter(|r| &*r.kind == "ECOSYSTEM" || &*r.kind == "SEMVER")
        .map(|r| {
            let mut range = CompactRange::from_events(r.events.iter().filter_map(|e| {
                if let Some(v) = &e.introduced {
                    Some((EventKind::Introduced, &**v))
                } else if let Some(v) = &e.fixed {
                    Some((EventKind::Fixed, &**v))
                } else if let Some(v) = &e.last_affected {
                    Some((EventKind::LastAffected, &**v))
                } else {
                    e.limit.as_ref().map(|v| (EventKind::Limit, &**v))
                }
            }));
            if let Some(scheme) = scheme {
                range.normalize(scheme);
            }
            range
        })
        .filter(|r| !r.is_empty())
        .collect();
    let versions = VersionList::from_versions(affected.versions.iter().map(|v| &**v));
    (ranges, versions)
}

/// One `affected` entry, compact: `(ecosystem with release, package name,
/// ranges, versions)`.
type CompactEntry = (Box<str>, Box<str>, SmallVec<[CompactRange; 1]>, VersionList);

/// What one unit of work gave: a zip's hash (hash units) or its records.
type UnitOutcome = Result<(Option<String>, UnitResult), LoadError>;

/// One record in its compact form, before it has a slot in the database.
#[derive(Debug)]
struct Compacted {
    modified: Option<String>,
    /// Releases named by its `affected` packages (`12` of `Debian:12`).
    releases: Vec<String>,
    /// `(ecosystem with release, package name, ranges, versions)`.
    entries: Vec<CompactEntry>,
    record: VulnRecord,
}

/// Compacts one parsed record; `None` for a withdrawn one.
fn compact_record(record: Record<'_>) -> Option<Compacted> {
    if record.withdrawn.is_some() {
        return None;
    }
    let mut releases = Vec::new();
    let mut entries = Vec::new();
    for affected in &record.affected {
        let Some(package) = &affected.package else {
            continue;
        };
        if let Some((_, release)) = package.ecosystem.split_once(':')
            && !releases.iter().any(|r: &String| r == release)
        {
            releases.push(release.to_string());
        }
        let scheme = VersionScheme::for_osv_ecosystem(&package.ecosystem);
        let (ranges, versions) = compact(affected, scheme);
        if ranges.is_empty() && versions.is_empty() {
            continue;
        }
        let name = super::ecosystem::record_name(&package.ecosystem, &package.name);
        entries.push((
            Box::from(&*package.ecosystem),
            name.into_boxed_str(),
            ranges,
            versions,
        ));
    }
    let rated = severity::rate(&record);
    let owned = |v: &Vec<osv::Str>| v.iter().map(|s| ArcStr::from(&**s)).collect::<Vec<_>>();
    Some(Compacted {
        modified: record.modified.as_deref().map(String::from),
        releases,
        entries,
        record: VulnRecord {
            id: ArcStr::from(&*record.id),
            aliases: owned(&record.aliases),
            upstream: owned(&record.upstream),
            summary: record.summary.as_deref().map(ArcStr::from),
            published: record.published.as_deref().map(ArcStr::from),
            severity: rated.severity,
            severity_source: rated.source,
            cvss_score: rated.score,
            cvss_vector: rated.vector.map(ArcStr::from),
        },
    })
}

/// A compacted record as a worker thread hands it over: encoded, so that
/// the database's long-lived allocations are all made by the assembling
/// thread. Built on the workers, they interleaved with the workers' parse
/// garbage and pinned its pages: a cold load peaked at twice the resident
/// size of the same database read from a snapshot.
#[derive(Serialize, Deserialize)]
struct WireCompacted {
    modified: Option<String>,
    releases: Vec<String>,
    entries: Vec<CompactEntry>,
    record: StoredRecord,
}

impl From<Compacted> for WireCompacted {
    fn from(c: Compacted) -> WireCompacted {
        WireCompacted {
            record: StoredRecord::from(&c.record),
            modified: c.modified,
            releases: c.releases,
            entries: c.entries,
        }
    }
}

impl From<WireCompacted> for Compacted {
    fn from(w: WireCompacted) -> Compacted {
        Compacted {
            modified: w.modified,
            releases: w.releases,
            entries: w.entries,
            record: w.record.into(),
        }
    }
}

/// What one slice of one zip gave: its records, encoded back to back.
#[derive(Debug, Default)]
struct UnitResult {
    encoded: Vec<u8>,
    records: usize,
    skipped: usize,
}

impl UnitResult {
    fn push(&mut self, compacted: Compacted) {
        match postcard::to_io(&WireCompacted::from(compacted), &mut self.encoded) {
            Ok(_) => self.records += 1,
            Err(_) => self.skipped += 1,
        }
    }

    /// The records, decoded in order.
    fn records(&self) -> impl Iterator<Item = Result<Compacted, LoadError>> + '_ {
        let mut rest = &self.encoded[..];
        (0..self.records).map(move |_| {
            let (wire, tail) = postcard::take_from_bytes::<WireCompacted>(rest).map_err(|e| {
                LoadError::Thread(format!("a record handed over did not decode: {e}"))
            })?;
            rest = tail;
            Ok(wire.into())
        })
    }
}

/// Inflates one zip entry's raw bytes into `out` (at most `max` bytes) and
/// checks its CRC. One `inflater` serves every entry: a fresh inflate state
/// per entry (what `ZipArchive::by_index` makes) costs an allocation of
/// tens of KiB each time, and interleaved with the database's own small,
/// long-lived allocations it fragments the heap to gigabytes.
fn inflate_entry(
    method: zip::CompressionMethod,
    raw: &[u8],
    claimed_size: u64,
    crc32: u32,
    max: u64,
    inflater: &mut flate2::Decompress,
    out: &mut Vec<u8>,
) -> Result<(), ()> {
    out.clear();
    if method == zip::CompressionMethod::Stored {
        out.extend_from_slice(raw);
    } else if method == zip::CompressionMethod::Deflated {
        inflater.reset(false);
        out.reserve(usize::try_from(claimed_size.min(max) + 1).map_err(|_| ())?);
        let mut input = raw;
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.len().max(4096));
            }
            let (before, len_before) = (inflater.total_in(), out.len());
            let status = inflater
                .decompress_vec(input, out, flate2::FlushDecompress::Finish)
                .map_err(|_| ())?;
            let consumed = usize::try_from(inflater.total_in() - before).map_err(|_| ())?;
            input = input.get(consumed..).ok_or(())?;
            if out.len() as u64 > max {
                return Err(());
            }
            match status {
                flate2::Status::StreamEnd => break,
                // No progress with room left: truncated or damaged data.
                _ if consumed == 0 && out.len() == len_before && out.len() < out.capacity() => {
                    return Err(());
                }
                _ => {}
            }
        }
    } else {
        return Err(());
    }
    if out.len() as u64 > max {
        return Err(());
    }
    let mut crc = flate2::Crc::new();
    crc.update(out);
    if crc.sum() != crc32 {
        return Err(());
    }
    Ok(())
}

/// Buffers one reader of entries reuses.
#[derive(Default)]
struct EntryBuffers {
    raw: Vec<u8>,
    json: Vec<u8>,
    inflater: Option<flate2::Decompress>,
}

/// Reads entries `range` of `archive`: every `.json` entry is inflated
/// (at most `max` bytes, without trusting the size the zip claims), its
/// CRC checked, and parsed.
fn read_entries<R: Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    range: std::ops::Range<usize>,
    max: u64,
    buffers: &mut EntryBuffers,
    mut each: impl FnMut(Result<Record<'_>, ()>),
) {
    let EntryBuffers {
        raw,
        json,
        inflater,
    } = buffers;
    let inflater = inflater.get_or_insert_with(|| flate2::Decompress::new(false));
    // Deflate expands by at most a few bytes per 16 KiB block; twice the cap
    // bounds the compressed bytes read for an acceptable record.
    let max_raw = max.saturating_mul(2).saturating_add(4096);
    for i in range {
        let Ok(file) = archive.by_index_raw(i) else {
            each(Err(()));
            continue;
        };
        if file.is_dir() || !file.name().is_ok_and(|n| n.ends_with(".json")) {
            continue;
        }
        let (method, claimed, crc32) = (file.compression(), file.size(), file.crc32());
        raw.clear();
        let read = file.take(max_raw + 1).read_to_end(raw);
        if read.is_err() || raw.len() as u64 > max_raw {
            each(Err(()));
            continue;
        }
        if inflate_entry(method, raw, claimed, crc32, max, inflater, json).is_err() {
            each(Err(()));
            continue;
        }
        each(serde_json::from_slice::<Record>(json).map_err(|_| ()));
    }
}

/// Opens one zip for reading entries.
fn open_zip(path: &Path) -> Result<zip::ZipArchive<BufReader<std::fs::File>>, LoadError> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    zip::ZipArchive::new(BufReader::new(file)).map_err(|cause| LoadError::Zip {
        path: path.to_path_buf(),
        cause,
    })
}

/// SHA-256 of a file, streamed.
fn hash_file(path: &Path) -> Result<String, LoadError> {
    let mut file = std::fs::File::open(path).map_err(io(path))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(io(path))?;
    Ok(hex::encode(hasher.finalize()))
}

/// Counts the records of one `all.zip` that parse; returns (parsed,
/// skipped, the zip's SHA-256). Used to verify a download.
pub fn count_records(
    path: &Path,
    max_record_bytes: u64,
) -> Result<(usize, usize, String), LoadError> {
    let hash = hash_file(path)?;
    let mut archive = open_zip(path)?;
    let (mut parsed, mut skipped) = (0, 0);
    let mut buffers = EntryBuffers::default();
    let len = archive.len();
    read_entries(
        &mut archive,
        0..len,
        max_record_bytes,
        &mut buffers,
        |r| match r {
            Ok(_) => parsed += 1,
            Err(()) => skipped += 1,
        },
    );
    Ok((parsed, skipped, hash))
}

/// A unit of loading work.
enum Unit {
    /// Hash zip `zip` (for the revision).
    Hash { zip: usize },
    /// Parse entries `range` of zip `zip`.
    Entries {
        zip: usize,
        range: std::ops::Range<usize>,
    },
}

/// Runs `units` on `threads` threads; each result lands at its unit's index.
fn run_units(
    zips: &[(String, PathBuf)],
    units: &[Unit],
    schedule: &[usize],
    max: u64,
    threads: usize,
) -> Result<Vec<UnitOutcome>, LoadError> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<UnitOutcome>>> =
        Mutex::new((0..units.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    // One open archive per worker: units of a zip are consecutive.
                    let mut open: Option<(usize, zip::ZipArchive<BufReader<std::fs::File>>)> = None;
                    let mut buffers = EntryBuffers::default();
                    loop {
                        let Some(&i) = schedule.get(next.fetch_add(1, Ordering::Relaxed)) else {
                            return;
                        };
                        let Some(unit) = units.get(i) else {
                            return;
                        };
                        let outcome = match unit {
                            Unit::Hash { zip } => {
                                hash_file(&zips[*zip].1).map(|h| (Some(h), UnitResult::default()))
                            }
                            Unit::Entries { zip, range } => {
                                let archive = match open.take() {
                                    Some((at, archive)) if at == *zip => Ok(archive),
                                    _ => open_zip(&zips[*zip].1),
                                };
                                archive.map(|mut archive| {
                                    let mut result = UnitResult::default();
                                    read_entries(
                                        &mut archive,
                                        range.clone(),
                                        max,
                                        &mut buffers,
                                        |r| match r {
                                            Ok(record) => {
                                                if let Some(c) = compact_record(record) {
                                                    result.push(c);
                                                }
                                            }
                                            Err(()) => result.skipped += 1,
                                        },
                                    );
                                    open = Some((*zip, archive));
                                    (None, result)
                                })
                            }
                        };
                        if let Ok(mut slots) = results.lock()
                            && let Some(slot) = slots.get_mut(i)
                        {
                            *slot = Some(outcome);
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            if worker.join().is_err() {
                return Err(LoadError::Thread("a loader thread panicked".into()));
            }
        }
        Ok(())
    })?;
    let slots = results
        .into_inner()
        .map_err(|_| LoadError::Thread("results lock poisoned".into()))?;
    slots
        .into_iter()
        .map(|slot| slot.ok_or_else(|| LoadError::Thread("a unit was not run".into())))
        .collect()
}

/// Loads a database root laid out as the OSV export.
pub fn load_dir(root: &Path, config: &LoadOptions) -> Result<Database, LoadError> {
    let zips = zips_in(root)?;
    let wanted: Vec<(String, PathBuf)> = zips
        .into_iter()
        .filter(|(eco, _)| config.ecosystems.is_empty() || config.ecosystems.contains(eco))
        .collect();
    if wanted.is_empty() {
        return Err(LoadError::Empty(root.to_path_buf()));
    }
    let max = config.max_record_bytes.unwrap_or(DEFAULT_MAX_RECORD_BYTES);
    // Split every zip into slices of entries (the central directory says
    // how many each has). Units are merged in zip and entry order, so the
    // database does not depend on scheduling; they are run largest zip
    // first, hashing first, so no thread is left with a long tail.
    let mut units = Vec::new();
    let mut sizes = Vec::new();
    let mut newest_file = None;
    for (z, (_, path)) in wanted.iter().enumerate() {
        units.push(Unit::Hash { zip: z });
        let entries = open_zip(path)?.len();
        sizes.push(entries);
        let mut start = 0;
        while start < entries {
            let end = (start + ENTRIES_PER_UNIT).min(entries);
            units.push(Unit::Entries {
                zip: z,
                range: start..end,
            });
            start = end;
        }
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        newest_file = newest_file.max(modified);
    }
    let mut schedule: Vec<usize> = (0..units.len()).collect();
    schedule.sort_by_key(|&i| match &units[i] {
        Unit::Hash { .. } => (0, 0, 0),
        Unit::Entries { zip, range } => (1, usize::MAX - sizes[*zip], range.start),
    });
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 16);
    let results = run_units(&wanted, &units, &schedule, max, threads)?;

    let mut hashes: Vec<Option<String>> = vec![None; wanted.len()];
    let mut assembly = Assembly::default();
    let mut skipped = vec![0usize; wanted.len()];
    for (unit, result) in units.iter().zip(results) {
        let (hash, result) = result?;
        let zip = match unit {
            Unit::Hash { zip } => {
                hashes[*zip] = hash;
                continue;
            }
            Unit::Entries { zip, .. } => *zip,
        };
        skipped[zip] += result.skipped;
        for compacted in result.records() {
            assembly.add(&wanted[zip].0, compacted?);
        }
    }
    let mut folded = Vec::with_capacity(wanted.len());
    for ((eco, path), hash) in wanted.iter().zip(hashes) {
        let hash =
            hash.ok_or_else(|| LoadError::Thread(format!("{} was not hashed", path.display())))?;
        folded.push((eco.clone(), hash));
    }
    for ((eco, _), count) in wanted.iter().zip(skipped) {
        if count > 0 {
            tracing::warn!(ecosystem = %eco, skipped = count, "records skipped: not valid OSV JSON");
        }
        if let Some(info) = assembly.ecosystems.get_mut(eco) {
            info.skipped = count;
        }
    }
    let updated_at = newest_file
        .and_then(|t| jiff::Timestamp::try_from(t).ok())
        .unwrap_or_else(jiff::Timestamp::now);
    Ok(assembly.finish(fold_revision(&folded), updated_at))
}

/// Builds a database from records already parsed, each with the base
/// ecosystem whose zip it came from: for tests and fuzzing, which have a
/// record in hand rather than an export on disk.
pub fn from_records<'a>(
    records: impl IntoIterator<Item = (String, Record<'a>)>,
    revision: String,
    updated_at: jiff::Timestamp,
) -> Database {
    let mut assembly = Assembly::default();
    for (eco, record) in records {
        if let Some(compacted) = compact_record(record) {
            assembly.add(&eco, compacted);
        }
    }
    assembly.finish(revision, updated_at)
}

/// Compacted records gathered into the index, in the order they are added.
#[derive(Default)]
struct Assembly {
    ecosystems: BTreeMap<String, EcosystemInfo>,
    index: PackageIndex,
    vulns: Vec<VulnRecord>,
}

impl Assembly {
    fn add(&mut self, base_ecosystem: &str, compacted: Compacted) {
        let Ok(slot) = u32::try_from(self.vulns.len()) else {
            return;
        };
        // An ecosystem is covered once it holds a record.
        let info = self
            .ecosystems
            .entry(base_ecosystem.to_string())
            .or_insert_with(|| EcosystemInfo {
                records: 0,
                releases: BTreeSet::new(),
                updated: None,
                skipped: 0,
            });
        info.records += 1;
        if compacted.modified.as_deref() > info.updated.as_deref() {
            info.updated = compacted.modified;
        }
        info.releases.extend(compacted.releases);
        for (eco, name, ranges, versions) in compacted.entries {
            self.index
                .entry(eco)
                .or_default()
                .entry(name)
                .or_default()
                .push(AffectedEntry {
                    record: slot,
                    ranges,
                    versions,
                });
        }
        self.vulns.push(compacted.record);
    }

    fn finish(mut self, revision: String, updated_at: jiff::Timestamp) -> Database {
        for (eco, packages) in &mut self.index {
            let scheme = VersionScheme::for_osv_ecosystem(eco);
            for entries in packages.values_mut() {
                entries.shrink_to_fit();
                entries.summarize(scheme);
            }
            packages.shrink_to_fit();
        }
        self.index.shrink_to_fit();
        borrow_alias_severities(&mut self.vulns);
        Database {
            revision,
            updated_at,
            records: self.vulns,
            index: self.index,
            ecosystems: self.ecosystems,
        }
    }
}
/// Records without a severity take the worst severity of the records that
/// share a CVE with them (named in `aliases` or `upstream`, or as their ID).
fn borrow_alias_severities(vulns: &mut [VulnRecord]) {
    let mut by_cve: HashMap<&str, usize> = HashMap::new();
    for (i, v) in vulns.iter().enumerate() {
        if v.severity_source == SeveritySource::None {
            continue;
        }
        for name in std::iter::once(&v.id).chain(&v.aliases).chain(&v.upstream) {
            let best = by_cve.entry(name.as_str()).or_insert(i);
            if vulns[*best].severity < v.severity {
                *best = i;
            }
        }
    }
    let borrowed: Vec<(usize, usize, ArcStr)> = vulns
        .iter()
        .enumerate()
        .filter(|(_, v)| v.severity_source == SeveritySource::None)
        .filter_map(|(i, v)| {
            std::iter::once(&v.id)
                .chain(&v.aliases)
                .chain(&v.upstream)
                .filter_map(|name| by_cve.get(name.as_str()).map(|src| (*src, name)))
                .max_by_key(|(src, _)| vulns[*src].severity)
                .map(|(src, name)| (i, src, name.clone()))
        })
        .collect();
    for (i, src, via) in borrowed {
        let (severity, score, vector) = (
            vulns[src].severity,
            vulns[src].cvss_score,
            vulns[src].cvss_vector.clone(),
        );
        let source_id = if via == vulns[src].id {
            via
        } else {
            vulns[src].id.clone()
        };
        let target = &mut vulns[i];
        target.severity = severity;
        target.severity_source = SeveritySource::Alias { id: source_id };
        target.cvss_score = score;
        target.cvss_vector = vector;
    }
}

/// The revision: a hash over each loaded ecosystem's name and zip hash.
fn fold_revision(hashes: &[(String, String)]) -> String {
    let mut revision = Sha256::new();
    for (eco, hash) in hashes {
        revision.update(eco.as_bytes());
        revision.update([0]);
        revision.update(hash.as_bytes());
        revision.update([0]);
    }
    hex::encode(revision.finalize())[..16].to_string()
}

/// The revision [`load_dir`] would give `root`, without parsing records:
/// lets a refresher skip reloading data that did not change.
pub fn revision_of(root: &Path, config: &LoadOptions) -> Result<String, LoadError> {
    let mut hashes = Vec::new();
    for (eco, path) in zips_in(root)? {
        if !config.ecosystems.is_empty() && !config.ecosystems.contains(&eco) {
            continue;
        }
        let mut file = std::fs::File::open(&path).map_err(io(&path))?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher).map_err(io(&path))?;
        hashes.push((eco, hex::encode(hasher.finalize())));
    }
    if hashes.is_empty() {
        return Err(LoadError::Empty(root.to_path_buf()));
    }
    Ok(fold_revision(&hashes))
}
