//! Scanner metrics: limits hit, scan failures by reason, layer cache use.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabel {
    pub limit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

/// Counters the scanner updates; cheap to clone (shared handles).
#[derive(Clone, Debug, Default)]
pub struct ScanMetrics {
    pub limits_exceeded: Family<LimitLabel, Counter>,
    pub scan_failures: Family<ReasonLabel, Counter>,
    pub scans: Counter,
    pub layer_analyses: Counter,
    pub layer_cache_hits: Counter,
    pub manifest_cache_hits: Counter,
    pub blob_bytes: Counter,
    pub file_limits: Family<LimitLabel, Counter>,
}

impl ScanMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "scangate_scan_limit_exceeded",
            "Scans stopped by a named limit or timeout (label: config key)",
            self.limits_exceeded.clone(),
        );
        registry.register(
            "scangate_scan_failures",
            "Failed scans by reason",
            self.scan_failures.clone(),
        );
        registry.register("scangate_scans", "Scans finished", self.scans.clone());
        registry.register(
            "scangate_layer_analyses",
            "Layers downloaded and analyzed",
            self.layer_analyses.clone(),
        );
        registry.register(
            "scangate_layer_cache_hits",
            "Layers whose cached analysis was reused",
            self.layer_cache_hits.clone(),
        );
        registry.register(
            "scangate_manifest_cache_hits",
            "Image manifests taken from the cache by digest, without a registry request",
            self.manifest_cache_hits.clone(),
        );
        registry.register(
            "scangate_file_limit_exceeded",
            "Wanted files not analyzed because a per-file size cap was hit (label: config key)",
            self.file_limits.clone(),
        );
        registry.register(
            "scangate_blob_bytes",
            "Compressed layer bytes read",
            self.blob_bytes.clone(),
        );
    }

    /// Counts a failure, and the named limit when it was one.
    pub fn record_failure(&self, error: &crate::scan::ScanError) {
        use crate::scan::ScanError;
        self.scan_failures
            .get_or_create(&ReasonLabel {
                reason: error.metric_label().to_string(),
            })
            .inc();
        let limit = match error {
            ScanError::Limit { limit, .. } => Some(*limit),
            ScanError::Timeout { timeout, .. } => Some(*timeout),
            _ => None,
        };
        if let Some(limit) = limit {
            self.limits_exceeded
                .get_or_create(&LimitLabel {
                    limit: limit.to_string(),
                })
                .inc();
        }
    }
}
