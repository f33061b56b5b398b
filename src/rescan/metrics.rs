//! Prometheus metrics of the re-scan loop: findings by severity and state
//! per workload, re-scans and their durations, time since the last
//! successful pass.

use crate::model::Severity;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct FindingLabels {
    pub severity: String,
    /// `open` or `overdue`.
    pub state: String,
    pub namespace: String,
    pub workload: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ResultLabels {
    /// `ok` or the scan error's label.
    pub result: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct SeverityLabels {
    pub severity: String,
}

/// The re-scan loop's metrics, registered once.
#[derive(Debug, Clone)]
pub struct RescanMetrics {
    pub findings: Family<FindingLabels, Gauge>,
    pub rescans: Family<ResultLabels, Counter>,
    pub new_findings: Family<SeverityLabels, Counter>,
    pub duration: Family<ResultLabels, Histogram, fn() -> Histogram>,
    pub seconds_since_success: Gauge<f64, AtomicU64>,
    pub running_digests: Gauge,
    pub cpu_queued: Gauge,
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 14))
}

impl RescanMetrics {
    pub fn register(registry: &mut Registry) -> RescanMetrics {
        let metrics = RescanMetrics {
            findings: Family::default(),
            rescans: Family::default(),
            new_findings: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
            seconds_since_success: Gauge::default(),
            running_digests: Gauge::default(),
            cpu_queued: Gauge::default(),
        };
        registry.register(
            "scangate_running_findings",
            "Findings in running images, by severity, state, namespace and workload",
            metrics.findings.clone(),
        );
        registry.register(
            "scangate_rescans",
            "Re-scans of running digests, by result",
            metrics.rescans.clone(),
        );
        registry.register(
            "scangate_rescan_new_findings",
            "Findings a re-scan found that the previous scan did not have",
            metrics.new_findings.clone(),
        );
        registry.register(
            "scangate_rescan_duration_seconds",
            "Time one re-scan took",
            metrics.duration.clone(),
        );
        registry.register(
            "scangate_rescan_seconds_since_success",
            "Seconds since the last re-scan pass that finished without errors",
            metrics.seconds_since_success.clone(),
        );
        registry.register(
            "scangate_running_digests",
            "Distinct image digests of running pods",
            metrics.running_digests.clone(),
        );
        registry.register(
            "scangate_rescan_cpu_queued",
            "Re-scan CPU work waiting for the low-priority re-scan threads; one that keeps growing means admission leaves them too little CPU",
            metrics.cpu_queued.clone(),
        );
        metrics
    }

    pub fn severity_label(severity: Severity) -> SeverityLabels {
        SeverityLabels {
            severity: severity.as_str().to_string(),
        }
    }
}
