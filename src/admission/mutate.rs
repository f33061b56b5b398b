//! Digest pinning (`POST /mutate`, `pinDigests`): a JSONPatch that rewrites
//! each tag reference to the digest it resolves to now, the one validation
//! will judge, so that what runs is what was judged even if the tag moves.

use super::handler::Admission;
use super::images::extract;
use super::review::{AdmissionRequest, AdmissionResponse};
use crate::registry::ImageRef;
use base64::Engine;
use serde_json::{Value, json};

/// Where each kind keeps its pod spec, as a JSON pointer prefix.
fn spec_pointer(kind: &str) -> &'static str {
    match kind {
        "Pod" => "/spec",
        "CronJob" => "/spec/jobTemplate/spec/template/spec",
        _ => "/spec/template/spec",
    }
}

impl Admission {
    /// `POST /mutate`: never denies; an image that cannot be resolved in
    /// time is left as it is (validation then judges it).
    pub async fn mutate(&self, request: &AdmissionRequest) -> AdmissionResponse {
        let mut response = AdmissionResponse::allow(&request.uid);
        if !self.config.pin_digests {
            return response;
        }
        let Ok(Some(pod)) = extract(request, self.config.review_workloads) else {
            return response;
        };
        let Some(object) = &request.object else {
            return response;
        };
        let namespace = request.namespace.clone().unwrap_or_default();
        let creds = self.credentials.for_pod(&namespace, &pod.spec).await;
        let deadline = self.orchestrator.deadline();
        let prefix = spec_pointer(&pod.kind);
        let mut ops = vec![];
        for list in ["initContainers", "containers", "ephemeralContainers"] {
            let containers = object
                .pointer(&format!("{prefix}/{list}"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (index, container) in containers.iter().enumerate() {
                let Some(written) = container.get("image").and_then(Value::as_str) else {
                    continue;
                };
                if !pod.images.iter().any(|i| i == written) {
                    continue;
                }
                let Ok(image) = ImageRef::parse(written) else {
                    continue;
                };
                if image.digest().is_some() {
                    continue;
                }
                let resolved =
                    tokio::time::timeout_at(deadline, self.orchestrator.resolve(&image, &creds))
                        .await;
                match resolved {
                    Ok(Ok(digest)) => ops.push(json!({
                        "op": "replace",
                        "path": format!("{prefix}/{list}/{index}/image"),
                        "value": format!("{written}@{digest}"),
                    })),
                    Ok(Err(err)) => {
                        tracing::warn!(image = written, error = %err, "cannot pin digest")
                    }
                    Err(_) => {
                        self.metrics.limit_hit("scanTimeout");
                        tracing::warn!(image = written, "cannot pin digest: resolution timed out");
                    }
                }
            }
        }
        if !ops.is_empty() {
            let patch = serde_json::to_vec(&ops).unwrap_or_default();
            response.patch_type = Some("JSONPatch");
            response.patch = Some(base64::engine::general_purpose::STANDARD.encode(patch));
        }
        response
    }
}
