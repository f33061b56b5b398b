//! Which images an object runs: every container list of a pod, or of the pod
//! template of a workload. Anything else has no images and no verdict.

use super::ports::PodPullSecrets;
use super::review::{AdmissionRequest, Operation};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// A pod spec under review, with what policy needs around it.
#[derive(Debug, Clone)]
pub struct ReviewedPod {
    /// The kind of the object under review (`Pod`, `Deployment`, …).
    pub kind: String,
    pub name: String,
    /// What decides the registry credentials of its images.
    pub pull_secrets: PodPullSecrets,
    /// The object's annotations merged with its pod template's.
    pub annotations: BTreeMap<String, String>,
    /// Distinct image references to judge, in order of appearance.
    pub images: Vec<String>,
    /// Every container's image where it is written, for digest pinning.
    pub containers: Vec<ContainerImage>,
}

/// One container's image and where it sits in the pod spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerImage {
    /// `initContainers`, `containers` or `ephemeralContainers`.
    pub list: &'static str,
    pub index: usize,
    pub image: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("{kind} has no {path}")]
    Missing { kind: String, path: &'static str },
    #[error("{kind} {path} is not a valid pod spec: {source}")]
    Spec {
        kind: String,
        path: &'static str,
        source: serde_json::Error,
    },
}

/// Where the pod spec of each reviewed kind lives: `(group, kind, path)`.
const POD_SPEC_PATHS: &[(&str, &str, &[&str])] = &[
    ("", "Pod", &["spec"]),
    ("apps", "Deployment", &["spec", "template"]),
    ("apps", "ReplicaSet", &["spec", "template"]),
    ("apps", "StatefulSet", &["spec", "template"]),
    ("apps", "DaemonSet", &["spec", "template"]),
    ("batch", "Job", &["spec", "template"]),
    (
        "batch",
        "CronJob",
        &["spec", "jobTemplate", "spec", "template"],
    ),
    ("", "ReplicationController", &["spec", "template"]),
];

/// The JSON pointer of the pod spec of `kind` (for patches).
pub fn spec_pointer(kind: &str) -> &'static str {
    match kind {
        "Pod" => "/spec",
        "CronJob" => "/spec/jobTemplate/spec/template/spec",
        _ => "/spec/template/spec",
    }
}

/// The pod spec of the object under review, or `None` when the request is
/// not ours to judge (another kind, another operation, workloads disabled).
///
/// On UPDATE only the images the old object did not run are judged: the
/// others were judged when they were admitted, and re-judging them would
/// block unrelated changes (a label, a new ephemeral debug container).
pub fn extract(
    request: &AdmissionRequest,
    review_workloads: bool,
) -> Result<Option<ReviewedPod>, ExtractError> {
    if !matches!(request.operation, Operation::Create | Operation::Update) {
        return Ok(None);
    }
    let kind = &request.kind;
    let Some((_, _, path)) = POD_SPEC_PATHS
        .iter()
        .find(|(group, name, _)| *group == kind.group && *name == kind.kind)
    else {
        return Ok(None);
    };
    if kind.kind != "Pod" && !review_workloads {
        return Ok(None);
    }
    let Some(object) = &request.object else {
        return Err(ExtractError::Missing {
            kind: kind.kind.clone(),
            path: "object",
        });
    };
    let found = pod_spec_at(object, path, &kind.kind)?;
    let old_images: Vec<String> = match &request.old_object {
        Some(old) if request.operation == Operation::Update => pod_spec_at(old, path, &kind.kind)
            .map(|old| distinct_images(&old.containers))
            .unwrap_or_default(),
        _ => vec![],
    };
    let images = distinct_images(&found.containers)
        .into_iter()
        .filter(|image| !old_images.contains(image))
        .collect();
    let name = [found.object_meta.name, found.object_meta.generate_name]
        .into_iter()
        .flatten()
        .find(|n| !n.is_empty())
        .unwrap_or_else(|| request.name.clone());
    let mut annotations = found.object_meta.annotations.unwrap_or_default();
    annotations.extend(found.template_annotations);
    Ok(Some(ReviewedPod {
        kind: kind.kind.clone(),
        name,
        pull_secrets: found.pull_secrets,
        annotations,
        images,
        containers: found.containers,
    }))
}

/// One level of an object on the way to its pod spec: only the keys on
/// the path are kept (as raw JSON, not parsed further), and the metadata.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Level<'a> {
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(borrow, default)]
    spec: Option<&'a RawValue>,
    #[serde(borrow, default)]
    template: Option<&'a RawValue>,
    #[serde(borrow, default)]
    job_template: Option<&'a RawValue>,
}

impl<'a> Level<'a> {
    fn get(&self, key: &str) -> Option<&'a RawValue> {
        let value = match key {
            "spec" => self.spec,
            "template" => self.template,
            "jobTemplate" => self.job_template,
            _ => None,
        };
        value.filter(|v| v.get() != "null")
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    generate_name: Option<String>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

/// The parts of a pod spec admission reads; everything else is skipped
/// while parsing, never built.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodSpecView {
    #[serde(default)]
    init_containers: Option<Vec<ContainerView>>,
    containers: Vec<ContainerView>,
    #[serde(default)]
    ephemeral_containers: Option<Vec<ContainerView>>,
    #[serde(default)]
    image_pull_secrets: Option<Vec<SecretRef>>,
    #[serde(default)]
    service_account_name: Option<String>,
}

#[derive(Deserialize)]
struct ContainerView {
    #[serde(default)]
    image: Option<String>,
}

#[derive(Deserialize)]
struct SecretRef {
    #[serde(default)]
    name: Option<String>,
}

/// What was found at the end of the path.
struct FoundSpec {
    object_meta: Metadata,
    template_annotations: BTreeMap<String, String>,
    pull_secrets: PodPullSecrets,
    containers: Vec<ContainerImage>,
}

/// The pod spec at `path` (`path` ends at the pod or the template).
fn pod_spec_at(object: &RawValue, path: &[&str], kind: &str) -> Result<FoundSpec, ExtractError> {
    let template_path: &'static str = if path.len() == 1 {
        "spec"
    } else {
        "pod template"
    };
    let invalid = |source| ExtractError::Spec {
        kind: kind.to_string(),
        path: template_path,
        source,
    };
    let missing = |path| ExtractError::Missing {
        kind: kind.to_string(),
        path,
    };
    let mut level: Level = serde_json::from_str(object.get()).map_err(invalid)?;
    let object_meta = level.metadata.take().unwrap_or_default();
    // Walk down to the pod (for a Pod) or the template (for a workload).
    let mut holder = None;
    for key in path {
        let next = level.get(key).ok_or_else(|| missing(template_path))?;
        holder = Some(next);
        if path.len() > 1 {
            level = serde_json::from_str(next.get()).map_err(invalid)?;
        }
    }
    let holder = holder.ok_or_else(|| missing(template_path))?;
    let (spec, template_annotations) = if path.len() == 1 {
        (holder, BTreeMap::new())
    } else {
        let spec = level
            .get("spec")
            .ok_or_else(|| missing("pod template spec"))?;
        let annotations = level
            .metadata
            .and_then(|m| m.annotations)
            .unwrap_or_default();
        (spec, annotations)
    };
    let view: PodSpecView = serde_json::from_str(spec.get()).map_err(invalid)?;
    let lists = [
        ("initContainers", view.init_containers.unwrap_or_default()),
        ("containers", view.containers),
        (
            "ephemeralContainers",
            view.ephemeral_containers.unwrap_or_default(),
        ),
    ];
    let mut containers = vec![];
    for (list, entries) in lists {
        for (index, container) in entries.into_iter().enumerate() {
            if let Some(image) = container.image {
                containers.push(ContainerImage { list, index, image });
            }
        }
    }
    Ok(FoundSpec {
        object_meta,
        template_annotations,
        pull_secrets: PodPullSecrets {
            secrets: view
                .image_pull_secrets
                .into_iter()
                .flatten()
                .filter_map(|r| r.name)
                .collect(),
            service_account: view.service_account_name,
        },
        containers,
    })
}

/// Distinct images of init, regular and ephemeral containers, in order.
fn distinct_images(containers: &[ContainerImage]) -> Vec<String> {
    let mut images: Vec<String> = vec![];
    for container in containers {
        if !images.contains(&container.image) {
            images.push(container.image.clone());
        }
    }
    images
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn request(
        group: &str,
        kind: &str,
        op: &str,
        object: Value,
        old: Option<Value>,
    ) -> AdmissionRequest {
        serde_json::from_value(json!({
            "uid": "u", "kind": {"group": group, "version": "v1", "kind": kind},
            "resource": {"group": group, "version": "v1", "resource": "x"},
            "name": "n", "namespace": "shop", "operation": op, "userInfo": {"username": "me"},
            "object": object, "oldObject": old, "dryRun": false
        }))
        .unwrap()
    }

    fn pod_spec() -> Value {
        json!({
            "initContainers": [{"name": "i", "image": "init:1"}],
            "containers": [{"name": "a", "image": "app:1"}, {"name": "b", "image": "app:1"}, {"name": "s", "image": "side:2"}],
            "ephemeralContainers": [{"name": "d", "image": "debug:3"}]
        })
    }

    #[test]
    fn pod_lists_every_container_list_once() {
        let req = request(
            "",
            "Pod",
            "CREATE",
            json!({"metadata": {"name": "p", "annotations": {"a": "b"}}, "spec": pod_spec()}),
            None,
        );
        let pod = extract(&req, true).unwrap().unwrap();
        assert_eq!(pod.images, ["init:1", "app:1", "side:2", "debug:3"]);
        assert_eq!(pod.name, "p");
        assert_eq!(pod.annotations.get("a").map(String::as_str), Some("b"));
    }

    #[test]
    fn update_judges_only_new_images() {
        let old = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "app:1"}]}});
        let new = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "app:1"}], "ephemeralContainers": [{"name": "d", "image": "debug:3"}]}});
        let pod = extract(&request("", "Pod", "UPDATE", new, Some(old)), true)
            .unwrap()
            .unwrap();
        assert_eq!(pod.images, ["debug:3"]);
    }

    #[test]
    fn every_workload_template() {
        let template = json!({"metadata": {"annotations": {"t": "1"}}, "spec": pod_spec()});
        for (group, kind) in [
            ("apps", "Deployment"),
            ("apps", "ReplicaSet"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("batch", "Job"),
            ("", "ReplicationController"),
        ] {
            let req = request(
                group,
                kind,
                "CREATE",
                json!({"metadata": {"name": "w"}, "spec": {"template": template}}),
                None,
            );
            let pod = extract(&req, true).unwrap().unwrap();
            assert_eq!(pod.images.len(), 4, "{kind}");
            assert_eq!(pod.annotations.get("t").map(String::as_str), Some("1"));
            assert!(extract(&req, false).unwrap().is_none());
        }
        let cron = json!({"metadata": {"name": "c"}, "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}});
        let pod = extract(&request("batch", "CronJob", "CREATE", cron, None), true)
            .unwrap()
            .unwrap();
        assert_eq!(pod.images, ["init:1", "app:1", "side:2", "debug:3"]);
    }

    #[test]
    fn other_kinds_and_operations_have_no_opinion() {
        let cm = request("", "ConfigMap", "CREATE", json!({"data": {}}), None);
        assert!(extract(&cm, true).unwrap().is_none());
        let del = request("", "Pod", "DELETE", json!({"spec": pod_spec()}), None);
        assert!(extract(&del, true).unwrap().is_none());
    }

    #[test]
    fn broken_specs_are_errors() {
        let req = request("apps", "Deployment", "CREATE", json!({"spec": {}}), None);
        assert!(
            extract(&req, true)
                .unwrap_err()
                .to_string()
                .contains("Deployment has no pod template")
        );
        let req = request(
            "",
            "Pod",
            "CREATE",
            json!({"spec": {"containers": "nope"}}),
            None,
        );
        assert!(
            extract(&req, true)
                .unwrap_err()
                .to_string()
                .contains("not a valid pod spec")
        );
    }
}
