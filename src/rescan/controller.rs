//! The routine re-scan loop (run by the leader only): every tick, the
//! running digests are compared with what was scanned under which database
//! revision; what is due is re-scanned, new findings are alerted and put on
//! the owning workloads as events, overdue findings are alerted once, and
//! the metrics are refreshed.

use super::metrics::{FindingLabels, RescanMetrics, ResultLabels};
use super::rescanner::Rescanner;
use super::running::{RunningImage, Workload, running_images};
use crate::model::Finding;
use crate::policy::eval::NamespaceExceptions;
use crate::policy::remediation::ResponseWindows;
use crate::ports::{
    AdmissionEvent, AdmissionEventReason, EventSink, Leadership, PodSnapshot, PolicyStore,
    PullCredentials,
};
use crate::registry::{Credentials, ImageRef};
use crate::scan::Scanner;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    pub leader: bool,
    pub running: usize,
    pub rescanned: usize,
    pub failed: usize,
    pub new_findings: usize,
    pub overdue: usize,
}

pub struct RescanController {
    pub rescanner: Arc<Rescanner>,
    pub scanner: Arc<dyn Scanner>,
    pub pods: Arc<dyn PodSnapshot>,
    pub leadership: Arc<dyn Leadership>,
    pub credentials: Arc<dyn PullCredentials>,
    pub policies: PolicyStore,
    pub events: Arc<dyn EventSink>,
    pub metrics: RescanMetrics,
    /// Namespaces whose ScanExceptions apply everywhere
    /// (`webhook.clusterWideExceptionNamespaces`), as admission reads them.
    cluster_wide_exception_namespaces: Vec<String>,
    /// Set once a pass finishes without errors.
    last_success: std::sync::Mutex<Option<Instant>>,
}

/// The tightest response window per severity over all policies (compiled
/// when loaded: an invalid policy has none).
fn windows(policies: &PolicyStore) -> ResponseWindows {
    let mut out = ResponseWindows::new();
    for policy in &policies.snapshot().policies {
        for (severity, window) in &policy.remediation {
            let tightest = out.entry(*severity).or_insert(*window);
            if window < tightest {
                *tightest = *window;
            }
        }
    }
    out
}

/// What the re-scan loop reaches outside the process.
pub struct ControllerPorts {
    /// The pods a watch sees: what runs.
    pub pods: Arc<dyn PodSnapshot>,
    /// Whether this replica re-scans (only the leader does).
    pub leadership: Arc<dyn Leadership>,
    /// A running image's pull credentials.
    pub credentials: Arc<dyn PullCredentials>,
    /// The policies in force (response windows, exceptions).
    pub policies: PolicyStore,
    /// New findings as events on the owning workloads.
    pub events: Arc<dyn EventSink>,
}

impl RescanController {
    pub fn new(
        rescanner: Arc<Rescanner>,
        scanner: Arc<dyn Scanner>,
        ports: ControllerPorts,
        metrics: RescanMetrics,
    ) -> RescanController {
        let ControllerPorts {
            pods,
            leadership,
            credentials,
            policies,
            events,
        } = ports;
        RescanController {
            rescanner,
            scanner,
            pods,
            leadership,
            credentials,
            policies,
            events,
            metrics,
            cluster_wide_exception_namespaces:
                crate::policy::default_cluster_wide_exception_namespaces(),
            last_success: std::sync::Mutex::new(None),
        }
    }

    /// Namespaces whose ScanExceptions apply everywhere, for the gauges'
    /// `excepted` state (`webhook.clusterWideExceptionNamespaces`).
    pub fn with_cluster_wide_exception_namespaces(
        mut self,
        namespaces: Vec<String>,
    ) -> RescanController {
        self.cluster_wide_exception_namespaces = namespaces;
        self
    }

    async fn credentials_for(&self, image: &RunningImage, pods: &[Arc<Pod>]) -> Credentials {
        let (namespace, name) = &image.example_pod;
        let pod = pods.iter().find(|p| {
            p.metadata.namespace.as_deref() == Some(namespace.as_str())
                && p.metadata.name.as_deref() == Some(name.as_str())
        });
        match pod.and_then(|p| p.spec.as_ref()) {
            Some(spec) => self.credentials.for_pod(namespace, &spec.into()).await,
            None => Credentials::anonymous(),
        }
    }

    async fn rescan_one(
        &self,
        image: RunningImage,
        pods: &[Arc<Pod>],
        now: jiff::Timestamp,
    ) -> (
        RunningImage,
        Instant,
        Result<super::rescanner::RescanOutcome, super::rescanner::RescanError>,
    ) {
        let creds = self.credentials_for(&image, pods).await;
        let started = Instant::now();
        let result = self.rescanner.rescan(&image, &creds, now).await;
        (image, started, result)
    }

    fn emit(&self, image: &RunningImage, reason: AdmissionEventReason, findings: &[Finding]) {
        let ids: Vec<&str> = findings.iter().take(5).map(|f| f.id.as_str()).collect();
        let more = findings.len().saturating_sub(ids.len());
        let what = match reason {
            AdmissionEventReason::RemediationOverdue => "past their response deadline",
            _ => "newly found",
        };
        let mut message = format!(
            "{} vulnerabilities {what} in {}: {}",
            findings.len(),
            image.image,
            ids.join(", ")
        );
        if more > 0 {
            message.push_str(&format!(" and {more} more"));
        }
        for workload in &image.workloads {
            self.events.emit(AdmissionEvent {
                reason,
                event_type: "Warning",
                namespace: workload.namespace.clone(),
                kind: workload.kind.clone(),
                name: workload.name.clone(),
                message: message.clone(),
            });
        }
    }

    /// Counts one finished re-scan (metrics, report) and raises its events.
    fn record_outcome(
        &self,
        image: &RunningImage,
        started: Instant,
        result: Result<super::rescanner::RescanOutcome, super::rescanner::RescanError>,
        report: &mut TickReport,
    ) {
        let digest = &image.digest;
        let label = match &result {
            Ok(_) => "ok".to_string(),
            Err(e) => e.metric_label().to_string(),
        };
        let labels = ResultLabels { result: label };
        self.metrics.rescans.get_or_create(&labels).inc();
        self.metrics
            .duration
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok(outcome) => {
                report.rescanned += 1;
                report.new_findings += outcome.alerted.len();
                for f in &outcome.new {
                    self.metrics
                        .new_findings
                        .get_or_create(&RescanMetrics::severity_label(f.severity))
                        .inc();
                }
                if !outcome.alerted.is_empty() {
                    self.emit(
                        image,
                        AdmissionEventReason::NewVulnerabilities,
                        &outcome.alerted,
                    );
                }
            }
            Err(err) => {
                report.failed += 1;
                tracing::warn!(image = %image.image, digest = %digest, error = %err, "re-scan failed");
            }
        }
    }

    /// One pass; `now` is injected so tests control time.
    pub async fn tick(&self, now: jiff::Timestamp) -> TickReport {
        let mut report = TickReport {
            leader: self.leadership.is_leader(),
            ..TickReport::default()
        };
        if !report.leader {
            return report;
        }
        let Some(db) = self.scanner.database() else {
            return report;
        };
        let pods = self.pods.pods();
        let running = running_images(pods.iter().map(|p| p.as_ref()));
        report.running = running.len();
        self.metrics.running_digests.set(running.len() as i64);
        let windows = windows(&self.policies);
        // Up to maxConcurrentRescans at once; the rescanner's own limit
        // keeps them apart from admission's.
        let due = self.rescanner.due(&running, &db.revision, now);
        let mut waiting = due.iter().filter_map(|d| running.get(d).cloned());
        let limit = self.rescanner.concurrency();
        let mut in_flight = futures::stream::FuturesUnordered::new();
        loop {
            while in_flight.len() < limit {
                let Some(image) = waiting.next() else { break };
                in_flight.push(self.rescan_one(image, &pods, now));
            }
            // Each outcome is counted and dropped as it arrives: holding
            // every outcome (new, fixed, alerted findings) of a pass until
            // its end kept several copies of all findings of all running
            // digests alive at once (bench/RESULTS.md, Re-scan).
            match in_flight.next().await {
                Some((image, started, result)) => {
                    self.record_outcome(&image, started, result, &mut report)
                }
                None => break,
            }
        }
        for image in running.values() {
            let overdue = self.rescanner.take_overdue(&image.digest, &windows, now);
            if !overdue.is_empty() {
                report.overdue += overdue.len();
                self.emit(image, AdmissionEventReason::RemediationOverdue, &overdue);
                self.rescanner
                    .record_overdue(&image.digest, &overdue, now)
                    .await;
            }
        }
        self.refresh_finding_gauges(&running, &windows, now);
        let mut last = self
            .last_success
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if report.failed == 0 {
            *last = Some(Instant::now());
        }
        if let Some(at) = *last {
            self.metrics
                .seconds_since_success
                .set(at.elapsed().as_secs_f64());
        }
        report
    }

    /// Sets `scangate_running_findings` from scratch: counted first, then
    /// swapped in, so that a scrape never sees a half-counted family. A
    /// finding is `excepted` where a ScanException in force in the
    /// workload's namespace covers it (matched against the running
    /// `repository@digest` reference, so image globs on a tag cannot).
    fn refresh_finding_gauges(
        &self,
        running: &BTreeMap<String, RunningImage>,
        windows: &ResponseWindows,
        now: jiff::Timestamp,
    ) {
        let set = self.policies.snapshot();
        let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
        let mut scopes: HashMap<&str, NamespaceExceptions> = HashMap::new();
        let mut counts: HashMap<FindingLabels, i64> = HashMap::new();
        for image in running.values() {
            // Only an exception's image globs need it: most passes have none.
            let normalized = std::cell::OnceCell::new();
            let normalized = || {
                normalized.get_or_init(|| {
                    ImageRef::parse(&image.image)
                        .map(|r| r.normalized().to_string())
                        .unwrap_or_else(|_| image.image.clone())
                })
            };
            let mut by_namespace: BTreeMap<&str, Vec<&Workload>> = BTreeMap::new();
            for workload in &image.workloads {
                by_namespace
                    .entry(workload.namespace.as_str())
                    .or_default()
                    .push(workload);
            }
            for (namespace, workloads) in by_namespace {
                let exceptions = scopes.entry(namespace).or_insert_with(|| {
                    NamespaceExceptions::new(
                        &set.exceptions,
                        namespace,
                        &self.cluster_wide_exception_namespaces,
                        today,
                    )
                });
                let tally = self.rescanner.tally(&image.digest, windows, now, |f| {
                    !exceptions.is_empty() && exceptions.covers(&image.image, normalized(), f)
                });
                for workload in workloads {
                    let name = format!("{}/{}", workload.kind, workload.name);
                    for ((severity, state), count) in &tally {
                        let labels = FindingLabels {
                            severity: severity.as_str().into(),
                            state: state.as_str().into(),
                            namespace: workload.namespace.clone(),
                            workload: name.clone(),
                        };
                        *counts.entry(labels).or_default() += count;
                    }
                }
            }
        }
        self.metrics.findings.clear();
        for (labels, count) in counts {
            self.metrics.findings.get_or_create(&labels).set(count);
        }
    }

    /// Runs ticks every `interval` until `shutdown` resolves.
    pub async fn run(
        self: Arc<Self>,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = ticker.tick() => {
                    let report = self.tick(jiff::Timestamp::now()).await;
                    if report.leader && (report.rescanned > 0 || report.failed > 0) {
                        tracing::info!(running = report.running, rescanned = report.rescanned,
                            failed = report.failed, new_findings = report.new_findings,
                            overdue = report.overdue, "re-scan pass");
                    }
                }
            }
        }
    }
}
