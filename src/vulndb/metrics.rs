//! Prometheus metrics of the database: syncs per ecosystem and outcome,
//! reloads, and the records in service.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct SyncLabels {
    pub ecosystem: String,
    /// `updated`, `unchanged` or `failed`.
    pub outcome: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReloadLabels {
    /// `swapped`, `unchanged` or `failed`.
    pub outcome: String,
}

/// The database's metrics; cheap to clone (shared counters).
#[derive(Debug, Clone, Default)]
pub struct DbMetrics {
    pub syncs: Family<SyncLabels, Counter>,
    pub reloads: Family<ReloadLabels, Counter>,
    pub records: Gauge,
}

impl DbMetrics {
    pub fn sync(&self, ecosystem: &str, outcome: &str) {
        self.syncs
            .get_or_create(&SyncLabels {
                ecosystem: ecosystem.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    pub fn reload(&self, outcome: &str) {
        self.reloads
            .get_or_create(&ReloadLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// How many syncs of `ecosystem` ended with `outcome` so far.
    pub fn sync_count(&self, ecosystem: &str, outcome: &str) -> u64 {
        self.syncs
            .get_or_create(&SyncLabels {
                ecosystem: ecosystem.to_string(),
                outcome: outcome.to_string(),
            })
            .get()
    }
}

/// Registers the database metrics under `scangate_db_*`.
pub fn register_metrics(registry: &mut Registry) -> DbMetrics {
    let metrics = DbMetrics::default();
    registry.register(
        "scangate_db_syncs",
        "Ecosystem downloads from the mirror by outcome (updated, unchanged, failed)",
        metrics.syncs.clone(),
    );
    registry.register(
        "scangate_db_reloads",
        "In-memory database reloads by outcome (swapped, unchanged, failed)",
        metrics.reloads.clone(),
    );
    registry.register(
        "scangate_db_records",
        "Vulnerability records in the database in service",
        metrics.records.clone(),
    );
    metrics
}
