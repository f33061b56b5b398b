//! What runs: the image digests of running pods, from
//! `status.containerStatuses[].imageID` (what the kubelet actually pulled)
//! and the spec, with the workloads that own them.

use k8s_openapi::api::core::v1::Pod;
use std::collections::{BTreeMap, BTreeSet};

/// The workload a pod belongs to: its controller, with a ReplicaSet
/// followed to its Deployment by the `pod-template-hash` label.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Workload {
    pub namespace: String,
    pub kind: String,
    pub name: String,
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.kind, self.name)
    }
}

/// One container image of a running pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningContainer {
    /// The image as the spec names it.
    pub image: String,
    /// The manifest digest the kubelet reports, when it reports one.
    pub digest: Option<String>,
}

/// The digest in an `imageID` (`docker-pullable://nginx@sha256:…`,
/// `docker.io/library/nginx@sha256:…`); `None` when it names no repository
/// digest (a bare `sha256:…` is the image config's ID on some runtimes, not
/// a manifest digest, so it cannot be pulled by).
pub fn digest_of_image_id(image_id: &str) -> Option<String> {
    let (_, digest) = image_id.rsplit_once('@')?;
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("sha256:{}", hex.to_ascii_lowercase()))
}

/// The workload that owns `pod` (the pod itself when nothing does).
pub fn workload_of(pod: &Pod) -> Workload {
    let meta = &pod.metadata;
    let namespace = meta.namespace.clone().unwrap_or_default();
    let owner = meta
        .owner_references
        .as_ref()
        .and_then(|owners| owners.iter().find(|o| o.controller == Some(true)));
    let Some(owner) = owner else {
        return Workload {
            namespace,
            kind: "Pod".into(),
            name: meta.name.clone().unwrap_or_default(),
        };
    };
    let template_hash = meta
        .labels
        .as_ref()
        .and_then(|l| l.get("pod-template-hash"));
    if owner.kind == "ReplicaSet"
        && let Some(hash) = template_hash
        && let Some(deployment) = owner.name.strip_suffix(&format!("-{hash}"))
    {
        return Workload {
            namespace,
            kind: "Deployment".into(),
            name: deployment.to_string(),
        };
    }
    Workload {
        namespace,
        kind: owner.kind.clone(),
        name: owner.name.clone(),
    }
}

/// Every container image of a running pod: init, regular and ephemeral,
/// with the digest from the matching container status.
pub fn containers_of(pod: &Pod) -> Vec<RunningContainer> {
    let mut specs: Vec<(String, String)> = Vec::new();
    if let Some(spec) = &pod.spec {
        for c in spec.init_containers.iter().flatten() {
            specs.push((c.name.clone(), c.image.clone().unwrap_or_default()));
        }
        for c in &spec.containers {
            specs.push((c.name.clone(), c.image.clone().unwrap_or_default()));
        }
        for c in spec.ephemeral_containers.iter().flatten() {
            specs.push((c.name.clone(), c.image.clone().unwrap_or_default()));
        }
    }
    let mut digests: BTreeMap<String, String> = BTreeMap::new();
    if let Some(status) = &pod.status {
        let all = status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten())
            .chain(status.ephemeral_container_statuses.iter().flatten());
        for s in all {
            if let Some(digest) = digest_of_image_id(&s.image_id) {
                digests.insert(s.name.clone(), digest);
            }
        }
    }
    specs
        .into_iter()
        .filter(|(_, image)| !image.is_empty())
        .map(|(name, image)| RunningContainer {
            // A spec pinned by digest names it in the same `repo@digest` form.
            digest: digests
                .get(&name)
                .cloned()
                .or_else(|| digest_of_image_id(&image)),
            image,
        })
        .collect()
}

/// One running digest and everything that runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningImage {
    /// A reference to pull it by (`repository@digest`).
    pub image: String,
    pub digest: String,
    pub workloads: BTreeSet<Workload>,
    /// Namespace and name of one pod running it, for its pull secrets.
    pub example_pod: (String, String),
}

/// The set of running digests, rebuilt from the pods a watch sees.
pub fn running_images<'a>(
    pods: impl IntoIterator<Item = &'a Pod>,
) -> BTreeMap<String, RunningImage> {
    let mut out: BTreeMap<String, RunningImage> = BTreeMap::new();
    for pod in pods {
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            continue;
        }
        let workload = workload_of(pod);
        let pod_id = (
            pod.metadata.namespace.clone().unwrap_or_default(),
            pod.metadata.name.clone().unwrap_or_default(),
        );
        for container in containers_of(pod) {
            let Some(digest) = container.digest else {
                continue;
            };
            let repository = repository_of(&container.image);
            let entry = out.entry(digest.clone()).or_insert_with(|| RunningImage {
                image: format!("{repository}@{digest}"),
                digest: digest.clone(),
                workloads: BTreeSet::new(),
                example_pod: pod_id.clone(),
            });
            entry.workloads.insert(workload.clone());
        }
    }
    out
}

/// The repository of a reference as written, digest and tag dropped:
/// `host:5000/app:1.0@sha256:…` → `host:5000/app` (a port's colon is not a
/// tag's). Works on any string, so hostile names need no parsing first.
pub fn repository_of(reference: &str) -> &str {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    let slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    match without_digest[slash..].rfind(':') {
        Some(colon) => &without_digest[..slash + colon],
        None => without_digest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:4c2d1b6f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b";

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn image_ids_give_manifest_digests_only() {
        assert_eq!(
            digest_of_image_id(&format!("docker-pullable://nginx@{D}")).as_deref(),
            Some(D)
        );
        assert_eq!(
            digest_of_image_id(&format!("docker.io/library/nginx@{D}")).as_deref(),
            Some(D)
        );
        assert_eq!(
            digest_of_image_id(D),
            None,
            "a bare ID is the config digest"
        );
        assert_eq!(digest_of_image_id("x@sha256:abc"), None);
        assert_eq!(digest_of_image_id(""), None);
    }

    #[test]
    fn a_replicaset_pod_belongs_to_its_deployment() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "cart-5d9f8b7c6d-x2x4z", "namespace": "shop",
                "labels": {"pod-template-hash": "5d9f8b7c6d"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": "cart-5d9f8b7c6d", "uid": "u", "controller": true}]},
            "spec": {"containers": [{"name": "app", "image": "registry.example:5000/shop/cart:1.2"}],
                     "initContainers": [{"name": "init", "image": "busybox"}]},
            "status": {"phase": "Running",
                "containerStatuses": [{"name": "app", "image": "registry.example:5000/shop/cart:1.2",
                    "imageID": format!("registry.example:5000/shop/cart@{D}"), "ready": true,
                    "restartCount": 0}]}
        }));
        let running = running_images([&p]);
        assert_eq!(running.len(), 1, "the init container reports no digest yet");
        let image = &running[D];
        assert_eq!(image.image, format!("registry.example:5000/shop/cart@{D}"));
        let workload = image.workloads.iter().next().unwrap();
        assert_eq!(workload.to_string(), "shop/Deployment/cart");
    }

    #[test]
    fn finished_pods_do_not_run_anything() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "job-x", "namespace": "ci"},
            "spec": {"containers": [{"name": "app", "image": format!("app@{D}")}]},
            "status": {"phase": "Succeeded"}
        }));
        assert!(running_images([&p]).is_empty());
    }
}
