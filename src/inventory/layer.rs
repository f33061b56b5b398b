//! Reading one layer as a stream, once: decompression (gzip, zstd or plain
//! tar, told apart by their magic bytes), tar walking with normalised paths,
//! whiteouts recorded for `assemble`, and every file a detector wants read
//! (bounded) and analysed at once, so the layer's result is small and can be
//! cached by the layer's digest. Nothing is written to disk.

use super::detectors::{Detected, Detector, FileMeta};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Component, Path};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Limits on one layer (`scanner.layer*` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LayerLimits {
    /// Uncompressed bytes read from one layer before it is refused; stops
    /// decompression bombs early (`maxUncompressedBytes`).
    pub max_uncompressed_bytes: u64,
    /// Tar entries in one layer (`maxEntries`).
    pub max_entries: u64,
    /// Size of one file a detector reads (`maxFileBytes`); a larger one is
    /// reported as a problem and skipped.
    pub max_file_bytes: u64,
}

impl Default for LayerLimits {
    fn default() -> Self {
        LayerLimits {
            max_uncompressed_bytes: 8 << 30,
            max_entries: 1_000_000,
            max_file_bytes: 64 << 20,
        }
    }
}

/// Why a layer could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayerError {
    #[error("layer exceeds maxUncompressedBytes ({limit} bytes)")]
    UncompressedLimit { limit: u64 },
    #[error("layer exceeds maxEntries ({limit} entries)")]
    EntriesLimit { limit: u64 },
    #[error("layer is not a readable {format} stream: {reason}")]
    Corrupt {
        format: &'static str,
        reason: String,
    },
}

/// What one path of a layer contributes to the final filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Detected(Detected),
    /// A wanted file that could not be read (too large, unreadable); it
    /// still hides what a lower layer had at this path.
    Skipped(String),
}

/// Counts of what a layer held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerStats {
    pub entries: u64,
    pub uncompressed_bytes: u64,
    pub files_read: u64,
}

/// The result of reading one layer: small, immutable, cacheable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerAnalysis {
    pub digest: String,
    /// Per normalised path: what the detectors found there.
    pub found: BTreeMap<String, Found>,
    /// Paths deleted by `.wh.<name>` entries (and everything below them).
    pub whiteouts: Vec<String>,
    /// Directories whose lower-layer contents `.wh..wh..opq` hides.
    pub opaque_dirs: Vec<String>,
    pub stats: LayerStats,
    /// Non-fatal problems: entries skipped, files over the size cap.
    pub problems: Vec<String>,
}

impl LayerAnalysis {
    /// A rough size in bytes, for weighing cache entries.
    pub fn weight(&self) -> u32 {
        let paths: usize = self.found.keys().map(String::len).sum();
        let packages: usize = self
            .found
            .values()
            .map(|f| match f {
                Found::Detected(Detected::Packages(p)) => p.len() * 256,
                _ => 64,
            })
            .sum();
        u32::try_from(paths + packages + 512).unwrap_or(u32::MAX)
    }
}

/// Counts bytes through a reader and fails past a limit.
struct Counted<R> {
    inner: R,
    count: Arc<AtomicU64>,
    limit: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.count.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if total > self.limit {
            return Err(std::io::Error::other("maxUncompressedBytes"));
        }
        Ok(n)
    }
}

/// Normalises a tar path to `a/b/c`: no leading `/` or `./`, `.` dropped,
/// `..` resolved; `None` if it climbs out of the root.
pub fn normalize_path(path: &Path) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Some(parts.join("/"))
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// Reads a layer blob (compressed or not) and analyses it.
pub fn analyze_layer<'r, R: Read + 'r>(
    reader: R,
    layer_digest: &str,
    detectors: &[Box<dyn Detector>],
    limits: &LayerLimits,
) -> Result<LayerAnalysis, LayerError> {
    let mut buffered = BufReader::with_capacity(256 << 10, reader);
    let head = buffered.fill_buf().map_err(|e| LayerError::Corrupt {
        format: "layer",
        reason: e.to_string(),
    })?;
    let count = Arc::new(AtomicU64::new(0));
    let counted = |inner: Box<dyn Read + 'r>| Counted {
        inner,
        count: count.clone(),
        limit: limits.max_uncompressed_bytes,
    };
    let (format, stream): (&'static str, Box<dyn Read + 'r>) = if head.starts_with(GZIP_MAGIC) {
        let gz = flate2::bufread::MultiGzDecoder::new(buffered);
        ("gzip", Box::new(counted(Box::new(gz))))
    } else if head.starts_with(ZSTD_MAGIC) {
        let zst = zstd::stream::read::Decoder::with_buffer(buffered).map_err(|e| {
            LayerError::Corrupt {
                format: "zstd",
                reason: e.to_string(),
            }
        })?;
        ("zstd", Box::new(counted(Box::new(zst))))
    } else {
        ("tar", Box::new(counted(Box::new(buffered))))
    };
    let result = walk(stream, layer_digest, detectors, limits);
    let uncompressed = count.load(Ordering::Relaxed);
    if uncompressed > limits.max_uncompressed_bytes {
        return Err(LayerError::UncompressedLimit {
            limit: limits.max_uncompressed_bytes,
        });
    }
    let mut analysis = result.map_err(|e| match e {
        WalkError::Entries => LayerError::EntriesLimit {
            limit: limits.max_entries,
        },
        WalkError::Io(reason) => LayerError::Corrupt { format, reason },
    })?;
    analysis.stats.uncompressed_bytes = uncompressed;
    Ok(analysis)
}

enum WalkError {
    Entries,
    Io(String),
}

fn walk(
    stream: Box<dyn Read + '_>,
    layer_digest: &str,
    detectors: &[Box<dyn Detector>],
    limits: &LayerLimits,
) -> Result<LayerAnalysis, WalkError> {
    let mut analysis = LayerAnalysis {
        digest: layer_digest.to_string(),
        ..LayerAnalysis::default()
    };
    let mut archive = tar::Archive::new(stream);
    let entries = archive
        .entries()
        .map_err(|e| WalkError::Io(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| WalkError::Io(e.to_string()))?;
        analysis.stats.entries += 1;
        if analysis.stats.entries > limits.max_entries {
            return Err(WalkError::Entries);
        }
        let raw_path = match entry.path() {
            Ok(p) => p.into_owned(),
            Err(e) => {
                analysis
                    .problems
                    .push(format!("entry with an unreadable path: {e}"));
                continue;
            }
        };
        let Some(path) = normalize_path(&raw_path) else {
            analysis.problems.push(format!(
                "entry {} climbs out of the root; ignored",
                raw_path.display()
            ));
            continue;
        };
        let (dir, name) = match path.rsplit_once('/') {
            Some((dir, name)) => (dir, name),
            None => ("", path.as_str()),
        };
        if name == ".wh..wh..opq" {
            analysis.opaque_dirs.push(dir.to_string());
            continue;
        }
        if let Some(deleted) = name.strip_prefix(".wh.") {
            let target = if dir.is_empty() {
                deleted.to_string()
            } else {
                format!("{dir}/{deleted}")
            };
            analysis.whiteouts.push(target);
            continue;
        }
        // Links are not followed: a link's target may lie outside this
        // layer or outside the root, and detectors read regular files only.
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let size = entry.size();
        let mode = entry.header().mode().unwrap_or(0);
        let meta = FileMeta {
            path: &path,
            size,
            mode,
        };
        let wanting: Vec<&Box<dyn Detector>> =
            detectors.iter().filter(|d| d.wants(&meta)).collect();
        if wanting.is_empty() {
            continue;
        }
        if size > limits.max_file_bytes {
            analysis.found.insert(
                path.clone(),
                Found::Skipped(format!(
                    "{size} bytes, over maxFileBytes ({})",
                    limits.max_file_bytes
                )),
            );
            continue;
        }
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        if let Err(e) = (&mut entry)
            .take(limits.max_file_bytes)
            .read_to_end(&mut data)
        {
            return Err(WalkError::Io(e.to_string()));
        }
        analysis.stats.files_read += 1;
        let mut result = Found::Detected(Detected::Nothing);
        for detector in wanting {
            match detector.detect(&meta, &data) {
                Ok(Detected::Nothing) => {}
                Ok(detected) => {
                    result = Found::Detected(detected);
                    break;
                }
                Err(e) => analysis.problems.push(e.to_string()),
            }
        }
        analysis.found.insert(path, result);
    }
    Ok(analysis)
}

#[cfg(test)]
mod tests {
    use super::normalize_path;
    use std::path::Path;

    #[test]
    fn paths_normalise_inside_the_root() {
        let n = |p: &str| normalize_path(Path::new(p));
        assert_eq!(n("./etc/os-release").as_deref(), Some("etc/os-release"));
        assert_eq!(n("/usr//lib/./x").as_deref(), Some("usr/lib/x"));
        assert_eq!(n("a/b/../c").as_deref(), Some("a/c"));
        assert_eq!(n("../etc/passwd"), None);
        assert_eq!(n("a/../../etc"), None);
    }
}
