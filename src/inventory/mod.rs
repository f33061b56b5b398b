//! Layer walking (gzip/zstd/tar, whiteouts) and one detector per package
//! format. Every detector is a pure function from one file's bytes to
//! packages, so a layer's results can be cached by layer digest and the
//! image's inventory assembled from its layers' results.
//!
//! Use: [`analyze_layer`] on each layer blob (cache the `Arc<LayerAnalysis>`
//! by layer digest), then [`assemble`] the layers, bottom first.

pub mod assemble;
pub mod detectors;
pub(crate) mod layer;
pub(crate) mod purl;

pub use assemble::assemble;
pub use detectors::{DetectError, Detected, Detector, FileMeta};
pub use layer::{
    Compression, FileFinding, LayerAnalysis, LayerError, LayerLimits, LayerProblem, LayerStats,
    analyze_buffered_layer, analyze_layer,
};
