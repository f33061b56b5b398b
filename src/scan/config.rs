//! The `orchestrator:` section of the configuration: caches, concurrency
//! and the budget of a scan made for a review.

use crate::model::ConfigDuration;
use serde::{Deserialize, Serialize};

/// The scan orchestrator: caches, concurrency and the budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct OrchestratorConfig {
    /// How long a cache miss may wait for its scan before `onScanPending`
    /// applies; keep it below the webhook's `timeoutSeconds`.
    pub scan_timeout: ConfigDuration,
    /// How long cached findings live.
    pub verdict_ttl: ConfigDuration,
    /// Total estimated bytes of cached findings.
    pub verdict_cache_max_bytes: u64,
    /// How long a tag → digest resolution is trusted.
    pub tag_ttl: ConfigDuration,
    /// How many tag resolutions are cached.
    pub tag_cache_max_entries: u64,
    /// How long a failed scan or resolution is remembered.
    pub error_ttl: ConfigDuration,
    /// Scans running at once.
    pub max_concurrent_scans: usize,
    /// Scans waiting for a slot; more are shed with `QueueFull`.
    pub max_queued_scans: usize,
}

impl Default for OrchestratorConfig {
    fn default() -> Self {
        OrchestratorConfig {
            scan_timeout: ConfigDuration::secs(8),
            verdict_ttl: ConfigDuration::secs(3600),
            verdict_cache_max_bytes: 256 * 1024 * 1024,
            tag_ttl: ConfigDuration::secs(60),
            tag_cache_max_entries: 10_000,
            error_ttl: ConfigDuration::secs(30),
            max_concurrent_scans: 4,
            max_queued_scans: 64,
        }
    }
}
