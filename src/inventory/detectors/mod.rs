//! The detector interface and the list of all detectors.

pub mod language;
pub(crate) mod limits;
pub mod system;

pub use limits::DetectorLimits;

use crate::model::OsInfo;

/// What the walker knows of a file before reading it.
#[derive(Debug, Clone, Copy)]
pub struct FileMeta<'a> {
    /// Normalized path inside the image, no leading slash (`var/lib/dpkg/status`).
    pub path: &'a str,
    /// Uncompressed size in bytes.
    pub size: u64,
    /// Unix permission bits (`0o755`).
    pub mode: u32,
}

impl FileMeta<'_> {
    pub fn is_executable(&self) -> bool {
        self.mode & 0o111 != 0
    }
}

/// What a detector found in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detected {
    Packages(Vec<crate::model::Package>),
    Os(OsInfo),
    Nothing,
}

/// A file a detector wanted but could not read; reported, never fatal to the scan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detector}: {path}: {reason}")]
pub struct DetectError {
    pub detector: &'static str,
    pub path: String,
    pub reason: String,
}

/// A package-format detector: a pure function from one file's bytes to what
/// it holds.
pub trait Detector: Send + Sync {
    fn name(&self) -> &'static str;
    /// Whether the walker should read this file (a cheap check on path, size, mode).
    /// Size caps do not belong here: see [`Detector::size_limit`].
    fn wants(&self, file: &FileMeta<'_>) -> bool;
    /// The config key and value of the largest file this detector reads. A
    /// wanted file above it is not read and is reported under that key,
    /// never skipped in silence.
    fn size_limit(&self, _limits: &DetectorLimits) -> Option<(&'static str, u64)> {
        None
    }
    /// Reads the packages (or OS) out of the file's bytes.
    fn detect(&self, file: &FileMeta<'_>, data: &[u8]) -> Result<Detected, DetectError>;
}

/// Every detector, OS package databases first.
pub fn all() -> Vec<Box<dyn Detector>> {
    let mut detectors = system::detectors();
    detectors.extend(language::detectors());
    detectors
}
