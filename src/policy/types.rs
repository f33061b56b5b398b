//! The custom resources of group `scangate.dev/v1alpha1` that hold policy.
//! The same YAML documents are read from files by `scangate scan --policy`
//! and `scangate serve --policy`.

use crate::model::Severity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Enforce denies violating pods; Audit admits them with warnings (dry run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum PolicyMode {
    #[default]
    Enforce,
    Audit,
}

/// What to do with a pod whose verdict is not known (yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum PendingAction {
    #[default]
    Deny,
    Allow,
}

/// Which findings violate the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailOn {
    /// Findings at or above this severity violate the policy.
    #[serde(default = "default_threshold")]
    pub severity: Severity,
    /// Only findings with a fixed version available violate the policy.
    #[serde(default)]
    pub fixable_only: bool,
    /// The severity a finding of `UNKNOWN` severity is treated as.
    #[serde(default = "default_unknown_as")]
    pub unknown_severity_as: Severity,
}

fn default_threshold() -> Severity {
    Severity::Critical
}

fn default_unknown_as() -> Severity {
    Severity::Unknown
}

impl Default for FailOn {
    fn default() -> Self {
        FailOn {
            severity: default_threshold(),
            fixable_only: false,
            unknown_severity_as: default_unknown_as(),
        }
    }
}

/// Break-glass: an annotated pod is admitted despite violations, loudly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BreakGlass {
    #[serde(default)]
    pub enabled: bool,
}

/// A cluster-wide scan policy. Every policy whose namespace selector matches
/// a pod's namespace applies; the pod must satisfy all of them.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "scangate.dev",
    version = "v1alpha1",
    kind = "ClusterScanPolicy",
    shortname = "csp",
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"Severity","type":"string","jsonPath":".spec.failOn.severity"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterScanPolicySpec {
    #[serde(default)]
    pub mode: PolicyMode,
    /// Namespaces this policy applies to; absent or empty selects all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    #[serde(default)]
    pub fail_on: FailOn,
    /// Glob patterns of image references that are never judged
    /// (e.g. `registry.k8s.io/*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exempt_images: Vec<String>,
    /// The verdict while a scan has not finished within the budget.
    #[serde(default)]
    pub on_scan_pending: PendingAction,
    /// The verdict when a scan failed.
    #[serde(default)]
    pub on_scan_error: PendingAction,
    /// A database older than this (e.g. `48h`, `7d`) counts as a scan error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_database_age: Option<String>,
    #[serde(default)]
    pub break_glass: BreakGlass,
    /// Response timeline per severity (e.g. `CRITICAL: 24h`, `HIGH: 7d`):
    /// how long a finding may stay open on an already running digest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub remediation: BTreeMap<Severity, String>,
    /// A digest that already runs in the cluster is admitted (with a
    /// warning naming the deadline) for findings still inside their
    /// `remediation` window, so restarts and scale-ups keep working while a
    /// fix is under way; a new digest is judged as usual. Default: true.
    #[serde(default = "grace_default")]
    pub grace_for_running_images: bool,
}

fn grace_default() -> bool {
    true
}

impl Default for ClusterScanPolicySpec {
    /// The same as an empty `spec: {}` in YAML.
    fn default() -> Self {
        ClusterScanPolicySpec {
            mode: PolicyMode::default(),
            namespace_selector: None,
            fail_on: FailOn::default(),
            exempt_images: vec![],
            on_scan_pending: PendingAction::default(),
            on_scan_error: PendingAction::default(),
            max_database_age: None,
            break_glass: BreakGlass::default(),
            remediation: BTreeMap::new(),
            grace_for_running_images: grace_default(),
        }
    }
}

/// An accepted risk: named vulnerabilities in named images do not count,
/// for a reason, reviewed by someone, until a date.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "scangate.dev",
    version = "v1alpha1",
    kind = "ScanException",
    namespaced,
    shortname = "sx",
    printcolumn = r#"{"name":"Vulnerabilities","type":"string","jsonPath":".spec.vulnerabilities"}"#,
    printcolumn = r#"{"name":"Images","type":"string","jsonPath":".spec.images"}"#,
    printcolumn = r#"{"name":"Scope","type":"string","jsonPath":".spec.namespaces"}"#,
    printcolumn = r#"{"name":"Reviewed-By","type":"string","jsonPath":".spec.reviewedBy"}"#,
    printcolumn = r#"{"name":"Expires","type":"string","format":"date","jsonPath":".spec.expires"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ScanExceptionSpec {
    /// Vulnerability IDs or aliases (`CVE-2024-1234`, `GHSA-…`, `DSA-…`);
    /// `*` means every vulnerability of the matched images.
    pub vulnerabilities: Vec<String>,
    /// Glob patterns of image references; absent or empty means all images.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// Namespaces the exception applies to, within what its own namespace
    /// may grant; absent or empty means all it may grant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Why the risk is accepted.
    pub reason: String,
    /// Who reviewed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed_by: Option<String>,
    /// The last day (UTC, `YYYY-MM-DD`) on which the exception applies.
    #[schemars(schema_with = "date_schema")]
    pub expires: String,
}

fn date_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "string", "format": "date" })
}
