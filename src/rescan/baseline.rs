//! The previous scan of a digest as it persisted, for a replica that has
//! none in memory (a new leader, a restart). Without it the first re-scan
//! on the replica was a silent baseline: a finding added since the old
//! leader's last scan was never alerted, and every firstSeen restarted.
//!
//! Two stores persist: the history (every finding of each re-scan, no
//! firstSeen) and the digest's `ImageScanReport` (firstSeen kept across
//! scans by every replica, admission's scans included, but capped). The
//! history decides what was there; the report says since when.

use super::diff::FindingKey;
use super::history::{HistoryError, HistoryStore};
use crate::model::{Finding, Severity};
use crate::model::{StoredReport, listing_order};
use crate::ports::{ReportReadError, StoredReports};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

/// Findings of a report by `(id, package)`, the key reports keep
/// firstSeen under (they carry no ecosystem or path).
type ReportKey = (String, String);

fn report_key(finding: &Finding) -> ReportKey {
    (finding.id.to_string(), finding.package.to_string())
}

/// What a re-scan compares with when this replica never scanned the digest.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    pub revision: String,
    source: Source,
    /// Findings (ID, package) the report marks as alerted overdue.
    overdue_alerted: HashSet<ReportKey>,
}

#[derive(Debug, Clone, PartialEq)]
enum Source {
    /// Every finding of the latest history document, with firstSeen.
    History(Vec<(Finding, jiff::Timestamp)>),
    /// Only the report.
    Report(ReportBaseline),
}

#[derive(Debug, Clone, PartialEq)]
struct ReportBaseline {
    scanned_at: jiff::Timestamp,
    /// Listed findings: fixed version then, first seen.
    listed: HashMap<ReportKey, (Option<String>, Option<jiff::Timestamp>)>,
    /// The last finding a capped report lists (severity, id): what sorts
    /// after it was cut, so its absence says nothing.
    cut: Option<(Severity, String)>,
}

impl Baseline {
    /// From the report alone; `None` if its scan time is unreadable.
    pub fn from_report(spec: &StoredReport) -> Option<Baseline> {
        let scanned_at = spec.scanned_at.parse().ok()?;
        let listed = spec
            .findings
            .iter()
            .map(|f| {
                let seen = f.first_seen.as_deref().and_then(|s| s.parse().ok());
                (
                    (f.id.clone(), f.package.clone()),
                    (f.fixed_version.clone(), seen),
                )
            })
            .collect();
        let cut = spec
            .truncated
            .then(|| {
                spec.findings
                    .iter()
                    .max_by(|a, b| listing_order((a.severity, &a.id), (b.severity, &b.id)))
                    .map(|f| (f.severity, f.id.clone()))
            })
            .flatten();
        Some(Baseline {
            revision: spec.database_revision.clone(),
            source: Source::Report(ReportBaseline {
                scanned_at,
                listed,
                cut,
            }),
            overdue_alerted: overdue_alerted_of(spec),
        })
    }

    /// The findings of `current` whose overdue alert a previous leader
    /// raised (marked on the report): not to be raised again.
    pub fn overdue_alerted(&self, current: &[Finding]) -> BTreeSet<FindingKey> {
        current
            .iter()
            .filter(|f| self.overdue_alerted.contains(&report_key(f)))
            .map(FindingKey::of)
            .collect()
    }

    /// The previous findings to diff `current` with, each with when it
    /// was first seen.
    pub fn previous(
        self,
        current: &[Finding],
        now: jiff::Timestamp,
    ) -> Vec<(Finding, jiff::Timestamp)> {
        let report = match self.source {
            Source::History(findings) => return findings,
            Source::Report(report) => report,
        };
        // A report names findings by (id, package) only, so the previous
        // findings are the current ones it lists, with the fix it knew of
        // (a fix since is still "fix available"). What it listed and is
        // gone cannot be rebuilt: it is not reported as fixed.
        current
            .iter()
            .filter_map(|finding| match report.listed.get(&report_key(finding)) {
                Some((fixed, seen)) => {
                    let mut then = finding.clone();
                    then.fixed_version = fixed.clone();
                    Some((then, seen.unwrap_or(report.scanned_at)))
                }
                // Past a capped report's cut: it may well have been there.
                // Counted as old rather than alerted (the cut holds the
                // least severe findings), and not known to be older than
                // this scan.
                None if report.cut.as_ref().is_some_and(|(severity, id)| {
                    listing_order((finding.severity, &finding.id), (*severity, id)).is_ge()
                }) =>
                {
                    Some((finding.clone(), now))
                }
                None => None,
            })
            .collect()
    }
}

/// Reads the baseline of `digest` from history (preferred: it holds every
/// finding) and the report (firstSeen; alone when there is no history).
/// `None`: nobody scanned the digest, this scan is its baseline. Read
/// before the scan: the scan queues its own report, which must not become
/// its baseline.
pub async fn load(
    history: Option<&HistoryStore>,
    reports: Option<&dyn StoredReports>,
    images: Vec<String>,
    digest: &str,
) -> Result<Option<Baseline>, ReportReadError> {
    let report = match reports {
        Some(reports) => reports.report(digest).await?,
        None => None,
    };
    let from_history = match history {
        Some(history) => {
            let history = history.clone();
            let wanted = digest.to_string();
            let seen = report.as_ref().map(first_seen_of).unwrap_or_default();
            // Reading documents is blocking work, kept off the async workers.
            let read =
                crate::scan::cpu::offload(move || from_history(&history, &images, &wanted, &seen))
                    .await;
            match read {
                Ok(Ok(found)) => found,
                Ok(Err(error)) => {
                    // An unreadable history falls back to the report rather
                    // than stopping every re-scan of the digest.
                    tracing::warn!(%digest, %error, "scan history unreadable; baseline from the report");
                    None
                }
                Err(error) => {
                    tracing::warn!(%digest, %error, "history task failed; baseline from the report");
                    None
                }
            }
        }
        None => None,
    };
    let alerted = report.as_ref().map(overdue_alerted_of).unwrap_or_default();
    Ok(from_history
        .map(|b| Baseline {
            overdue_alerted: alerted,
            ..b
        })
        .or_else(|| report.as_ref().and_then(Baseline::from_report)))
}

/// The findings a report marks as alerted overdue, by `(id, package)`.
fn overdue_alerted_of(spec: &StoredReport) -> HashSet<ReportKey> {
    spec.findings
        .iter()
        .filter(|f| f.overdue_alerted_at.is_some())
        .map(|f| (f.id.clone(), f.package.clone()))
        .collect()
}

/// The firstSeen a report keeps, by `(id, package)`.
fn first_seen_of(spec: &StoredReport) -> HashMap<ReportKey, jiff::Timestamp> {
    spec.findings
        .iter()
        .filter_map(|f| {
            let seen = f.first_seen.as_deref()?.parse().ok()?;
            Some(((f.id.clone(), f.package.clone()), seen))
        })
        .collect()
}

/// The latest history document of `digest`, each finding first seen when
/// the report says, else at the oldest of the unbroken run of documents
/// holding it (older documents are read only for those).
fn from_history(
    history: &HistoryStore,
    images: &[String],
    digest: &str,
    report_seen: &HashMap<ReportKey, jiff::Timestamp>,
) -> Result<Option<Baseline>, HistoryError> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for image in images {
        for path in history.documents_of(image, digest)? {
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    let mut documents = paths.iter().filter_map(|path| {
        // One bad document must not hide the others.
        let doc = HistoryStore::read(path)
            .inspect_err(|error| tracing::warn!(%error, "history document skipped"))
            .ok()?;
        let at = doc.scanned_at.parse::<jiff::Timestamp>().ok()?;
        (doc.digest == digest).then_some((doc, at))
    });
    let Some((latest, latest_at)) = documents.next() else {
        return Ok(None);
    };
    let mut findings: Vec<(Finding, jiff::Timestamp)> = latest
        .findings
        .into_iter()
        .map(|f| {
            let seen = report_seen
                .get(&report_key(&f))
                .copied()
                .unwrap_or(latest_at);
            (f, seen)
        })
        .collect();
    let mut open: Vec<usize> = (0..findings.len())
        .filter(|i| !report_seen.contains_key(&report_key(&findings[*i].0)))
        .collect();
    for (older, at) in documents {
        if open.is_empty() {
            break;
        }
        let keys: HashSet<_> = older.findings.iter().map(FindingKey::of).collect();
        open.retain(|i| {
            let held = keys.contains(&FindingKey::of(&findings[*i].0));
            if held {
                findings[*i].1 = at;
            }
            held
        });
    }
    Ok(Some(Baseline {
        revision: latest.db_revision,
        source: Source::History(findings),
        overdue_alerted: HashSet::new(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PackageKind, ReportedFinding, SeveritySource};

    fn finding(id: &str, severity: Severity) -> Finding {
        Finding {
            id: id.into(),
            aliases: vec![],
            package: "zlib1g".into(),
            kind: PackageKind::Deb,
            ecosystem: "Debian:12".into(),
            installed_version: "1".into(),
            fixed_version: None,
            severity,
            severity_source: SeveritySource::None,
            cvss_score: None,
            cvss_vector: None,
            summary: None,
            published: None,
            location: None,
        }
    }

    fn listed(id: &str, severity: Severity, first_seen: &str) -> ReportedFinding {
        ReportedFinding {
            id: id.into(),
            package: "zlib1g".into(),
            severity,
            fixed_version: None,
            first_seen: Some(first_seen.into()),
            overdue_alerted_at: None,
        }
    }

    fn spec(findings: Vec<ReportedFinding>, truncated: bool) -> StoredReport {
        StoredReport {
            digest: "sha256:ab".into(),
            database_revision: "r1".into(),
            scanned_at: "2026-01-02T00:00:00Z".into(),
            findings,
            truncated,
        }
    }

    fn ids(previous: &[(Finding, jiff::Timestamp)]) -> Vec<&str> {
        previous.iter().map(|(f, _)| f.id.as_str()).collect()
    }

    #[test]
    fn a_report_baseline_keeps_listed_first_seen_and_leaves_the_rest_new() {
        let report = spec(
            vec![listed("A", Severity::High, "2026-01-01T00:00:00Z")],
            false,
        );
        let now: jiff::Timestamp = "2026-01-03T00:00:00Z".parse().unwrap();
        let current = [finding("A", Severity::High), finding("B", Severity::Low)];
        let previous = Baseline::from_report(&report)
            .unwrap()
            .previous(&current, now);
        assert_eq!(ids(&previous), ["A"]);
        assert_eq!(previous[0].1.to_string(), "2026-01-01T00:00:00Z");
    }

    #[test]
    fn findings_a_report_marks_as_alerted_overdue_are_not_alerted_again() {
        let mut marked = listed("A", Severity::Critical, "2026-01-01T00:00:00Z");
        marked.overdue_alerted_at = Some("2026-01-02T01:00:00Z".into());
        let report = spec(
            vec![marked, listed("B", Severity::High, "2026-01-01T00:00:00Z")],
            false,
        );
        let baseline = Baseline::from_report(&report).unwrap();
        let current = [
            finding("A", Severity::Critical),
            finding("B", Severity::High),
        ];
        let alerted = baseline.overdue_alerted(&current);
        assert_eq!(
            alerted,
            BTreeSet::from([FindingKey::of(&current[0])]),
            "only A was alerted"
        );
    }

    #[test]
    fn past_a_capped_reports_cut_absence_says_nothing() {
        let report = spec(
            vec![
                listed("A", Severity::Critical, "2026-01-01T00:00:00Z"),
                listed("M", Severity::High, "2026-01-01T00:00:00Z"),
            ],
            true,
        );
        let now: jiff::Timestamp = "2026-01-03T00:00:00Z".parse().unwrap();
        let current = [
            finding("A", Severity::Critical),
            finding("B", Severity::Critical),
            finding("C", Severity::High),
            finding("N", Severity::High),
            finding("Z", Severity::Low),
        ];
        let previous = Baseline::from_report(&report)
            .unwrap()
            .previous(&current, now);
        // B and C sort before the cut (M): the report would list them.
        assert_eq!(ids(&previous), ["A", "N", "Z"]);
        assert_eq!(previous[1].1, now);
    }
}
