//! The loaded index on disk (postcard), keyed by the database revision, so
//! a restart skips unzipping and parsing JSON. A snapshot that is missing,
//! stale or unreadable is simply rebuilt from the zips.

use super::load::{self, LoadError, LoadOptions};
use super::package_entries::PackageEntries;
use super::stored::StoredRecord;
use super::{Database, EcosystemInfo, PackageIndex, VulnRecord};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Bumped whenever the snapshot layout changes; older files are ignored.
const SNAPSHOT_FORMAT: u32 = 6;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("snapshot {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

#[derive(Serialize, Deserialize)]
struct Stored {
    format: u32,
    revision: String,
    updated_at: String,
    records: Vec<StoredRecord>,
    index: Vec<(Box<str>, Box<str>, PackageEntries)>,
    ecosystems: Vec<(String, EcosystemInfo)>,
}

fn invalid(path: &Path, reason: impl ToString) -> SnapshotError {
    SnapshotError::Invalid {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Writes `db` to `path` (temporary file, then rename).
pub fn write_snapshot(db: &Database, path: &Path) -> Result<(), SnapshotError> {
    let io = |cause| SnapshotError::Io {
        path: path.to_path_buf(),
        cause,
    };
    let records = db.records.iter().map(StoredRecord::from).collect();
    let stored = Stored {
        format: SNAPSHOT_FORMAT,
        revision: db.revision.clone(),
        updated_at: db.updated_at.to_string(),
        records,
        index: db
            .index
            .iter()
            .flat_map(|(eco, packages)| {
                packages
                    .iter()
                    .map(|(name, entries)| (eco.clone(), name.clone(), entries.clone()))
            })
            .collect(),
        ecosystems: db
            .ecosystems
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = tempfile::Builder::new()
        .prefix(".snapshot.")
        .tempfile_in(dir)
        .map_err(io)?;
    let mut writer = std::io::BufWriter::new(tmp);
    postcard::to_io(&stored, &mut writer).map_err(|e| invalid(path, e))?;
    writer.flush().map_err(io)?;
    let tmp = writer.into_inner().map_err(|e| io(e.into_error()))?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Reads a snapshot written by [`write_snapshot`].
pub fn read_snapshot(path: &Path) -> Result<Database, SnapshotError> {
    let bytes = std::fs::read(path).map_err(|cause| SnapshotError::Io {
        path: path.to_path_buf(),
        cause,
    })?;
    let stored: Stored = postcard::from_bytes(&bytes).map_err(|e| invalid(path, e))?;
    if stored.format != SNAPSHOT_FORMAT {
        return Err(invalid(path, format!("format {}", stored.format)));
    }
    let records = stored.records.into_iter().map(VulnRecord::from).collect();
    let mut index = PackageIndex::new();
    for (eco, name, entries) in stored.index {
        index.entry(eco).or_default().insert(name, entries);
    }
    Ok(Database {
        revision: stored.revision,
        updated_at: stored.updated_at.parse().map_err(|e| invalid(path, e))?,
        records,
        index,
        ecosystems: stored.ecosystems.into_iter().collect(),
    })
}

/// Where the snapshot of `revision` lives under `dir`.
pub fn snapshot_path(dir: &Path, revision: &str) -> PathBuf {
    dir.join(format!("osv-{revision}.snapshot"))
}

/// Loads `root` from its snapshot in `snapshot_dir` when one matches the
/// zips' revision; otherwise from the zips, then writes the snapshot
/// (a failure to write is logged, not fatal).
pub fn load_with_snapshot(
    root: &Path,
    config: &LoadOptions,
    snapshot_dir: &Path,
) -> Result<Database, LoadError> {
    let revision = load::revision_of(root, config)?;
    let path = snapshot_path(snapshot_dir, &revision);
    match read_snapshot(&path) {
        Ok(db) if db.revision() == revision => return Ok(db),
        Ok(_) => tracing::warn!(path = %path.display(), "snapshot holds another revision"),
        Err(SnapshotError::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => tracing::warn!(%error, "snapshot unreadable; loading the zips"),
    }
    let db = load::load_dir(root, config)?;
    let written = snapshot_path(snapshot_dir, db.revision());
    match write_snapshot(&db, &written) {
        Ok(()) => prune(snapshot_dir, &written),
        Err(error) => tracing::warn!(%error, "could not write the database snapshot"),
    }
    Ok(db)
}

/// Removes the snapshots of other revisions from `dir` (they would never
/// be read again); failures are logged.
fn prune(dir: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path != keep
            && name.starts_with("osv-")
            && name.ends_with(".snapshot")
            && let Err(error) = std::fs::remove_file(&path)
        {
            tracing::warn!(%error, path = %path.display(), "could not remove an old snapshot");
        }
    }
}
