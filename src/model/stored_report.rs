//! A digest's stored scan report as the re-scan baseline reads it back:
//! the findings it lists (capped, in [`listing_order`]) and since when each
//! was seen. The cluster stores it as an `ImageScanReport`.

use super::Severity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The stored report of one digest.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReport {
    pub digest: String,
    /// Revision of the vulnerability database the scan used.
    pub database_revision: String,
    /// When the scan finished (RFC 3339).
    pub scanned_at: String,
    /// The findings, in [`listing_order`], capped.
    pub findings: Vec<ReportedFinding>,
    /// True when `findings` was cut to the cap.
    pub truncated: bool,
}

/// One finding, reduced to what a human needs to act on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportedFinding {
    pub id: String,
    pub package: String,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_version: Option<String>,
    /// When this finding was first seen on this digest (RFC 3339), kept
    /// across scans: the start of its remediation window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    /// When the re-scan leader raised this finding's overdue alert (RFC
    /// 3339): a new leader does not raise it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overdue_alerted_at: Option<String>,
}

/// The order of a report's findings: most severe first, then by ID. A
/// capped report keeps a prefix of it, which readers of a capped report
/// rely on (the re-scan baseline).
pub fn listing_order(a: (Severity, &str), b: (Severity, &str)) -> std::cmp::Ordering {
    b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1))
}
