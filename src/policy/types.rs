//! The custom resources of group `scangate.dev/v1alpha1` that hold policy.
//! The same YAML documents are read from files by `scangate scan --policy`
//! and `scangate serve --policy`. Every struct refuses unknown fields and
//! the schema attributes carry the loader's rules (duration and date
//! patterns, at least one image and one vulnerability per exception), so
//! the API server refuses what `compile` would.

use crate::model::Severity;
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
#[serde(rename_all = "camelCase", deny_unknown_fields)]
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
#[serde(rename_all = "camelCase", deny_unknown_fields)]
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
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterScanPolicySpec {
    #[serde(default)]
    pub mode: PolicyMode,
    /// Namespaces this policy applies to; absent or empty selects all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<NamespaceSelector>,
    #[serde(default)]
    pub fail_on: FailOn,
    /// Glob patterns of image references that are never judged
    /// (e.g. `registry.k8s.io/*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(length(min = 1)))]
    pub exempt_images: Vec<String>,
    /// The verdict while a scan has not finished within the budget.
    #[serde(default)]
    pub on_scan_pending: PendingAction,
    /// The verdict when a scan failed.
    #[serde(default)]
    pub on_scan_error: PendingAction,
    /// A database older than this (e.g. `48h`, `7d`) counts as a scan error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub max_database_age: Option<String>,
    #[serde(default)]
    pub break_glass: BreakGlass,
    /// Response timeline per severity (e.g. `CRITICAL: 24h`, `HIGH: 7d`):
    /// how long a finding may stay open on an already running digest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "remediation_schema")]
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
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScanExceptionSpec {
    /// Vulnerability IDs or aliases (`CVE-2024-1234`, `GHSA-…`, `DSA-…`);
    /// `*` means every vulnerability of the matched images. At least one.
    #[schemars(length(min = 1), inner(length(min = 1)))]
    pub vulnerabilities: Vec<String>,
    /// Glob patterns of image references (`*` crosses `/`); at least one:
    /// `"*"` means every image, and only when written.
    #[schemars(length(min = 1), inner(length(min = 1)))]
    pub images: Vec<String>,
    /// Namespaces the exception applies to, within what its own namespace
    /// may grant; absent or empty means all it may grant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Why the risk is accepted.
    #[schemars(length(min = 1))]
    pub reason: String,
    /// Who reviewed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed_by: Option<String>,
    /// The last day (UTC, `YYYY-MM-DD`) on which the exception applies.
    #[schemars(schema_with = "date_schema")]
    pub expires: String,
}

/// The one API version of the policy resources.
pub const API_VERSION: &str = "scangate.dev/v1alpha1";
pub const POLICY_KIND: &str = "ClusterScanPolicy";
pub const EXCEPTION_KIND: &str = "ScanException";

/// A positive whole number and a unit: the one duration syntax
/// ([`crate::model::ConfigDuration`]), zero excluded.
pub const DURATION_PATTERN: &str = "^[0-9]*[1-9][0-9]*(ms|s|m|h|d|w)$";

/// `YYYY-MM-DD`.
pub const DATE_PATTERN: &str = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$";

fn date_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "string", "format": "date", "pattern": DATE_PATTERN })
}

/// Severity → duration; the API server checks both keys and values.
fn remediation_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let severities: Vec<&str> = Severity::ALL.iter().map(|s| s.as_str()).collect();
    schemars::json_schema!({
        "type": "object",
        "maxProperties": severities.len(),
        "additionalProperties": { "type": "string", "pattern": DURATION_PATTERN },
        "x-kubernetes-validations": [{
            "rule": format!("self.all(k, k in {severities:?})"),
            "message": format!("remediation keys are severities: {}", severities.join(", ")),
        }],
    })
}

/// Which namespaces a policy applies to: a Kubernetes label selector,
/// with its unknown fields refused (`matchLabel` is a typo, not a no-op).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceSelector {
    /// Every label listed must be present with this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
    /// Every requirement listed must hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_expressions: Option<Vec<SelectorRequirement>>,
}

/// One `matchExpressions` requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "(self.operator in ['In', 'NotIn']) ? (has(self.values) && size(self.values) > 0) : (!has(self.values) || size(self.values) == 0)",
    "message": "In and NotIn need values; Exists and DoesNotExist take none",
}]))]
pub struct SelectorRequirement {
    #[schemars(length(min = 1))]
    pub key: String,
    pub operator: SelectorOperator,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

/// The operators of a label selector requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}
