//! Writes the [`ImageScanReport`] of a digest (server-side apply, so a
//! create and an update are the same call), capped in size, with the
//! summaries of its latest scans; and the queue that keeps those writes off
//! the request path.

use crate::k8s::config::ReportsConfig;
use crate::k8s::report::{
    ImageScanReport, ImageScanReportSpec, ReportedFinding, ScanSummary, SeverityCounts, report_name,
};
use crate::model::{ScanReport, Severity, listing_order};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The field manager scangate applies with.
pub const FIELD_MANAGER: &str = "scangate";

/// Times a report write is read and merged again after a conflicting
/// write by another replica; then it fails (counted as `failed`).
const WRITE_CONFLICT_RETRIES: usize = 3;

/// Writes scan summaries as `ImageScanReport` objects.
#[derive(Clone)]
pub struct ReportWriter {
    api: Api<ImageScanReport>,
    max_findings: usize,
    history_length: usize,
}

impl ReportWriter {
    /// `max_findings` is config key `kubernetes.reports.maxFindings`
    /// (default [`crate::k8s::report::DEFAULT_MAX_REPORTED_FINDINGS`]).
    pub fn new(client: Client, max_findings: usize) -> ReportWriter {
        ReportWriter {
            api: Api::all(client),
            max_findings,
            history_length: ReportsConfig::default().history_length,
        }
    }

    /// How many scan summaries a report keeps (`kubernetes.reports.historyLength`).
    pub fn with_history_length(mut self, history_length: usize) -> ReportWriter {
        self.history_length = history_length.max(1);
        self
    }

    /// Creates or replaces the report object of `spec.digest`, keeping the
    /// summaries of the earlier scans and the per-finding state the stored
    /// object holds. The write is conditional on the version read (another
    /// replica's report or the leader's overdue marks may land in
    /// between): on a conflict it reads and merges again.
    pub async fn write(&self, spec: ImageScanReportSpec) -> Result<ImageScanReport, kube::Error> {
        retry_on_conflict(WRITE_CONFLICT_RETRIES, || self.write_once(&spec)).await
    }

    /// One read, merge and apply, conditional on the version read.
    async fn write_once(&self, spec: &ImageScanReportSpec) -> Result<ImageScanReport, kube::Error> {
        let name = report_name(&spec.digest);
        let stored = self.api.get_opt(&name).await?;
        let version = stored
            .as_ref()
            .and_then(|r| r.metadata.resource_version.clone());
        let stored = stored.map(|r| r.spec);
        let mut spec = spec.clone();
        keep_finding_state(&mut spec, stored.as_ref());
        let earlier = stored.map(|s| s.recent).unwrap_or_default();
        spec.recent = merge_recent(earlier, spec.summary(), self.history_length);
        let mut object = ImageScanReport::new(&name, spec);
        object.metadata.resource_version = version;
        cap_findings(&mut object.spec, self.max_findings);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        self.api.patch(&name, &params, &Patch::Apply(&object)).await
    }
}

/// Runs `write` (a read, a merge, and a write conditional on the version
/// read) again while another writer got in between (409 Conflict), at
/// most `retries` more times; then its error stands.
pub async fn retry_on_conflict<T, Fut>(
    retries: usize,
    mut write: impl FnMut() -> Fut,
) -> Result<T, kube::Error>
where
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut attempt = 0;
    loop {
        match write().await {
            Err(kube::Error::Api(e)) if e.code == 409 && attempt < retries => attempt += 1,
            other => return other,
        }
    }
}

/// What a report keeps of each finding across scans: its `firstSeen` (the
/// stored report's, else this scan's time) and its `overdueAlertedAt`.
pub fn keep_finding_state(spec: &mut ImageScanReportSpec, stored: Option<&ImageScanReportSpec>) {
    let earlier: HashMap<(&str, &str), &ReportedFinding> = stored
        .map(|s| {
            s.findings
                .iter()
                .map(|f| ((f.id.as_str(), f.package.as_str()), f))
                .collect()
        })
        .unwrap_or_default();
    let scanned_at = spec.scanned_at.clone();
    for finding in &mut spec.findings {
        let before = earlier.get(&(finding.id.as_str(), finding.package.as_str()));
        let seen = before
            .and_then(|f| f.first_seen.clone())
            .or_else(|| finding.first_seen.clone())
            .unwrap_or_else(|| scanned_at.clone());
        finding.first_seen = Some(seen);
        if finding.overdue_alerted_at.is_none() {
            finding.overdue_alerted_at = before.and_then(|f| f.overdue_alerted_at.clone());
        }
    }
}

/// Marks `findings` (by ID and package) of a stored report as alerted
/// overdue at `at`, keeping an earlier mark; `false` when nothing changed.
pub fn mark_overdue(
    spec: &mut ImageScanReportSpec,
    findings: &[(String, String)],
    at: &str,
) -> bool {
    let mut changed = false;
    for finding in &mut spec.findings {
        let wanted = findings
            .iter()
            .any(|(id, package)| *id == finding.id && *package == finding.package);
        if wanted && finding.overdue_alerted_at.is_none() {
            finding.overdue_alerted_at = Some(at.to_string());
            changed = true;
        }
    }
    changed
}

/// The earlier summaries plus `latest` (replacing a summary of the same
/// scan time), the newest `keep` of them, oldest first.
pub fn merge_recent(
    mut earlier: Vec<ScanSummary>,
    latest: ScanSummary,
    keep: usize,
) -> Vec<ScanSummary> {
    earlier.retain(|s| s.scanned_at != latest.scanned_at);
    earlier.push(latest);
    earlier.sort_by(|a, b| a.scanned_at.cmp(&b.scanned_at));
    let excess = earlier.len().saturating_sub(keep.max(1));
    earlier.drain(..excess);
    earlier
}

/// Counts of report writes by result, for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct ReportMetrics {
    writes: Family<ResultLabel, Counter>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabel {
    /// `written`, `failed` or `dropped` (queue full).
    result: &'static str,
}

impl ReportMetrics {
    pub fn register(registry: &mut Registry) -> ReportMetrics {
        let metrics = ReportMetrics::default();
        registry.register(
            "scangate_image_scan_reports",
            "ImageScanReport writes by result (written, failed, dropped when the queue was full)",
            metrics.writes.clone(),
        );
        metrics
    }

    fn count(&self, result: &'static str) {
        self.writes.get_or_create(&ResultLabel { result }).inc();
    }

    /// Writes of `result` so far.
    pub fn get(&self, result: &'static str) -> u64 {
        self.writes.get_or_create(&ResultLabel { result }).get()
    }
}

/// Report writes off the request path: a bounded queue drained by one
/// task, so a slow API server delays reports, never reviews.
#[derive(Clone)]
pub struct ReportQueue {
    queue: mpsc::Sender<ImageScanReportSpec>,
    metrics: ReportMetrics,
}

impl ReportQueue {
    /// Starts the writer task; it ends when every queue clone is dropped.
    pub fn start(
        writer: ReportWriter,
        capacity: usize,
        metrics: ReportMetrics,
    ) -> (ReportQueue, JoinHandle<()>) {
        let (queue, mut receiver) = mpsc::channel::<ImageScanReportSpec>(capacity.max(1));
        let task_metrics = metrics.clone();
        let task = tokio::spawn(async move {
            while let Some(spec) = receiver.recv().await {
                let digest = spec.digest.clone();
                match writer.write(spec).await {
                    Ok(_) => task_metrics.count("written"),
                    Err(error) => {
                        task_metrics.count("failed");
                        tracing::warn!(%digest, %error, "writing the ImageScanReport failed");
                    }
                }
            }
        });
        (ReportQueue { queue, metrics }, task)
    }

    /// Queues the summary of a finished scan; drops it (counted) when full.
    pub fn submit(&self, report: &ScanReport) {
        if self.queue.try_send(summarize(report)).is_err() {
            self.metrics.count("dropped");
            tracing::debug!(digest = %report.digest, "report queue full; ImageScanReport not written");
        }
    }
}

/// Cuts the findings to `max`, most severe first, and marks the cut.
pub fn cap_findings(spec: &mut ImageScanReportSpec, max: usize) {
    spec.findings
        .sort_by(|a, b| listing_order((a.severity, &a.id), (b.severity, &b.id)));
    if spec.findings.len() > max {
        spec.findings.truncate(max);
        spec.truncated = true;
    }
}

/// The compact summary of a scan report (uncapped; the writer caps it).
pub fn summarize(report: &ScanReport) -> ImageScanReportSpec {
    let mut counts = SeverityCounts::default();
    let mut fixable = SeverityCounts::default();
    let mut findings = Vec::new();
    for finding in &report.findings {
        bump(&mut counts, finding.severity);
        if finding.fixed_version.is_some() {
            bump(&mut fixable, finding.severity);
        }
        findings.push(ReportedFinding {
            id: finding.id.to_string(),
            package: finding.package.to_string(),
            severity: finding.severity,
            fixed_version: finding.fixed_version.clone(),
            first_seen: None,
            overdue_alerted_at: None,
        });
    }
    ImageScanReportSpec {
        digest: report.digest.clone(),
        image: report.image.clone(),
        counts,
        fixable,
        database_revision: report.db_revision.clone(),
        scanned_at: report.scanned_at.clone(),
        findings,
        truncated: false,
        recent: vec![],
    }
}

fn bump(counts: &mut SeverityCounts, severity: Severity) {
    let slot = match severity {
        Severity::Critical => &mut counts.critical,
        Severity::High => &mut counts.high,
        Severity::Medium => &mut counts.medium,
        Severity::Low => &mut counts.low,
        _ => &mut counts.unknown,
    };
    *slot = slot.saturating_add(1);
}
