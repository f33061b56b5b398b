//! Findings over time: when each finding was first seen and fixed, which
//! are past their response deadline, and the mean time to remediate.

use super::diff::FindingKey;
use super::history::repository_folder;
use crate::model::Severity;
use crate::policy::remediation::ResponseWindows;
use crate::scan::format::ScanDocument;
use serde::Serialize;
use std::collections::BTreeMap;

/// The open findings after one scan of an image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelinePoint {
    pub scanned_at: String,
    pub digest: String,
    pub open: BTreeMap<Severity, usize>,
    pub overdue: usize,
    pub opened: usize,
    pub fixed: usize,
}

/// One finding's life.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingLife {
    pub id: String,
    pub package: String,
    pub severity: Severity,
    pub first_seen: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_at: Option<String>,
    /// When its response window ends (none if its severity has no window).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    pub overdue: bool,
}

/// The history of one image repository.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageTimeline {
    pub image: String,
    pub scans: usize,
    pub points: Vec<TimelinePoint>,
    pub findings: Vec<FindingLife>,
    pub summary: Summary,
}

/// Counts over a set of findings' lives.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub opened: usize,
    pub fixed: usize,
    pub open: usize,
    pub overdue: usize,
    /// Mean hours from first seen to fixed, over fixed findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_hours_to_remediate: Option<f64>,
}

/// The whole report: per image and overall.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryReport {
    pub generated_at: String,
    pub images: Vec<ImageTimeline>,
    pub overall: Summary,
}

struct OpenFinding {
    first_seen: jiff::Timestamp,
    life: usize,
}

fn timestamp(text: &str) -> Option<jiff::Timestamp> {
    text.parse().ok()
}

/// Builds the report from history documents (any order), judging deadlines
/// at `now`.
pub fn build_report(
    docs: &[ScanDocument],
    windows: &ResponseWindows,
    now: jiff::Timestamp,
) -> HistoryReport {
    let mut by_image: BTreeMap<String, Vec<(jiff::Timestamp, &ScanDocument)>> = BTreeMap::new();
    for doc in docs {
        if let Some(at) = timestamp(&doc.scanned_at) {
            by_image
                .entry(repository_folder(&doc.image))
                .or_default()
                .push((at, doc));
        }
    }
    let images: Vec<ImageTimeline> = by_image
        .into_values()
        .map(|mut scans| {
            scans.sort_by_key(|(at, _)| *at);
            image_timeline(&scans, windows, now)
        })
        .collect();
    let overall = summarize(images.iter().flat_map(|i| i.findings.iter()));
    HistoryReport {
        generated_at: now.to_string(),
        images,
        overall,
    }
}

fn deadline_of(
    severity: Severity,
    first_seen: jiff::Timestamp,
    windows: &ResponseWindows,
) -> Option<jiff::Timestamp> {
    windows
        .get(&severity)
        .and_then(|window| first_seen.checked_add(*window).ok())
}

/// Whether a finding of `severity` first seen at `first_seen` is past its
/// response window at `now` (never, for a severity without a window).
pub fn is_overdue(
    severity: Severity,
    first_seen: jiff::Timestamp,
    windows: &ResponseWindows,
    now: jiff::Timestamp,
) -> bool {
    deadline_of(severity, first_seen, windows).is_some_and(|deadline| now > deadline)
}

fn image_timeline(
    scans: &[(jiff::Timestamp, &ScanDocument)],
    windows: &ResponseWindows,
    now: jiff::Timestamp,
) -> ImageTimeline {
    let mut lives: Vec<FindingLife> = Vec::new();
    let mut open: BTreeMap<FindingKey, OpenFinding> = BTreeMap::new();
    let mut points = Vec::with_capacity(scans.len());
    for (at, doc) in scans {
        let present: BTreeMap<FindingKey, &crate::model::Finding> = doc
            .findings
            .iter()
            .map(|f| (FindingKey::of(f), f))
            .collect();
        let mut opened = 0;
        for (key, finding) in &present {
            if !open.contains_key(key) {
                opened += 1;
                lives.push(FindingLife {
                    id: finding.id.to_string(),
                    package: finding.package.to_string(),
                    severity: finding.severity,
                    first_seen: at.to_string(),
                    fixed_at: None,
                    deadline: deadline_of(finding.severity, *at, windows).map(|d| d.to_string()),
                    overdue: false,
                });
                open.insert(
                    key.clone(),
                    OpenFinding {
                        first_seen: *at,
                        life: lives.len() - 1,
                    },
                );
            }
        }
        let gone: Vec<FindingKey> = open
            .keys()
            .filter(|key| !present.contains_key(*key))
            .cloned()
            .collect();
        for key in &gone {
            if let Some(closed) = open.remove(key)
                && let Some(life) = lives.get_mut(closed.life)
            {
                life.fixed_at = Some(at.to_string());
                let deadline = deadline_of(life.severity, closed.first_seen, windows);
                life.overdue = deadline.is_some_and(|d| *at > d);
            }
        }
        let mut open_by_severity: BTreeMap<Severity, usize> =
            Severity::ALL.iter().map(|s| (*s, 0)).collect();
        let mut overdue = 0;
        for still_open in open.values() {
            if let Some(life) = lives.get(still_open.life) {
                *open_by_severity.entry(life.severity).or_default() += 1;
                if deadline_of(life.severity, still_open.first_seen, windows)
                    .is_some_and(|d| *at > d)
                {
                    overdue += 1;
                }
            }
        }
        points.push(TimelinePoint {
            scanned_at: at.to_string(),
            digest: doc.digest.clone(),
            open: open_by_severity,
            overdue,
            opened,
            fixed: gone.len(),
        });
    }
    for still_open in open.values() {
        if let Some(life) = lives.get_mut(still_open.life) {
            life.overdue = is_overdue(life.severity, still_open.first_seen, windows, now);
        }
    }
    let image = scans
        .last()
        .map(|(_, doc)| doc.image.clone())
        .unwrap_or_default();
    let summary = summarize(lives.iter());
    ImageTimeline {
        image,
        scans: scans.len(),
        points,
        findings: lives,
        summary,
    }
}

fn summarize<'a>(lives: impl Iterator<Item = &'a FindingLife>) -> Summary {
    let mut summary = Summary::default();
    let mut remediation_hours = Vec::new();
    for life in lives {
        summary.opened += 1;
        if life.overdue {
            summary.overdue += 1;
        }
        match life.fixed_at.as_deref().and_then(timestamp) {
            Some(fixed) => {
                summary.fixed += 1;
                if let Some(first) = timestamp(&life.first_seen) {
                    remediation_hours.push(fixed.duration_since(first).as_secs_f64() / 3600.0);
                }
            }
            None => summary.open += 1,
        }
    }
    if !remediation_hours.is_empty() {
        summary.mean_hours_to_remediate =
            Some(remediation_hours.iter().sum::<f64>() / remediation_hours.len() as f64);
    }
    summary
}
