//! Layer results cached by layer digest (weight-bounded), with single
//! flight: concurrent scans that need the same layer share one analysis.

use crate::inventory::LayerAnalysis;
use crate::scan::ScanError;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Counts of the layer cache since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerCacheStats {
    /// Layers analyzed (cache misses that ran to completion or failure).
    pub analyses: u64,
    /// Lookups answered from the cache or by another scan's analysis.
    pub hits: u64,
    pub entries: u64,
}

pub struct LayerCache {
    cache: moka::future::Cache<String, Arc<LayerAnalysis>>,
    analyses: AtomicU64,
    hits: AtomicU64,
}

/// Approximate bytes a cached result holds: its findings and path index.
fn weight(analysis: &LayerAnalysis) -> u32 {
    let packages: usize = analysis
        .files
        .values()
        .flatten()
        .map(|finding| match &finding.detected {
            crate::inventory::Detected::Packages(p) => p.len(),
            _ => 1,
        })
        .sum();
    let bytes = 1024
        + packages.saturating_mul(512)
        + usize::try_from(analysis.stats.entries)
            .unwrap_or(usize::MAX)
            .saturating_mul(40);
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

impl LayerCache {
    pub fn new(capacity_bytes: u64) -> LayerCache {
        LayerCache {
            cache: moka::future::Cache::builder()
                .max_capacity(capacity_bytes)
                .weigher(|_, value: &Arc<LayerAnalysis>| weight(value))
                .build(),
            analyses: AtomicU64::new(0),
            hits: AtomicU64::new(0),
        }
    }

    /// The cached analysis of `digest`, or the result of `analyze` (run at
    /// most once at a time per digest; failures are not cached).
    pub async fn get_or_analyze(
        &self,
        digest: &str,
        analyze: impl Future<Output = Result<LayerAnalysis, ScanError>>,
    ) -> Result<(Arc<LayerAnalysis>, bool), ScanError> {
        let ran = AtomicBool::new(false);
        let result = self
            .cache
            .try_get_with(digest.to_string(), async {
                ran.store(true, Ordering::Relaxed);
                self.analyses.fetch_add(1, Ordering::Relaxed);
                analyze.await.map(Arc::new)
            })
            .await;
        let hit = !ran.load(Ordering::Relaxed);
        if hit {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        result
            .map(|analysis| (analysis, hit))
            .map_err(|e| (*e).clone())
    }

    pub fn stats(&self) -> LayerCacheStats {
        LayerCacheStats {
            analyses: self.analyses.load(Ordering::Relaxed),
            hits: self.hits.load(Ordering::Relaxed),
            entries: self.cache.entry_count(),
        }
    }

    pub fn clear(&self) {
        self.cache.invalidate_all();
    }
}
