//! Writes the [`ImageScanReport`] of a digest (server-side apply, so a
//! create and an update are the same call), capped in size.

use crate::k8s::report::{
    ImageScanReport, ImageScanReportSpec, ReportedFinding, SeverityCounts, report_name,
};
use crate::model::{ScanReport, Severity};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

/// The field manager scangate applies with.
pub const FIELD_MANAGER: &str = "scangate";

/// Writes scan summaries as `ImageScanReport` objects.
#[derive(Clone)]
pub struct ReportWriter {
    api: Api<ImageScanReport>,
    max_findings: usize,
}

impl ReportWriter {
    /// `max_findings` is config key `reports.maxFindings`
    /// (default [`crate::k8s::report::DEFAULT_MAX_REPORTED_FINDINGS`]).
    pub fn new(client: Client, max_findings: usize) -> ReportWriter {
        ReportWriter {
            api: Api::all(client),
            max_findings,
        }
    }

    /// Creates or replaces the report object of `spec.digest`.
    pub async fn write(&self, spec: ImageScanReportSpec) -> Result<ImageScanReport, kube::Error> {
        let name = report_name(&spec.digest);
        let mut object = ImageScanReport::new(&name, spec);
        cap_findings(&mut object.spec, self.max_findings);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        self.api.patch(&name, &params, &Patch::Apply(&object)).await
    }
}

/// Cuts the findings to `max`, most severe first, and marks the cut.
pub fn cap_findings(spec: &mut ImageScanReportSpec, max: usize) {
    spec.findings
        .sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)));
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
            id: finding.id.clone(),
            package: finding.package.clone(),
            severity: finding.severity,
            fixed_version: finding.fixed_version.clone(),
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
