//! Streaming analysis of one image layer.
//!
//! A layer (gzip, zstd or plain tar, detected from its first bytes) is read
//! once, front to back; nothing is written to disk. Each regular file that a
//! detector wants is read into memory (at most [`LayerLimits::max_file_bytes`])
//! and handed to the detectors at once, so the result is small and can be
//! cached by layer digest. [`crate::inventory::assemble`] then stacks the
//! layers' results, applying whiteouts, into the final filesystem's view.
//!
//! Links: hard and symbolic links are never followed. They are recorded as
//! entries (so they replace whatever a lower layer had at their path) but no
//! detector ever reads through them: detectors only see the bytes of the
//! regular file at the very path they asked for, in this layer. Following a
//! link would need a target inside this layer's own tree, which the
//! streaming read has usually gone past, and a link to a lower layer's file
//! would make the layer's result depend on other layers (uncacheable).
//! Package databases are regular files in practice; `etc/os-release` is
//! often a symlink, which is why `usr/lib/os-release` is also read.

mod path;
mod stream;

use std::collections::{BTreeMap, HashSet};
use std::io::{self, BufRead, BufReader, Read};
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use super::detectors::{DetectError, Detected, Detector, DetectorLimits, FileMeta};
use crate::model::ArcStr;
use path::EntryRole;
pub(crate) use path::{ancestors, is_at_or_below};
pub use stream::Compression;
use stream::{OpenError, StreamState};

/// Limits on one layer's analysis; each is a config key (camelCase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LayerLimits {
    /// Most uncompressed tar bytes read from one layer (`maxUncompressedBytes`,
    /// default 8 GiB). Reading stops as soon as it is exceeded, so a
    /// decompression bomb costs at most this much work.
    pub max_uncompressed_bytes: u64,
    /// Most tar entries in one layer (`maxEntries`, default 1,000,000).
    pub max_entries: u64,
    /// Largest single file a detector may read into memory (`maxFileBytes`,
    /// default 128 MiB; large enough for a RHEL rpmdb or a big Go binary).
    /// A wanted file above it is reported as a problem and skipped.
    pub max_file_bytes: u64,
    /// Each detector's own file size cap (`maxPackageJsonBytes`, …).
    #[serde(flatten)]
    pub detectors: DetectorLimits,
}

impl Default for LayerLimits {
    fn default() -> Self {
        LayerLimits {
            max_uncompressed_bytes: 8 << 30,
            max_entries: 1_000_000,
            max_file_bytes: 128 << 20,
            detectors: DetectorLimits::default(),
        }
    }
}

/// Why a layer could not be analyzed. The layer's result is then unknown;
/// the scan must not pretend it is empty.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("layer {digest}: more than {limit} uncompressed bytes (maxUncompressedBytes)")]
    UncompressedTooLarge { digest: String, limit: u64 },
    #[error("layer {digest}: more than {limit} tar entries (maxEntries)")]
    TooManyEntries { digest: String, limit: u64 },
    #[error("layer {digest}: unsupported compression {compression}")]
    UnsupportedCompression {
        digest: String,
        compression: &'static str,
    },
    #[error(
        "layer {digest}: stream ends early (truncated after {uncompressed_bytes} uncompressed bytes)"
    )]
    Truncated {
        digest: String,
        uncompressed_bytes: u64,
    },
    #[error("layer {digest}: corrupt: {reason}")]
    Corrupt { digest: String, reason: String },
    #[error("layer {digest}: reading the layer failed: {source}")]
    Source {
        digest: String,
        #[source]
        source: io::Error,
    },
}

/// What the detectors found in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFinding {
    /// The detector's [`Detector::name`].
    pub detector: &'static str,
    /// Packages or OS; never [`Detected::Nothing`].
    pub detected: Detected,
}

/// A non-fatal problem in one layer: the file is skipped, the scan goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayerProblem {
    #[error("{path}: {size} bytes, above {key} {limit}; not analyzed")]
    FileTooLarge {
        path: String,
        size: u64,
        limit: u64,
        /// The config key: `maxFileBytes` or a detector's own cap.
        key: &'static str,
    },
    #[error(transparent)]
    Detect(#[from] DetectError),
}

/// Counts for one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerStats {
    pub compression: Compression,
    pub compressed_bytes: u64,
    pub uncompressed_bytes: u64,
    pub entries: u64,
    /// Files read and given to detectors.
    pub files_read: u64,
    pub bytes_read: u64,
}

/// The result of analyzing one layer on its own; independent of every other
/// layer, so it can be cached by digest and shared between images.
#[derive(Debug, Clone)]
pub struct LayerAnalysis {
    pub digest: String,
    /// Per normalized path: what the detectors found there (only paths with
    /// findings). Package locations carry this layer's digest and the path.
    pub files: BTreeMap<String, Vec<FileFinding>>,
    /// Paths this layer deletes from lower layers (`.wh.name`), with all below them.
    pub whiteouts: Vec<String>,
    /// Directories whose lower-layer contents this layer hides (`.wh..wh..opq`);
    /// `""` is the root.
    pub opaque_dirs: Vec<String>,
    pub stats: LayerStats,
    pub problems: Vec<LayerProblem>,
    entries: PathIndex,
}

impl LayerAnalysis {
    /// True when this layer hides a lower layer's file at `path`: it has an
    /// entry at `path` (any type) or a non-directory at one of its ancestors,
    /// deletes it or an ancestor, or marks an ancestor opaque.
    pub fn hides(&self, path: &str) -> bool {
        self.entries.contains_any(path)
            || ancestors(path).any(|dir| self.entries.contains_non_dir(dir))
            || self.whiteouts.iter().any(|w| is_at_or_below(path, w))
            || self
                .opaque_dirs
                .iter()
                .any(|d| d.as_str() != path && is_at_or_below(path, d))
    }
}

/// Which paths a layer has entries at, kept as 64-bit FNV-1a hashes so a
/// layer with many files stays small in the cache. A collision could at
/// worst hide a lower layer's file, which the image's author could do
/// anyway with a whiteout.
#[derive(Debug, Clone, Default)]
struct PathIndex {
    any: HashSet<u64>,
    non_dir: HashSet<u64>,
}

impl PathIndex {
    fn insert(&mut self, path: &str, is_dir: bool) {
        let hash = fnv1a(path);
        self.any.insert(hash);
        if !is_dir {
            self.non_dir.insert(hash);
        }
    }
    fn contains_any(&self, path: &str) -> bool {
        self.any.contains(&fnv1a(path))
    }
    fn contains_non_dir(&self, path: &str) -> bool {
        self.non_dir.contains(&fnv1a(path))
    }
}

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Reads one layer blob (gzip, zstd or plain tar) once, to its end, and runs
/// the detectors on the files they want. Runs synchronously: call it from a
/// blocking task. Errors from `reader` come back as [`LayerError::Source`].
pub fn analyze_layer<R: Read>(
    reader: R,
    layer_digest: &str,
    detectors: &[Box<dyn Detector>],
    limits: &LayerLimits,
) -> Result<LayerAnalysis, LayerError> {
    let buffered = BufReader::with_capacity(64 * 1024, reader);
    analyze_buffered_layer(buffered, layer_digest, detectors, limits)
}

/// [`analyze_layer`] on a source that is already buffered: the decoder reads
/// its buffers in place.
pub fn analyze_buffered_layer<R: BufRead>(
    reader: R,
    layer_digest: &str,
    detectors: &[Box<dyn Detector>],
    limits: &LayerLimits,
) -> Result<LayerAnalysis, LayerError> {
    let state = Rc::new(StreamState::default());
    let (stream, compression) = match stream::open(reader, limits.max_uncompressed_bytes, &state) {
        Ok(opened) => opened,
        Err(OpenError::Unsupported(compression)) => {
            return Err(LayerError::UnsupportedCompression {
                digest: layer_digest.to_string(),
                compression,
            });
        }
        Err(OpenError::Io(e)) => return Err(classify(e, &state, layer_digest, limits)),
    };
    let mut walk = Walk {
        digest: layer_digest,
        detectors,
        limits,
        files: BTreeMap::new(),
        whiteouts: Vec::new(),
        opaque_dirs: Vec::new(),
        problems: Vec::new(),
        entries: PathIndex::default(),
        entry_count: 0,
        files_read: 0,
        bytes_read: 0,
    };
    walk.run(stream).map_err(|e| match e {
        WalkError::Io(e) => classify(e, &state, layer_digest, limits),
        WalkError::Layer(e) => e,
    })?;
    let stats = LayerStats {
        compression,
        compressed_bytes: state.compressed_bytes.get(),
        uncompressed_bytes: state.uncompressed_bytes.get(),
        entries: walk.entry_count,
        files_read: walk.files_read,
        bytes_read: walk.bytes_read,
    };
    Ok(LayerAnalysis {
        digest: layer_digest.to_string(),
        files: walk.files,
        whiteouts: walk.whiteouts,
        opaque_dirs: walk.opaque_dirs,
        stats,
        problems: walk.problems,
        entries: walk.entries,
    })
}

/// Names an I/O failure from the stream by what the readers saw.
fn classify(
    error: io::Error,
    state: &StreamState,
    digest: &str,
    limits: &LayerLimits,
) -> LayerError {
    let digest = digest.to_string();
    if let Some(source) = state.source_error.borrow_mut().take() {
        return LayerError::Source { digest, source };
    }
    if state.cap_exceeded.get() {
        return LayerError::UncompressedTooLarge {
            digest,
            limit: limits.max_uncompressed_bytes,
        };
    }
    if state.eof.get() || error.kind() == io::ErrorKind::UnexpectedEof {
        return LayerError::Truncated {
            digest,
            uncompressed_bytes: state.uncompressed_bytes.get(),
        };
    }
    LayerError::Corrupt {
        digest,
        reason: error.to_string(),
    }
}

/// A forward-only `Seek` over a stream: `SeekFrom::Current(n)` reads and
/// discards `n` bytes; every other seek is an error. Tracks the position
/// the tar reader computes its skips from.
struct Skip<R> {
    inner: R,
    position: u64,
    scratch: Vec<u8>,
}

impl<R: Read> Skip<R> {
    fn new(inner: R) -> Self {
        Skip {
            inner,
            position: 0,
            scratch: Vec::new(),
        }
    }
}

impl<R: Read> Read for Skip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.position = self.position.saturating_add(n as u64);
        Ok(n)
    }
}

impl<R: Read> io::Seek for Skip<R> {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let io::SeekFrom::Current(delta) = to else {
            return Err(io::Error::other("a layer stream only seeks forward"));
        };
        let mut left = u64::try_from(delta)
            .map_err(|_| io::Error::other("a layer stream only seeks forward"))?;
        if left > 0 && self.scratch.is_empty() {
            self.scratch = vec![0; 64 * 1024];
        }
        while left > 0 {
            let want = usize::try_from(left.min(self.scratch.len() as u64)).unwrap_or(0);
            let n = self.inner.read(&mut self.scratch[..want])?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "layer ends inside an entry",
                ));
            }
            left -= n as u64;
            self.position = self.position.saturating_add(n as u64);
        }
        Ok(self.position)
    }
}

enum WalkError {
    Io(io::Error),
    Layer(LayerError),
}

impl From<io::Error> for WalkError {
    fn from(e: io::Error) -> Self {
        WalkError::Io(e)
    }
}

struct Walk<'a> {
    digest: &'a str,
    detectors: &'a [Box<dyn Detector>],
    limits: &'a LayerLimits,
    files: BTreeMap<String, Vec<FileFinding>>,
    whiteouts: Vec<String>,
    opaque_dirs: Vec<String>,
    problems: Vec<LayerProblem>,
    entries: PathIndex,
    entry_count: u64,
    files_read: u64,
    bytes_read: u64,
}

impl Walk<'_> {
    fn run(&mut self, stream: Box<dyn Read + '_>) -> Result<(), WalkError> {
        // Seeking forward is how the tar reader skips an entry's data:
        // `Skip` discards through one reused buffer, where the tar crate's
        // own skip zeroes a fresh 32 KiB buffer for every entry.
        let mut archive = tar::Archive::new(Skip::new(stream));
        for entry in archive.entries_with_seek()? {
            let entry = entry?;
            self.entry_count += 1;
            if self.entry_count > self.limits.max_entries {
                return Err(WalkError::Layer(LayerError::TooManyEntries {
                    digest: self.digest.to_string(),
                    limit: self.limits.max_entries,
                }));
            }
            self.entry(entry)?;
        }
        // Read what follows the end-of-archive marker too, through the same
        // cap: gzip's CRC and length are checked, and a digest-verifying
        // source sees every byte of the blob.
        io::copy(&mut archive.into_inner(), &mut io::sink())?;
        Ok(())
    }

    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<(), WalkError> {
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            return Ok(());
        }
        let Some(path) = path::normalize(&entry.path_bytes()) else {
            return Ok(());
        };
        match path::role(&path) {
            EntryRole::Whiteout(target) => {
                self.whiteouts.push(target);
                return Ok(());
            }
            EntryRole::Opaque(dir) => {
                self.opaque_dirs.push(dir.to_string());
                return Ok(());
            }
            EntryRole::Plain => {}
        }
        let is_dir = kind.is_dir();
        self.entries.insert(&path, is_dir);
        // A later entry at the same path replaces an earlier one in this layer;
        // a non-directory also replaces everything that was below it.
        self.files.remove(&path);
        if !is_dir {
            let below = format!("{path}/");
            self.files.retain(|p, _| !p.starts_with(&below));
        }
        if !(kind.is_file() || kind == tar::EntryType::Continuous) {
            return Ok(());
        }
        let size = entry.size();
        let mode = entry.header().mode().unwrap_or(0) & 0o7777;
        let meta = FileMeta {
            path: &path,
            size,
            mode,
        };
        let mut wanting: Vec<&dyn Detector> = self
            .detectors
            .iter()
            .map(|d| d.as_ref())
            .filter(|d| d.wants(&meta))
            .collect();
        if wanting.is_empty() {
            return Ok(());
        }
        if size > self.limits.max_file_bytes {
            self.problems.push(LayerProblem::FileTooLarge {
                path: path.clone(),
                size,
                limit: self.limits.max_file_bytes,
                key: "maxFileBytes",
            });
            return Ok(());
        }
        let caps = &self.limits.detectors;
        let mut refused = Vec::new();
        wanting.retain(|d| match d.size_limit(caps) {
            Some((key, limit)) if size > limit => {
                refused.push(LayerProblem::FileTooLarge {
                    path: path.clone(),
                    size,
                    limit,
                    key,
                });
                false
            }
            _ => true,
        });
        self.problems.extend(refused);
        if wanting.is_empty() {
            return Ok(());
        }
        let data = read_exactly(&mut entry, size)?;
        self.files_read += 1;
        self.bytes_read += size;
        let findings = self.detect(&wanting, &meta, &data);
        if !findings.is_empty() {
            self.files.insert(path, findings);
        }
        Ok(())
    }

    fn detect(
        &mut self,
        wanting: &[&dyn Detector],
        meta: &FileMeta<'_>,
        data: &[u8],
    ) -> Vec<FileFinding> {
        let mut findings = Vec::new();
        for detector in wanting {
            match detector.detect(meta, data) {
                Ok(Detected::Nothing) => {}
                Ok(detected) => findings.push(FileFinding {
                    detector: detector.name(),
                    detected: self.locate(detected, meta.path),
                }),
                Err(e) => self.problems.push(LayerProblem::Detect(e)),
            }
        }
        findings
    }

    /// Stamps every package with this layer and the file it came from.
    fn locate(&self, detected: Detected, path: &str) -> Detected {
        match detected {
            Detected::Packages(mut packages) => {
                let layer = ArcStr::from(self.digest.to_string());
                let path = ArcStr::from(path);
                for package in &mut packages {
                    package.location.layer = Some(layer.clone());
                    package.location.path = path.clone();
                }
                Detected::Packages(packages)
            }
            other => other,
        }
    }
}

/// Reads an entry's declared size; a short read means the stream is cut.
fn read_exactly<R: Read>(entry: &mut R, size: u64) -> io::Result<Vec<u8>> {
    // Grow as bytes arrive rather than trusting the header's size up front.
    let mut data = Vec::with_capacity(usize::try_from(size.min(1 << 20)).unwrap_or(0));
    entry.take(size).read_to_end(&mut data)?;
    if (data.len() as u64) < size {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "file data ends early",
        ));
    }
    Ok(data)
}
