//! Layer walking (gzip/zstd/tar, whiteouts) and one detector per package
//! format. Every detector is a pure function from one file's bytes to
//! packages, so a layer's results can be cached by layer digest and the
//! image's inventory assembled from its layers' results.

pub mod detectors;

pub use detectors::{DetectError, Detected, Detector, FileMeta};
