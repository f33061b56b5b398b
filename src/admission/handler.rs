//! One admission review, start to end: extract images, look up findings
//! within the budget, evaluate policy, emit events, build the response.

use super::images::{ReviewedPod, extract};
use super::response;
use super::review::{AdmissionRequest, AdmissionResponse, ResponseStatus};
use crate::admission::WebhookConfig;
use crate::policy::eval::{EvalInput, ImageOutcome, ImageResult, ProblemKind, Verdict, evaluate};
use crate::ports::{
    AdmissionEvent, AdmissionEventReason, EventSink, NamespaceLabels, PolicyStore, PullCredentials,
    RunningImages,
};
use crate::registry::{Credentials, ImageRef};
use crate::scan::orchestrator::{CredentialSource, Lookup, Orchestrator};
use crate::telemetry::Metrics;
use async_trait::async_trait;
use std::sync::Arc;

/// The current time; injected so tests can stand on an exception's expiry day.
pub type Clock = Arc<dyn Fn() -> jiff::Timestamp + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(jiff::Timestamp::now)
}

/// Everything a review needs; shared by all requests.
#[derive(Clone)]
pub struct Admission {
    pub orchestrator: Orchestrator,
    pub policies: PolicyStore,
    pub namespaces: Arc<dyn NamespaceLabels>,
    pub credentials: Arc<dyn PullCredentials>,
    pub running: Arc<dyn RunningImages>,
    pub events: Arc<dyn EventSink>,
    pub metrics: Metrics,
    pub config: WebhookConfig,
    pub clock: Clock,
}

/// The outcome label of a review, for metrics.
pub fn verdict_label(response: &AdmissionResponse) -> &'static str {
    match (response.allowed, response.warnings.is_empty()) {
        (false, _) => "denied",
        (true, false) => "warned",
        (true, true) => "allowed",
    }
}

impl Admission {
    /// `POST /validate`.
    pub async fn validate(&self, request: &AdmissionRequest) -> AdmissionResponse {
        let pod = match extract(request, self.config.review_workloads) {
            Ok(Some(pod)) => pod,
            Ok(None) => return AdmissionResponse::allow(&request.uid),
            Err(err) => return bad_object(&request.uid, err.to_string()),
        };
        if pod.images.is_empty() {
            return AdmissionResponse::allow(&request.uid);
        }
        if pod.images.len() > self.config.max_images_per_review {
            self.metrics.limit_hit("maxImagesPerReview");
            return bad_object(
                &request.uid,
                format!(
                    "{} names {} images, more than maxImagesPerReview ({})",
                    pod.kind,
                    pod.images.len(),
                    self.config.max_images_per_review
                ),
            );
        }
        let namespace = request.namespace.as_deref().unwrap_or_default();
        let images = self.look_up(namespace, &pod).await;
        let verdict = self.judge(namespace, &pod, &images);
        self.report(request, namespace, &pod, &verdict);
        response::build(&request.uid, &pod.kind, namespace, &pod.name, &verdict)
    }

    async fn look_up(&self, namespace: &str, pod: &ReviewedPod) -> Vec<ImageOutcome> {
        let deadline = self.orchestrator.deadline();
        let creds = PodCredentials {
            admission: self,
            namespace,
            pod,
            deadline,
            found: tokio::sync::OnceCell::new(),
        };
        let lookups = pod.images.iter().map(|reference| {
            let creds = &creds;
            async move {
                let image = match ImageRef::parse_cached(reference) {
                    Ok(image) => image,
                    Err(err) => {
                        return ImageOutcome {
                            reference: reference.clone(),
                            normalized: reference.as_str().into(),
                            digest: None,
                            result: ImageResult::Failed(err.to_string()),
                            running: None,
                        };
                    }
                };
                let found = self.orchestrator.lookup(&image, creds, deadline).await;
                let running = found
                    .digest
                    .as_deref()
                    .and_then(|d| self.running.running(d));
                ImageOutcome {
                    reference: reference.clone(),
                    normalized: image.normalized().clone(),
                    running,
                    digest: found.digest,
                    result: match found.outcome {
                        Lookup::Scanned(report) => ImageResult::Scanned(report),
                        Lookup::Pending => ImageResult::Pending,
                        Lookup::Failed(err) => ImageResult::Failed(err.to_string()),
                    },
                }
            }
        });
        futures::future::join_all(lookups).await
    }

    fn judge(&self, namespace: &str, pod: &ReviewedPod, images: &[ImageOutcome]) -> Verdict {
        let set = self.policies.snapshot();
        let labels = self.namespaces.labels(namespace).unwrap_or_default();
        let now = (self.clock)();
        let database = self.orchestrator.scanner().database();
        evaluate(&EvalInput {
            namespace,
            namespace_labels: &labels,
            annotations: &pod.annotations,
            images,
            policies: &set.policies,
            exceptions: &set.exceptions,
            today: now.to_zoned(jiff::tz::TimeZone::UTC).date(),
            now,
            database: database.as_ref(),
            cluster_wide_namespaces: &self.config.cluster_wide_exception_namespaces,
            max_listed: self.config.max_findings_in_message,
        })
    }

    /// Logs, metrics and (unless dry run) events about the verdict.
    fn report(
        &self,
        request: &AdmissionRequest,
        namespace: &str,
        pod: &ReviewedPod,
        verdict: &Verdict,
    ) {
        let dry_run = request.dry_run.unwrap_or(false);
        let event = |reason: AdmissionEventReason, event_type: &'static str, message: String| {
            if !dry_run {
                self.events.emit(AdmissionEvent {
                    reason,
                    event_type,
                    namespace: namespace.to_string(),
                    kind: pod.kind.clone(),
                    name: pod.name.clone(),
                    message,
                });
            }
        };
        for problem in &verdict.problems {
            // Pending scans retry; running images inside their window are
            // tracked (and alerted when overdue) by the re-scan loop.
            if matches!(
                problem.kind,
                ProblemKind::Pending | ProblemKind::WithinWindow { .. }
            ) {
                continue;
            }
            let message = response::describe(problem);
            if problem.enforced {
                event(AdmissionEventReason::Denied, "Warning", message);
            } else if !problem.break_glass {
                event(AdmissionEventReason::AuditViolation, "Warning", message);
            }
        }
        if let Some(reason) = &verdict.break_glass {
            self.metrics.break_glass(namespace);
            tracing::warn!(
                uid = %request.uid, namespace, kind = %pod.kind, name = %pod.name,
                user = %request.user_info.username, reason = %reason, dry_run,
                "break-glass admitted an object that violates policy"
            );
            event(
                AdmissionEventReason::BreakGlass,
                "Warning",
                format!(
                    "admitted by break-glass ({reason}) by {}",
                    request.user_info.username
                ),
            );
        }
        for ex in &verdict.expired_exceptions {
            self.metrics.expired_exception(&ex.namespace, &ex.name);
            event(
                AdmissionEventReason::ExceptionExpired,
                "Warning",
                format!(
                    "ScanException {}/{} expired ({}) and no longer applies",
                    ex.namespace, ex.name, ex.expires
                ),
            );
        }
        // Clean admissions are the bulk of the traffic: debug level only.
        if verdict.problems.is_empty() && verdict.expired_exceptions.is_empty() {
            tracing::debug!(uid = %request.uid, namespace, kind = %pod.kind, name = %pod.name, "reviewed: allowed");
        } else {
            tracing::info!(
                uid = %request.uid, namespace, kind = %pod.kind, name = %pod.name,
                allowed = verdict.allowed(), problems = verdict.problems.len(), dry_run,
                "reviewed"
            );
        }
    }
}

/// The pod's registry credentials, looked up once, on the first cache miss
/// that needs them (a warm review needs none).
struct PodCredentials<'a> {
    admission: &'a Admission,
    namespace: &'a str,
    pod: &'a ReviewedPod,
    deadline: tokio::time::Instant,
    found: tokio::sync::OnceCell<Credentials>,
}

#[async_trait]
impl CredentialSource for PodCredentials<'_> {
    async fn credentials(&self) -> &Credentials {
        self.found
            .get_or_init(|| async {
                let (namespace, pod) = (self.namespace, self.pod);
                // Looking up pull secrets shares the budget: a slow API server
                // must not hold the review past it. Without them, public
                // images still scan.
                let lookup = self.admission.credentials.for_pod(namespace, &pod.pull_secrets);
                match tokio::time::timeout_at(self.deadline, lookup).await {
                    Ok(creds) => creds,
                    Err(_) => {
                        self.admission.metrics.limit_hit("scanTimeout");
                        tracing::warn!(namespace, name = %pod.name, "pull credentials not found within scanTimeout; scanning anonymously");
                        Credentials::default()
                    }
                }
            })
            .await
    }
}

/// An object we should judge but cannot read: denied, naming the problem.
fn bad_object(uid: &str, message: String) -> AdmissionResponse {
    let mut response = AdmissionResponse::deny(
        uid,
        format!("scangate cannot review this object: {message}"),
    );
    response.status = response.status.map(|status| ResponseStatus {
        code: 400,
        reason: "BadRequest".into(),
        ..status
    });
    response
}
