//! The scan orchestrator: reference → digest, cached findings keyed by
//! `(digest, database revision)`, single flight per digest, bounded
//! concurrency, the scan budget; and the [`Scanner`] it drives.

pub(crate) mod config;
pub(crate) mod cpu;
pub(crate) mod engine;
pub(crate) mod error;
pub mod format;
pub(crate) mod layer_cache;
pub(crate) mod limits;
pub(crate) mod local_images;
pub(crate) mod metrics;
pub mod orchestrator;

pub use config::OrchestratorConfig;
pub use engine::ImageScanner;
pub use error::ScanError;
pub use layer_cache::LayerCacheStats;
pub use limits::ScannerConfig;

use crate::model::{DatabaseStatus, ScanReport};
use crate::registry::{Credentials, ImageRef};
use async_trait::async_trait;

/// Turns an image into findings. The real implementation pulls from the
/// registry, reads the layers and matches against the OSV database; tests of
/// the webhook may use one that reads reports from files.
#[async_trait]
pub trait Scanner: Send + Sync + 'static {
    /// Resolves the reference to a manifest digest (`sha256:…`). A reference
    /// that carries a digest returns it without a registry round trip.
    async fn resolve(&self, image: &ImageRef, creds: &Credentials) -> Result<String, ScanError>;

    /// Scans the image at `digest` against the current database.
    async fn scan(
        &self,
        image: &ImageRef,
        digest: &str,
        creds: &Credentials,
    ) -> Result<ScanReport, ScanError>;

    /// The database in service, or `None` while none is loaded (not ready).
    fn database(&self) -> Option<DatabaseStatus>;

    /// `report`'s inventory matched again against the database in service,
    /// without the registry: an image's contents do not change with the
    /// database, so a database swap needs no new scan. `None` when this
    /// scanner cannot (the caller then scans).
    fn rematch(&self, report: &ScanReport) -> Option<ScanReport> {
        let _ = report;
        None
    }
}
