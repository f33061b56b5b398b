//! The JSON document of `scangate scan --format json`, also what the
//! history store keeps. Its schema is documented in `docs/report-format.md`
//! and only ever grows: fields are added, never renamed or removed.

use crate::model::{Finding, OsInfo, Package, ScanReport, Severity};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of this document's schema.
pub const SCHEMA_VERSION: u32 = 1;

/// One scan, judged by policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanDocument {
    pub schema_version: u32,
    /// `scangate <version>`.
    pub scanner: String,
    pub image: String,
    pub digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<OsInfo>,
    pub db_revision: String,
    pub scanned_at: String,
    pub packages: Vec<Package>,
    pub findings: Vec<Finding>,
    /// Ecosystems the image needs that the database could not check.
    #[serde(default)]
    pub unchecked: Vec<String>,
    /// Findings per severity (all findings, before policy).
    pub counts: BTreeMap<Severity, usize>,
    /// The policy verdict; absent when no policy was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<VerdictSummary>,
}

/// What policy made of the findings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VerdictSummary {
    /// False when at least one policy is violated.
    pub passed: bool,
    /// The policies that were applied, by name.
    pub policies: Vec<String>,
    pub violations: Vec<Violation>,
    /// Findings an exception set aside.
    pub excepted: Vec<ExceptedFinding>,
    /// Things a user should know (expired exceptions, unchecked ecosystems).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// A finding that violates a policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    pub id: String,
    pub package: String,
    pub installed_version: String,
    #[serde(default)]
    pub fixed_version: Option<String>,
    pub severity: Severity,
    pub policy: String,
}

/// A finding an exception applied to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExceptedFinding {
    pub id: String,
    pub package: String,
    /// `namespace/name` of the exception.
    pub exception: String,
    pub reason: String,
    pub expires: String,
}

impl ScanDocument {
    pub fn new(report: &ScanReport, verdict: Option<VerdictSummary>) -> ScanDocument {
        ScanDocument {
            schema_version: SCHEMA_VERSION,
            scanner: format!("scangate {}", env!("CARGO_PKG_VERSION")),
            image: report.image.clone(),
            digest: report.digest.clone(),
            os: report.inventory.os.clone(),
            db_revision: report.db_revision.clone(),
            scanned_at: report.scanned_at.clone(),
            packages: report.inventory.packages.clone(),
            findings: report.findings.clone(),
            unchecked: report.unchecked.clone(),
            counts: count_by_severity(&report.findings),
            verdict,
        }
    }
}

/// Findings per severity, every severity present (zero where none).
pub fn count_by_severity(findings: &[Finding]) -> BTreeMap<Severity, usize> {
    let mut counts: BTreeMap<Severity, usize> = Severity::ALL.iter().map(|s| (*s, 0)).collect();
    for finding in findings {
        *counts.entry(finding.severity).or_default() += 1;
    }
    counts
}
