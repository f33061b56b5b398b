//! The scan history: every scan result kept as a JSON document (the
//! `scan --format json` schema) in a directory, one folder per image
//! repository, pruned by age and by count.

use crate::scan::format::ScanDocument;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How much history is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Retention {
    /// Documents older than this are deleted (`maxAge`, 180d).
    #[serde(deserialize_with = "crate::model::positive_duration")]
    pub max_age: crate::model::ConfigDuration,
    /// At most this many documents are kept per image repository (`maxScansPerImage`).
    pub max_scans_per_image: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_age: crate::model::ConfigDuration::secs(180 * 86_400),
            max_scans_per_image: 500,
        }
    }
}

/// Why the history could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history {path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("history document {path}: {cause}")]
    Document {
        path: PathBuf,
        cause: serde_json::Error,
    },
    #[error("scan time {0:?} of a history document is not an RFC 3339 timestamp")]
    Time(String),
}

/// A directory of scan documents.
#[derive(Debug, Clone)]
pub struct HistoryStore {
    root: PathBuf,
    retention: Retention,
}

/// The folder name of an image repository: the reference without tag and
/// digest, with every character outside `[A-Za-z0-9._-]` replaced, so a
/// hostile reference cannot name a path outside the store.
pub fn repository_folder(image: &str) -> String {
    let cleaned: String = super::running::repository_of(image)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(200)
        .collect();
    match cleaned.trim_start_matches('.') {
        "" => "_".to_string(),
        name => name.to_string(),
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> HistoryError + '_ {
    move |cause| HistoryError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

impl HistoryStore {
    pub fn new(root: impl Into<PathBuf>, retention: Retention) -> HistoryStore {
        HistoryStore {
            root: root.into(),
            retention,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes one scan document (atomically: a temporary file renamed into
    /// place, so a crash never leaves half a document), then prunes that
    /// image's history. Returns the document's path.
    pub fn record(
        &self,
        doc: &ScanDocument,
        now: jiff::Timestamp,
    ) -> Result<PathBuf, HistoryError> {
        let scanned: jiff::Timestamp = doc
            .scanned_at
            .parse()
            .map_err(|_| HistoryError::Time(doc.scanned_at.clone()))?;
        let folder = self.root.join(repository_folder(&doc.image));
        std::fs::create_dir_all(&folder).map_err(io_error(&folder))?;
        let digest_hex = digest_prefix(&doc.digest);
        // Two scans of one digest in the same millisecond are two documents.
        let stem = format!("{}-{digest_hex}", scanned.as_millisecond());
        let (name, path) = (0..)
            .map(|n| match n {
                0 => format!("{stem}.json"),
                n => format!("{stem}-{n}.json"),
            })
            .map(|name| {
                let path = folder.join(&name);
                (name, path)
            })
            .find(|(_, path)| !path.exists())
            .unwrap_or_else(|| unreachable!("the sequence of names is endless"));
        let tmp = folder.join(format!(".{name}.tmp"));
        let bytes = serde_json::to_vec_pretty(doc).map_err(|cause| HistoryError::Document {
            path: path.clone(),
            cause,
        })?;
        std::fs::write(&tmp, bytes).map_err(io_error(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_error(&path))?;
        self.prune(&folder, now)?;
        Ok(path)
    }

    /// Deletes documents past the retention, oldest first.
    fn prune(&self, folder: &Path, now: jiff::Timestamp) -> Result<(), HistoryError> {
        let mut entries = documents_in(folder)?;
        entries.sort();
        let max_age_ms =
            i64::try_from(self.retention.max_age.get().as_millis()).unwrap_or(i64::MAX);
        let cutoff_ms = now.as_millisecond().saturating_sub(max_age_ms);
        let excess = entries
            .len()
            .saturating_sub(self.retention.max_scans_per_image);
        for (index, (millis, path)) in entries.iter().enumerate() {
            if index < excess || *millis < cutoff_ms {
                std::fs::remove_file(path).map_err(io_error(path))?;
            }
        }
        Ok(())
    }

    /// Every document in the store, oldest first.
    pub fn load_all(&self) -> Result<Vec<ScanDocument>, HistoryError> {
        let mut all: Vec<(i64, PathBuf)> = Vec::new();
        let folders = match std::fs::read_dir(&self.root) {
            Ok(folders) => folders,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(&self.root)(e)),
        };
        for folder in folders {
            let folder = folder.map_err(io_error(&self.root))?.path();
            if folder.is_dir() {
                all.extend(documents_in(&folder)?);
            }
        }
        all.sort();
        all.into_iter()
            .map(|(_, path)| HistoryStore::read(&path))
            .collect()
    }

    /// The documents that may hold scans of `digest` under `image`'s
    /// repository, newest first (names carry the digest's first hex
    /// digits; a reader checks the document's digest). None if the
    /// repository has no folder.
    pub fn documents_of(&self, image: &str, digest: &str) -> Result<Vec<PathBuf>, HistoryError> {
        let folder = self.root.join(repository_folder(image));
        let prefix = digest_prefix(digest);
        let mut entries = match documents_in(&folder) {
            Ok(entries) => entries,
            Err(HistoryError::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        entries.retain(|(_, path)| {
            path.file_stem()
                .and_then(|n| n.to_str())
                .and_then(|n| n.split('-').nth(1))
                .is_some_and(|hex| hex == prefix)
        });
        // Same-millisecond scans (`-1`, `-2`…) are rare enough to leave
        // in name order.
        entries.sort();
        Ok(entries.into_iter().rev().map(|(_, path)| path).collect())
    }

    /// One document.
    pub fn read(path: &Path) -> Result<ScanDocument, HistoryError> {
        let bytes = std::fs::read(path).map_err(io_error(path))?;
        serde_json::from_slice(&bytes).map_err(|cause| HistoryError::Document {
            path: path.to_path_buf(),
            cause,
        })
    }
}

/// The digest's first 12 hex digits, as document names carry them.
fn digest_prefix(digest: &str) -> String {
    digest
        .trim_start_matches("sha256:")
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(12)
        .collect()
}

/// `(scan time in ms, path)` of each document in one image's folder;
/// temporary and foreign files are skipped.
fn documents_in(folder: &Path) -> Result<Vec<(i64, PathBuf)>, HistoryError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(io_error(folder))? {
        let path = entry.map_err(io_error(folder))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        if let Some(millis) = name.split('-').next().and_then(|m| m.parse::<i64>().ok()) {
            out.push((millis, path));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_folders_drop_tag_and_digest_and_cannot_escape() {
        assert_eq!(
            repository_folder("docker.io/library/nginx:1.25"),
            "docker.io_library_nginx"
        );
        assert_eq!(
            repository_folder("127.0.0.1:5000/app@sha256:abc"),
            "127.0.0.1_5000_app"
        );
        assert_eq!(repository_folder("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(repository_folder(".."), "_");
        assert_eq!(repository_folder(""), "_");
    }
}
