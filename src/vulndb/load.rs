//! Loading the OSV export's layout: `<root>/<Ecosystem>/all.zip`, one JSON
//! record per file. A record that does not parse is skipped and counted,
//! never a reason to fail the load; withdrawn records are left out.

use super::osv::{self, Record};
use super::ranges::{CompactRange, EventKind};
use super::severity;
use super::{AffectedEntry, Database, EcosystemInfo, VulnRecord};
use crate::model::SeveritySource;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Which data to load (`database:` in the config).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DbConfig {
    /// Base ecosystems to load (`Debian`, `Go`, …); empty loads all present.
    pub ecosystems: Vec<String>,
    /// Largest record accepted, in bytes (`maxRecordBytes`); larger ones are skipped.
    pub max_record_bytes: Option<u64>,
}

/// Default for [`DbConfig::max_record_bytes`]: the largest real records are
/// a few hundred KiB.
pub const DEFAULT_MAX_RECORD_BYTES: u64 = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("database root {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a readable zip: {source}")]
    Zip {
        path: PathBuf,
        #[source]
        source: zip::result::ZipError,
    },
    #[error("database root {0} holds no <Ecosystem>/all.zip")]
    Empty(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LoadError + '_ {
    move |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
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

fn compact(affected: &osv::Affected) -> (Vec<CompactRange>, Vec<Box<str>>) {
    let ranges = affected
        .ranges
        .iter()
        .filter(|r| r.kind == "ECOSYSTEM" || r.kind == "SEMVER")
        .map(|r| CompactRange {
            events: r
                .events
                .iter()
                .filter_map(|e| {
                    if let Some(v) = &e.introduced {
                        Some((EventKind::Introduced, v.as_str().into()))
                    } else if let Some(v) = &e.fixed {
                        Some((EventKind::Fixed, v.as_str().into()))
                    } else if let Some(v) = &e.last_affected {
                        Some((EventKind::LastAffected, v.as_str().into()))
                    } else {
                        e.limit
                            .as_ref()
                            .map(|v| (EventKind::Limit, v.as_str().into()))
                    }
                })
                .collect(),
        })
        .filter(|r| !r.events.is_empty())
        .collect();
    let versions = affected
        .versions
        .iter()
        .map(|v| v.as_str().into())
        .collect();
    (ranges, versions)
}

/// Builds the database from parsed records (any ecosystems, any order).
pub fn build(
    records: Vec<(String, Record)>,
    revision: String,
    skipped: BTreeMap<String, usize>,
    updated_at: jiff::Timestamp,
) -> Database {
    let mut ecosystems: BTreeMap<String, EcosystemInfo> = BTreeMap::new();
    let mut index: HashMap<(Box<str>, Box<str>), Vec<AffectedEntry>> = HashMap::new();
    let mut vulns = Vec::with_capacity(records.len());
    for (base, record) in records {
        if record.withdrawn.is_some() {
            continue;
        }
        let info = ecosystems
            .entry(base.clone())
            .or_insert_with(|| EcosystemInfo {
                records: 0,
                releases: BTreeSet::new(),
                updated: None,
                skipped: 0,
            });
        info.records += 1;
        if record.modified.as_deref() > info.updated.as_deref() {
            info.updated = record.modified.clone();
        }
        let Ok(slot) = u32::try_from(vulns.len()) else {
            break;
        };
        for affected in &record.affected {
            let Some(package) = &affected.package else {
                continue;
            };
            if let Some((_, release)) = package.ecosystem.split_once(':') {
                info.releases.insert(release.to_string());
            }
            let (ranges, versions) = compact(affected);
            if ranges.is_empty() && versions.is_empty() {
                continue;
            }
            let name = super::ecosystem::record_name(&package.ecosystem, &package.name);
            index
                .entry((package.ecosystem.as_str().into(), name.into()))
                .or_default()
                .push(AffectedEntry {
                    record: slot,
                    ranges,
                    versions,
                });
        }
        let rated = severity::rate(&record);
        vulns.push(VulnRecord {
            id: record.id,
            aliases: record.aliases,
            upstream: record.upstream,
            summary: record.summary,
            published: record.published,
            severity: rated.severity,
            severity_source: rated.source,
            cvss_score: rated.score,
            cvss_vector: rated.vector,
        });
    }
    for (base, count) in skipped {
        if let Some(info) = ecosystems.get_mut(&base) {
            info.skipped = count;
        }
    }
    borrow_alias_severities(&mut vulns);
    Database {
        revision,
        updated_at,
        records: vulns,
        index,
        ecosystems,
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
    let borrowed: Vec<(usize, usize, String)> = vulns
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

/// Reads every record of one `all.zip`; returns the records, the number
/// skipped, and the zip's SHA-256.
pub fn read_zip(
    path: &Path,
    max_record_bytes: u64,
) -> Result<(Vec<Record>, usize, String), LoadError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let hash = hex::encode(Sha256::digest(&bytes));
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|source| LoadError::Zip {
            path: path.to_path_buf(),
            source,
        })?;
    let mut records = Vec::with_capacity(archive.len());
    let mut skipped = 0;
    let mut buf = Vec::new();
    for i in 0..archive.len() {
        let Ok(file) = archive.by_index(i) else {
            skipped += 1;
            continue;
        };
        if file.is_dir() || !file.name().is_ok_and(|n| n.ends_with(".json")) {
            continue;
        }
        buf.clear();
        // Read one byte past the cap so an oversized record is detected
        // without trusting the size the zip claims.
        let read = file.take(max_record_bytes + 1).read_to_end(&mut buf);
        if read.is_err() || buf.len() as u64 > max_record_bytes {
            skipped += 1;
            continue;
        }
        match serde_json::from_slice::<Record>(&buf) {
            Ok(record) => records.push(record),
            Err(_) => skipped += 1,
        }
    }
    Ok((records, skipped, hash))
}

/// Loads a database root laid out as the OSV export.
pub fn load_dir(root: &Path, config: &DbConfig) -> Result<Database, LoadError> {
    let zips = zips_in(root)?;
    let wanted: Vec<(String, PathBuf)> = zips
        .into_iter()
        .filter(|(eco, _)| config.ecosystems.is_empty() || config.ecosystems.contains(eco))
        .collect();
    if wanted.is_empty() {
        return Err(LoadError::Empty(root.to_path_buf()));
    }
    let max = config.max_record_bytes.unwrap_or(DEFAULT_MAX_RECORD_BYTES);
    let mut all = Vec::new();
    let mut skipped = BTreeMap::new();
    let mut hashes = Vec::new();
    let mut newest_file = None;
    for (eco, path) in &wanted {
        let (records, skipped_here, hash) = read_zip(path, max)?;
        if skipped_here > 0 {
            tracing::warn!(ecosystem = %eco, skipped = skipped_here, "records skipped: not valid OSV JSON");
        }
        hashes.push((eco.clone(), hash));
        skipped.insert(eco.clone(), skipped_here);
        all.extend(records.into_iter().map(|r| (eco.clone(), r)));
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        newest_file = newest_file.max(modified);
    }
    let updated_at = newest_file
        .and_then(|t| jiff::Timestamp::try_from(t).ok())
        .unwrap_or_else(jiff::Timestamp::now);
    let revision = fold_revision(&hashes);
    Ok(build(all, revision, skipped, updated_at))
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
pub fn revision_of(root: &Path, config: &DbConfig) -> Result<String, LoadError> {
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
