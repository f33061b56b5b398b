//! Digest pinning (`POST /mutate`, `pinDigests`): a JSONPatch that rewrites
//! each tag reference to the digest it resolves to now, the one validation
//! will judge, so that what runs is what was judged even if the tag moves.

use super::handler::Admission;
use super::images::{extract, spec_pointer};
use super::review::{AdmissionRequest, AdmissionResponse};
use crate::registry::ImageRef;
use base64::Engine;
use serde_json::json;

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
        let namespace = request.namespace.clone().unwrap_or_default();
        let creds = self
            .credentials
            .for_pod(&namespace, &pod.pull_secrets)
            .await;
        let deadline = self.orchestrator.deadline();
        let prefix = spec_pointer(&pod.kind);
        let mut ops = vec![];
        for container in &pod.containers {
            let written = container.image.as_str();
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
                tokio::time::timeout_at(deadline, self.orchestrator.resolve(&image, &creds)).await;
            match resolved {
                Ok(Ok(digest)) => ops.push(json!({
                    "op": "replace",
                    "path": format!("{prefix}/{}/{}/image", container.list, container.index),
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
        if !ops.is_empty() {
            let patch = serde_json::to_vec(&ops).unwrap_or_default();
            response.patch_type = Some("JSONPatch");
            response.patch = Some(base64::engine::general_purpose::STANDARD.encode(patch));
        }
        response
    }
}
