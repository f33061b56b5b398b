//! Which images an object runs: every container list of a pod, or of the pod
//! template of a workload. Anything else has no images and no verdict.

use super::review::{AdmissionRequest, Operation};
use k8s_openapi::api::core::v1::PodSpec;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// A pod spec under review, with what policy needs around it.
#[derive(Debug, Clone)]
pub struct ReviewedPod {
    /// The kind of the object under review (`Pod`, `Deployment`, …).
    pub kind: String,
    pub name: String,
    pub spec: PodSpec,
    /// The object's annotations merged with its pod template's.
    pub annotations: BTreeMap<String, String>,
    /// Distinct image references to judge, in order of appearance.
    pub images: Vec<String>,
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
    let (spec, template_annotations) = pod_spec_at(object, path, &kind.kind)?;
    let mut annotations = string_map(object.pointer("/metadata/annotations"));
    annotations.extend(template_annotations);
    let old_images = match &request.old_object {
        Some(old) if request.operation == Operation::Update => pod_spec_at(old, path, &kind.kind)
            .map(|(spec, _)| images_of(&spec))
            .unwrap_or_default(),
        _ => vec![],
    };
    let images = images_of(&spec)
        .into_iter()
        .filter(|image| !old_images.contains(image))
        .collect();
    let name = ["/metadata/name", "/metadata/generateName"]
        .iter()
        .filter_map(|p| object.pointer(p).and_then(Value::as_str))
        .find(|n| !n.is_empty())
        .unwrap_or(&request.name)
        .to_string();
    Ok(Some(ReviewedPod {
        kind: kind.kind.clone(),
        name,
        spec,
        annotations,
        images,
    }))
}

/// The pod spec at `path` (`path` ends at the pod or the template).
fn pod_spec_at(
    object: &Value,
    path: &[&str],
    kind: &str,
) -> Result<(PodSpec, BTreeMap<String, String>), ExtractError> {
    let template_path: &'static str = if path.len() == 1 {
        "spec"
    } else {
        "pod template"
    };
    let holder = path
        .iter()
        .try_fold(object, |value, key| value.get(key))
        .ok_or_else(|| ExtractError::Missing {
            kind: kind.to_string(),
            path: template_path,
        })?;
    let (spec_value, annotations) = if path.len() == 1 {
        (holder, BTreeMap::new())
    } else {
        let spec = holder.get("spec").ok_or_else(|| ExtractError::Missing {
            kind: kind.to_string(),
            path: "pod template spec",
        })?;
        (spec, string_map(holder.pointer("/metadata/annotations")))
    };
    let spec = PodSpec::deserialize(spec_value).map_err(|source| ExtractError::Spec {
        kind: kind.to_string(),
        path: template_path,
        source,
    })?;
    Ok((spec, annotations))
}

fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Distinct images of init, regular and ephemeral containers.
pub fn images_of(spec: &PodSpec) -> Vec<String> {
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| c.image.as_deref());
    let regular = spec.containers.iter().map(|c| c.image.as_deref());
    let ephemeral = spec
        .ephemeral_containers
        .iter()
        .flatten()
        .map(|c| c.image.as_deref());
    let mut images: Vec<String> = vec![];
    for image in init.chain(regular).chain(ephemeral).flatten() {
        if !images.iter().any(|i| i == image) {
            images.push(image.to_string());
        }
    }
    images
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
