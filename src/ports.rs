//! What admission and the re-scan loop need from the world outside a
//! request, as narrow traits in domain types: the cluster implements them
//! (`crate::k8s`, converting its API objects at its edge); files and tests
//! implement them without a cluster.

use crate::model::StoredReport;
use crate::policy::eval::RunningFindings;
use crate::registry::Credentials;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The policies and exceptions in force, compiled: one immutable snapshot.
pub use crate::policy::PolicySet;

/// The current compiled [`PolicySet`], swapped whole when the files are
/// read or a watch sees a change (compiled then, never per request), so a
/// request never waits on the API server and never parses a policy.
#[derive(Debug, Clone, Default)]
pub struct PolicyStore {
    current: Arc<ArcSwap<PolicySet>>,
}

impl PolicyStore {
    pub fn new(set: PolicySet) -> PolicyStore {
        PolicyStore {
            current: Arc::new(ArcSwap::from_pointee(set)),
        }
    }

    pub fn snapshot(&self) -> Arc<PolicySet> {
        self.current.load_full()
    }

    pub fn replace(&self, set: PolicySet) {
        self.current.store(Arc::new(set));
    }
}

/// Labels of namespaces, for policies' `namespaceSelector`.
pub trait NamespaceLabels: Send + Sync {
    /// The labels of `namespace`; `None` if it is not known.
    fn labels(&self, namespace: &str) -> Option<BTreeMap<String, String>>;
}

/// What of a pod spec decides its registry credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodPullSecrets {
    /// Names of the pod's `imagePullSecrets`, in order.
    pub secrets: Vec<String>,
    /// `serviceAccountName`; `None` means `default`.
    pub service_account: Option<String>,
}

impl From<&PodSpec> for PodPullSecrets {
    fn from(spec: &PodSpec) -> PodPullSecrets {
        PodPullSecrets {
            secrets: spec
                .image_pull_secrets
                .iter()
                .flatten()
                .map(|r| r.name.clone())
                .collect(),
            service_account: spec.service_account_name.clone(),
        }
    }
}

/// Registry credentials for the images of a pod: its `imagePullSecrets`,
/// then its service account's, then the configured global secret.
#[async_trait]
pub trait PullCredentials: Send + Sync {
    async fn for_pod(&self, namespace: &str, pod: &PodPullSecrets) -> Credentials;
}

/// Which digests already run in the cluster (for policies'
/// `graceForRunningImages`).
pub trait RunningImages: Send + Sync {
    /// `Some` if `digest` runs now: when each of its findings (by ID) was
    /// first seen on it. `None` if it does not run (or nothing is known).
    fn running(&self, digest: &str) -> Option<Arc<RunningFindings>>;
}

/// Outside a cluster nothing is known to run.
pub struct NothingRunning;

impl RunningImages for NothingRunning {
    fn running(&self, _digest: &str) -> Option<Arc<RunningFindings>> {
        None
    }
}

/// Why an admission event is emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdmissionEventReason {
    Denied,
    AuditViolation,
    BreakGlass,
    ExceptionExpired,
    /// A ClusterScanPolicy or ScanException of the cluster failed validation.
    InvalidPolicy,
    /// A re-scan found new vulnerabilities in a running image.
    NewVulnerabilities,
    /// A finding in a running image is past its response deadline.
    RemediationOverdue,
}

impl AdmissionEventReason {
    /// The Event `reason` (CamelCase, as Kubernetes events use).
    pub fn as_str(self) -> &'static str {
        match self {
            AdmissionEventReason::Denied => "ImageDenied",
            AdmissionEventReason::AuditViolation => "ImageAuditViolation",
            AdmissionEventReason::BreakGlass => "BreakGlassAdmission",
            AdmissionEventReason::ExceptionExpired => "ScanExceptionExpired",
            AdmissionEventReason::InvalidPolicy => "InvalidPolicy",
            AdmissionEventReason::NewVulnerabilities => "NewVulnerabilities",
            AdmissionEventReason::RemediationOverdue => "RemediationOverdue",
        }
    }
}

/// An event about one reviewed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionEvent {
    pub reason: AdmissionEventReason,
    /// `Warning` or `Normal`.
    pub event_type: &'static str,
    pub namespace: String,
    /// Kind and name of the object under review (the name may be empty for
    /// a pod with `generateName`; the event then goes on the namespace).
    pub kind: String,
    pub name: String,
    pub message: String,
}

/// Where admission events go; must not block the request (queue and return).
pub trait EventSink: Send + Sync {
    fn emit(&self, event: AdmissionEvent);
}

/// The pods a watch currently sees.
pub trait PodSnapshot: Send + Sync {
    fn pods(&self) -> Vec<Arc<Pod>>;
}

/// Whether this replica is the elected leader (only the leader re-scans).
pub trait Leadership: Send + Sync {
    fn is_leader(&self) -> bool;
}

/// The stored report of a digest (the cluster keeps it as an
/// `ImageScanReport`).
#[async_trait]
pub trait StoredReports: Send + Sync {
    /// `None` when the digest has no report.
    async fn report(&self, digest: &str) -> Result<Option<StoredReport>, ReportReadError>;

    /// Records on the digest's report that `findings` (ID, package) were
    /// alerted overdue at `at` (RFC 3339), so that a new leader does not
    /// alert them again. Findings the report does not list stay unmarked.
    async fn mark_overdue(
        &self,
        digest: &str,
        findings: &[(String, String)],
        at: &str,
    ) -> Result<(), ReportMarkError>;
}

/// The overdue marks could not be written: a new leader may alert those
/// findings again (at least once, never lost).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("marking overdue findings on the ImageScanReport of {digest}: {reason}")]
pub struct ReportMarkError {
    pub digest: String,
    pub reason: String,
}

/// The report could not be read (the API failed): the baseline is unknown.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("reading the ImageScanReport of {digest}: {reason}")]
pub struct ReportReadError {
    pub digest: String,
    pub reason: String,
}
