//! The re-scan of running digests: which are due (a new database revision,
//! the interval elapsed, never scanned), the scan itself under its own
//! concurrency limit (admission scans are never starved), the diff with the
//! previous scan, `firstSeen` kept across scans, history and alerts.

use super::alerts::SinkConfig;
use super::alerts::{Alert, AlertKind, Notifier};
use super::baseline;
use super::diff::{FindingKey, ScanDiff, diff};
use super::history::HistoryStore;
use super::history::Retention;
use super::running::RunningImage;
use super::timeline::is_overdue;
use crate::model::ConfigDuration;
use crate::model::{Finding, ScanReport, Severity};
use crate::ports::{ReportReadError, StoredReports};
use crate::registry::{Credentials, ImageRef};
use crate::scan::cpu::{self, LowPriorityCpu};
use crate::scan::format::ScanDocument;
use crate::scan::{ScanError, Scanner};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// The re-scan settings (`rescan:` in the config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RescanConfig {
    /// Run the loop when `serve` is connected to a cluster (`enabled`).
    pub enabled: bool,
    /// How often the running set is compared with what was scanned
    /// (`tickInterval`); newly seen digests wait at most this long.
    pub tick_interval: ConfigDuration,
    /// Every running digest is re-scanned at least this often (`interval`).
    pub interval: ConfigDuration,
    /// Re-scans at once; kept apart from admission's limit (`maxConcurrentRescans`).
    pub max_concurrent_rescans: usize,
    /// Threads for the re-scans' CPU work: stacking layers, matching,
    /// diffing, history documents (`cpuThreads`).
    pub cpu_threads: usize,
    /// The nice value of those threads, 0 to 19 (`cpuNice`): higher leaves
    /// more of a busy node's CPU to admission reviews.
    pub cpu_nice: i32,
    /// New findings at or above this severity raise alerts (`alertSeverity`).
    pub alert_severity: Severity,
    /// Where every scan document is kept (`historyDir`); none keeps no history.
    pub history_dir: Option<PathBuf>,
    /// How much history is kept (`retention`).
    pub retention: Retention,
    /// Where alerts go (`alertSinks`).
    pub alert_sinks: Vec<SinkConfig>,
    /// JSON-lines file of alerts no sink took (`deadLetterFile`).
    pub dead_letter_file: PathBuf,
}

impl Default for RescanConfig {
    fn default() -> Self {
        RescanConfig {
            enabled: true,
            tick_interval: ConfigDuration::secs(60),
            interval: ConfigDuration::secs(24 * 3600),
            max_concurrent_rescans: 1,
            cpu_threads: 1,
            cpu_nice: 10,
            alert_severity: Severity::High,
            history_dir: None,
            retention: Retention::default(),
            alert_sinks: vec![],
            dead_letter_file: PathBuf::from("scangate-dead-letters.jsonl"),
        }
    }
}

/// What is remembered of a digest between scans.
#[derive(Debug, Clone, Default)]
pub struct DigestState {
    pub revision: String,
    pub scanned_at: Option<jiff::Timestamp>,
    /// The current findings, each with when it was first seen on this
    /// digest. One copy per finding: a map from keys (four more owned
    /// strings each) beside the findings held every finding of the running
    /// set twice (bench/RESULTS.md, Re-scan).
    pub findings: Vec<(Finding, jiff::Timestamp)>,
    /// Findings already alerted as overdue (alerted once).
    pub overdue_alerted: BTreeSet<FindingKey>,
}

/// A running finding's state, for `scangate_running_findings{state}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingState {
    Open,
    Overdue,
    Excepted,
}

impl FindingState {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingState::Open => "open",
            FindingState::Overdue => "overdue",
            FindingState::Excepted => "excepted",
        }
    }
}

/// What one re-scan found.
#[derive(Debug, Clone, PartialEq)]
pub struct RescanOutcome {
    pub digest: String,
    pub new: Vec<Finding>,
    pub fixed: Vec<Finding>,
    pub fix_available: Vec<Finding>,
    /// New findings at or above the alert severity (what was alerted).
    pub alerted: Vec<Finding>,
}

/// Why a re-scan failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RescanError {
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// The digest's previous scan could not be read; retried next tick
    /// rather than taking this scan as a silent baseline.
    #[error(transparent)]
    Baseline(#[from] ReportReadError),
}

impl RescanError {
    /// A short, stable label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            RescanError::Scan(e) => e.metric_label(),
            RescanError::Baseline(_) => "baseline",
        }
    }
}

/// Re-scans running digests and remembers what it saw.
pub struct Rescanner {
    scanner: Arc<dyn Scanner>,
    config: RescanConfig,
    interval: jiff::SignedDuration,
    limit: Semaphore,
    state: Mutex<BTreeMap<String, DigestState>>,
    history: Option<HistoryStore>,
    notifier: Option<Notifier>,
    reports: Option<Arc<dyn StoredReports>>,
    cpu: LowPriorityCpu,
}

/// Why a [`Rescanner`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Interval(#[from] crate::policy::remediation::DurationError),
    #[error("starting the re-scan threads: {0}")]
    Threads(std::io::Error),
}

impl Rescanner {
    pub fn new(
        scanner: Arc<dyn Scanner>,
        config: RescanConfig,
        history: Option<HistoryStore>,
        notifier: Option<Notifier>,
    ) -> Result<Rescanner, SetupError> {
        let interval = jiff::SignedDuration::try_from(config.interval.get())
            .map_err(|_| crate::policy::remediation::DurationError(config.interval.to_string()))?;
        let cpu = LowPriorityCpu::start(config.cpu_threads, config.cpu_nice)?;
        Ok(Rescanner {
            scanner,
            limit: Semaphore::new(config.max_concurrent_rescans.max(1)),
            config,
            interval,
            state: Mutex::new(BTreeMap::new()),
            history,
            notifier,
            reports: None,
            cpu,
        })
    }

    /// Counts the re-scan work waiting for the low-priority threads in
    /// `metrics` (`scangate_rescan_cpu_queued`).
    pub fn with_metrics(mut self, metrics: &super::metrics::RescanMetrics) -> Rescanner {
        self.cpu = self.cpu.counting_in(metrics.cpu_queued.clone());
        self
    }

    /// Reads the digests' `ImageScanReport`s for the baseline of digests
    /// this replica has not scanned (see [`baseline`]).
    pub fn with_reports(mut self, reports: Arc<dyn StoredReports>) -> Rescanner {
        self.reports = Some(reports);
        self
    }

    fn state(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, DigestState>> {
        // A panic while holding the lock cannot leave the map half-written
        // (every update is one insert), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Re-scans that may run at once (`maxConcurrentRescans`).
    pub fn concurrency(&self) -> usize {
        self.config.max_concurrent_rescans.max(1)
    }

    /// When a finding was first seen on a digest, if it was.
    pub fn first_seen(&self, digest: &str, finding: &Finding) -> Option<jiff::Timestamp> {
        self.state().get(digest).and_then(|s| {
            s.findings
                .iter()
                .find(|(f, _)| same_key(f, finding))
                .map(|(_, seen)| *seen)
        })
    }

    /// The digests due for a re-scan: never scanned, scanned under another
    /// database revision, or last scanned longer than the interval ago.
    pub fn due(
        &self,
        running: &BTreeMap<String, RunningImage>,
        revision: &str,
        now: jiff::Timestamp,
    ) -> Vec<String> {
        let state = self.state();
        running
            .keys()
            .filter(|digest| match state.get(*digest) {
                None => true,
                Some(s) => {
                    s.revision != revision
                        || s.scanned_at.is_none_or(|at| {
                            at.checked_add(self.interval).is_ok_and(|next| now >= next)
                        })
                }
            })
            .cloned()
            .collect()
    }

    /// Re-scans one running digest, under the re-scan concurrency limit.
    /// Its CPU work (stacking layers, matching, the diff, the history
    /// document) runs on the low-priority re-scan threads.
    pub async fn rescan(
        &self,
        image: &RunningImage,
        creds: &Credentials,
        now: jiff::Timestamp,
    ) -> Result<RescanOutcome, RescanError> {
        let _permit = self
            .limit
            .acquire()
            .await
            .map_err(|_| ScanError::Database("re-scanner stopped".into()))?;
        self.cpu.scope(self.rescan_now(image, creds, now)).await
    }

    async fn rescan_now(
        &self,
        image: &RunningImage,
        creds: &Credentials,
        now: jiff::Timestamp,
    ) -> Result<RescanOutcome, RescanError> {
        let reference = ImageRef::parse(&image.image).map_err(ScanError::from)?;
        let remembered = self.state().get(&image.digest).cloned();
        // Another replica (or this one before a restart) may have scanned
        // the digest: what persisted of that is the baseline, else a
        // finding added since would never be alerted.
        let stored = match remembered {
            Some(_) => None,
            None => {
                let images = vec![reference.to_string(), image.image.clone()];
                baseline::load(
                    self.history.as_ref(),
                    self.reports.as_deref(),
                    images,
                    &image.digest,
                )
                .await?
            }
        };
        let report = self.scanner.scan(&reference, &image.digest, creds).await?;
        let alert_severity = self.config.alert_severity;
        let history = self.history.clone();
        let digest = image.digest.clone();
        let compared = cpu::offload(move || {
            let compared = compare(remembered, stored, &report, alert_severity, now);
            if let Some(history) = history {
                let doc = ScanDocument::new(&report, None);
                if let Err(error) = history.record(&doc, now) {
                    tracing::error!(%digest, %error, "scan history not written");
                }
            }
            compared
        })
        .await
        .map_err(|e| ScanError::Local(format!("re-scan bookkeeping failed: {e}")))?;
        let Compared {
            changes,
            state,
            alerted,
        } = compared;
        let db_revision = state.revision.clone();
        self.state().insert(image.digest.clone(), state);

        if !alerted.is_empty() {
            for finding in &alerted {
                tracing::warn!(image = %image.image, digest = %image.digest, id = %finding.id,
                    package = %finding.package, severity = %finding.severity, "new finding in a running image");
            }
            if let Some(notifier) = &self.notifier {
                notifier
                    .notify(Alert {
                        kind: AlertKind::NewFindings,
                        image: image.image.clone(),
                        digest: image.digest.clone(),
                        workloads: image.workloads.iter().map(ToString::to_string).collect(),
                        findings: alerted.clone(),
                        db_revision,
                        raised_at: now.to_string(),
                    })
                    .await;
            }
        }
        Ok(RescanOutcome {
            digest: image.digest.clone(),
            new: changes.new,
            fixed: changes.fixed,
            fix_available: changes.fix_available,
            alerted,
        })
    }

    /// Findings of a digest past their response window that have not been
    /// alerted yet; marks them alerted (each is alerted once).
    pub fn take_overdue(
        &self,
        digest: &str,
        windows: &crate::policy::remediation::ResponseWindows,
        now: jiff::Timestamp,
    ) -> Vec<Finding> {
        let mut state = self.state();
        let Some(s) = state.get_mut(digest) else {
            return Vec::new();
        };
        let mut overdue = Vec::new();
        for (finding, first_seen) in &s.findings {
            if is_overdue(finding.severity, *first_seen, windows, now)
                && s.overdue_alerted.insert(FindingKey::of(finding))
            {
                overdue.push(finding.clone());
            }
        }
        overdue
    }

    /// Marks `alerted` (just returned by [`Rescanner::take_overdue`]) on the
    /// digest's `ImageScanReport`, so that a replica taking the Lease over
    /// does not alert them again. A failed write is logged: the alert may
    /// then repeat after a failover, but is never lost.
    pub async fn record_overdue(&self, digest: &str, alerted: &[Finding], now: jiff::Timestamp) {
        let Some(reports) = &self.reports else {
            return;
        };
        let findings: Vec<(String, String)> = alerted
            .iter()
            .map(|f| (f.id.to_string(), f.package.to_string()))
            .collect();
        if let Err(error) = reports
            .mark_overdue(digest, &findings, &now.to_string())
            .await
        {
            tracing::warn!(%digest, %error, "overdue alerts not recorded; a new leader may repeat them");
        }
    }

    /// A digest's current findings with when each was first seen.
    pub fn findings_of(&self, digest: &str) -> Vec<(Finding, jiff::Timestamp)> {
        let state = self.state();
        let Some(s) = state.get(digest) else {
            return Vec::new();
        };
        s.findings.clone()
    }

    /// How many of a digest's findings are in each state, by severity:
    /// `excepted` (set aside by an exception in force, whatever their
    /// age), else `overdue` (past their response window), else `open`.
    /// Counted under the lock without copying findings: the gauges are
    /// refreshed after every pass over all running digests.
    pub fn tally(
        &self,
        digest: &str,
        windows: &crate::policy::remediation::ResponseWindows,
        now: jiff::Timestamp,
        excepted: impl Fn(&Finding) -> bool,
    ) -> BTreeMap<(Severity, FindingState), i64> {
        let mut counts = BTreeMap::new();
        if let Some(s) = self.state().get(digest) {
            for (finding, first_seen) in &s.findings {
                let state = if excepted(finding) {
                    FindingState::Excepted
                } else if is_overdue(finding.severity, *first_seen, windows, now) {
                    FindingState::Overdue
                } else {
                    FindingState::Open
                };
                *counts.entry((finding.severity, state)).or_default() += 1;
            }
        }
        counts
    }

    /// The digests known, for metrics (time since last scan).
    pub fn last_scans(&self) -> Vec<(String, Option<jiff::Timestamp>)> {
        self.state()
            .iter()
            .map(|(d, s)| (d.clone(), s.scanned_at))
            .collect()
    }
}

/// A re-scan compared with the previous scan.
struct Compared {
    changes: ScanDiff,
    /// What to remember of the digest from now on.
    state: DigestState,
    /// New findings at or above the alert severity; none on a first scan.
    alerted: Vec<Finding>,
}

/// The diff against this replica's last scan of the digest (`remembered`),
/// else what persisted of another's (`stored`), each finding's firstSeen
/// carried over, and what to alert. Neither: this scan is the baseline.
fn compare(
    remembered: Option<DigestState>,
    stored: Option<baseline::Baseline>,
    report: &ScanReport,
    alert_severity: Severity,
    now: jiff::Timestamp,
) -> Compared {
    let previous = remembered.or_else(|| {
        stored.map(|b| DigestState {
            revision: b.revision.clone(),
            scanned_at: None,
            overdue_alerted: b.overdue_alerted(&report.findings),
            findings: b.previous(&report.findings, now),
        })
    });
    let first_scan = previous.is_none();
    let previous = previous.unwrap_or_default();
    let previous_findings: Vec<Finding> =
        previous.findings.iter().map(|(f, _)| f.clone()).collect();
    let changes = diff(&previous_findings, &report.findings);
    drop(previous_findings);

    let seen_before: BTreeMap<FindingKey, jiff::Timestamp> = previous
        .findings
        .iter()
        .map(|(f, seen)| (FindingKey::of(f), *seen))
        .collect();
    let mut current = BTreeSet::new();
    let findings: Vec<(Finding, jiff::Timestamp)> = report
        .findings
        .iter()
        .map(|finding| {
            let key = FindingKey::of(finding);
            let seen = seen_before.get(&key).copied().unwrap_or(now);
            current.insert(key);
            (finding.clone(), seen)
        })
        .collect();
    drop(seen_before);
    let overdue_alerted = previous
        .overdue_alerted
        .into_iter()
        .filter(|k| current.contains(k))
        .collect();
    // The first scan of a digest nobody scanned before is its baseline:
    // what was there at admission is not news. Alerts are about what a
    // re-scan adds.
    let alerted = if first_scan {
        Vec::new()
    } else {
        changes
            .new
            .iter()
            .filter(|f| f.severity >= alert_severity)
            .cloned()
            .collect()
    };
    Compared {
        changes,
        state: DigestState {
            revision: report.db_revision.clone(),
            scanned_at: Some(now),
            findings,
            overdue_alerted,
        },
        alerted,
    }
}

/// Whether two findings are the same finding of a digest ([`FindingKey`]),
/// without building the keys.
fn same_key(a: &Finding, b: &Finding) -> bool {
    fn path(f: &Finding) -> &str {
        f.location.as_ref().map_or("", |l| l.path.as_str())
    }
    a.id == b.id && a.package == b.package && a.ecosystem == b.ecosystem && path(a) == path(b)
}

/// The cause is in the message, so it is not also a `source` (printed once).
impl From<std::io::Error> for SetupError {
    fn from(error: std::io::Error) -> Self {
        SetupError::Threads(error)
    }
}
