//! Layer walking (gzip/zstd/tar, whiteouts) and one detector per package
//! format. Every detector is a pure function from one file's bytes to
//! packages, so a layer's results can be cached by layer digest and the
//! image's inventory assembled from its layers' results.

pub mod assemble;
pub mod detectors;
pub mod layer;
pub mod purl;

pub use assemble::assemble;
pub use detectors::{DetectError, Detected, Detector, FileMeta};
pub use layer::{LayerAnalysis, LayerError, LayerLimits, analyze_layer};
