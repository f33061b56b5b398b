//! `ImageScanReport`: a compact, cluster-scoped summary of the latest scan
//! of one image digest, small enough that thousands do not strain etcd.
//! Full reports and history live in the re-scan store, not here.

pub use crate::model::ReportedFinding;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// At most this many finding IDs are kept in one report.
pub const DEFAULT_MAX_REPORTED_FINDINGS: usize = 200;

/// Counts of findings per severity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeverityCounts {
    #[serde(default)]
    pub critical: u32,
    #[serde(default)]
    pub high: u32,
    #[serde(default)]
    pub medium: u32,
    #[serde(default)]
    pub low: u32,
    #[serde(default)]
    pub unknown: u32,
}

/// The summary of the scan of one digest. The object's name is derived from
/// the digest (see [`report_name`]).
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "scangate.dev",
    version = "v1alpha1",
    kind = "ImageScanReport",
    shortname = "isr",
    printcolumn = r#"{"name":"Image","type":"string","jsonPath":".spec.image"}"#,
    printcolumn = r#"{"name":"Critical","type":"integer","jsonPath":".spec.counts.critical"}"#,
    printcolumn = r#"{"name":"High","type":"integer","jsonPath":".spec.counts.high"}"#,
    printcolumn = r#"{"name":"Scanned","type":"date","jsonPath":".spec.scannedAt"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ImageScanReportSpec {
    /// `sha256:…` digest of the scanned manifest.
    pub digest: String,
    /// A reference under which the digest was seen (for humans).
    #[serde(default)]
    pub image: String,
    pub counts: SeverityCounts,
    /// Findings with a fixed version, per severity.
    pub fixable: SeverityCounts,
    /// Revision of the vulnerability database used.
    pub database_revision: String,
    /// When the scan finished (RFC 3339).
    #[schemars(schema_with = "date_time_schema")]
    pub scanned_at: String,
    /// The findings, most severe first, capped.
    #[serde(default)]
    pub findings: Vec<ReportedFinding>,
    /// True when `findings` was cut to the cap.
    #[serde(default)]
    pub truncated: bool,
    /// The latest scans of this digest, oldest first, this one last
    /// (capped at `kubernetes.reports.historyLength`): whether findings
    /// come and go without reading the full history.
    #[serde(default)]
    pub recent: Vec<ScanSummary>,
}

/// One scan of a digest, in a few numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanSummary {
    #[schemars(schema_with = "date_time_schema")]
    pub scanned_at: String,
    pub database_revision: String,
    pub counts: SeverityCounts,
    pub fixable: SeverityCounts,
}

impl ImageScanReportSpec {
    /// This scan, in a few numbers.
    pub fn summary(&self) -> ScanSummary {
        ScanSummary {
            scanned_at: self.scanned_at.clone(),
            database_revision: self.database_revision.clone(),
            counts: self.counts.clone(),
            fixable: self.fixable.clone(),
        }
    }
}

fn date_time_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "string", "format": "date-time" })
}

/// The object name for a digest: `sha256-<hex>` (a valid DNS subdomain).
pub fn report_name(digest: &str) -> String {
    digest.replace(':', "-").to_ascii_lowercase()
}
