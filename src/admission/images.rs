//! Which images an object runs: every container list of a pod, or of the pod
//! template of a workload. Anything else has no images and no verdict.

use super::review::{AdmissionRequest, Operation};
use crate::ports::PodPullSecrets;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::fmt;

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
    #[error("{kind} {path} is not a valid pod spec: {cause}")]
    Spec {
        kind: String,
        path: &'static str,
        cause: serde_json::Error,
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

/// The keys a level of an object on the way to its pod spec may have; each
/// is read only if it is on the path (and checked for duplicates always, as
/// a derived struct with these fields would).
const LEVEL_FIELDS: &[&str] = &["metadata", "spec", "template", "jobTemplate"];

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

/// One level of the object, read in the same pass as everything below it:
/// the pod spec used to be re-parsed from raw JSON at every level, so a
/// CronJob's was scanned six times per review.
struct Level {
    metadata: Option<Metadata>,
    next: Option<Next>,
}

enum Next {
    Level(Box<Level>),
    Spec(PodSpecView),
}

/// Reads a [`Level`] whose key `rest[0]` leads on (to another level, or to
/// the pod spec when it is the last key); other keys are skipped unbuilt.
#[derive(Clone, Copy)]
struct LevelSeed<'p> {
    rest: &'p [&'p str],
}

/// Reads the value under the path key: `null` counts as absent.
struct NextSeed<'p> {
    rest: &'p [&'p str],
}

impl<'de> DeserializeSeed<'de> for NextSeed<'_> {
    type Value = Option<Next>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for NextSeed<'_> {
    type Value = Option<Next>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        match self.rest {
            [_] => PodSpecView::deserialize(deserializer).map(|spec| Some(Next::Spec(spec))),
            [_, rest @ ..] => LevelSeed { rest }
                .deserialize(deserializer)
                .map(|level| Some(Next::Level(Box::new(level)))),
            [] => IgnoredAny::deserialize(deserializer).map(|_| None),
        }
    }
}

impl<'de> DeserializeSeed<'de> for LevelSeed<'_> {
    type Value = Level;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Level, D::Error> {
        deserializer.deserialize_struct("Level", LEVEL_FIELDS, self)
    }
}

impl<'de> Visitor<'de> for LevelSeed<'_> {
    type Value = Level;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("struct Level")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Level, A::Error> {
        let mut seen = [false; 4];
        let mut level = Level {
            metadata: None,
            next: None,
        };
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let Some(field) = LEVEL_FIELDS.iter().position(|f| *f == key) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if std::mem::replace(&mut seen[field], true) {
                return Err(de::Error::duplicate_field(LEVEL_FIELDS[field]));
            }
            self.read_field(field, &mut level, |seed| map.next_value_seed(seed))?;
        }
        Ok(level)
    }

    /// A derived struct also reads an array, its fields in order.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Level, A::Error> {
        let mut level = Level {
            metadata: None,
            next: None,
        };
        for field in 0..LEVEL_FIELDS.len() {
            let mut more = true;
            self.read_field(field, &mut level, |seed| {
                let value = seq.next_element_seed(seed)?;
                more = value.is_some();
                Ok(value.unwrap_or_default())
            })?;
            if !more {
                break;
            }
        }
        Ok(level)
    }
}

impl LevelSeed<'_> {
    /// Reads field `field` (an index into [`LEVEL_FIELDS`]) through `read`.
    fn read_field<E>(
        self,
        field: usize,
        level: &mut Level,
        mut read: impl FnMut(FieldSeed<'_>) -> Result<FieldValue, E>,
    ) -> Result<(), E> {
        let seed = if field == 0 {
            FieldSeed::Metadata
        } else if self.rest.first() == Some(&LEVEL_FIELDS[field]) {
            FieldSeed::Next(NextSeed { rest: self.rest })
        } else {
            FieldSeed::Skip
        };
        match read(seed)? {
            FieldValue::Metadata(metadata) => level.metadata = metadata,
            FieldValue::Next(next) => level.next = next,
            FieldValue::Skipped => {}
        }
        Ok(())
    }
}

/// How one field of a level is read.
enum FieldSeed<'p> {
    Metadata,
    Next(NextSeed<'p>),
    Skip,
}

#[derive(Default)]
enum FieldValue {
    Metadata(Option<Metadata>),
    Next(Option<Next>),
    #[default]
    Skipped,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = FieldValue;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<FieldValue, D::Error> {
        match self {
            FieldSeed::Metadata => {
                Option::<Metadata>::deserialize(deserializer).map(FieldValue::Metadata)
            }
            FieldSeed::Next(seed) => seed.deserialize(deserializer).map(FieldValue::Next),
            FieldSeed::Skip => IgnoredAny::deserialize(deserializer).map(|_| FieldValue::Skipped),
        }
    }
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

/// The pod spec at `path` (`path` ends at the pod or the template), read in
/// one pass over the object.
fn pod_spec_at(object: &RawValue, path: &[&str], kind: &str) -> Result<FoundSpec, ExtractError> {
    let template_path: &'static str = if path.len() == 1 {
        "spec"
    } else {
        "pod template"
    };
    let missing = |path| ExtractError::Missing {
        kind: kind.to_string(),
        path,
    };
    // The keys down to the pod spec: a workload's template holds it under `spec`.
    let mut keys = path.to_vec();
    if path.len() > 1 {
        keys.push("spec");
    }
    let mut deserializer = serde_json::Deserializer::from_str(object.get());
    let mut level = LevelSeed { rest: &keys }
        .deserialize(&mut deserializer)
        .and_then(|level| deserializer.end().map(|()| level))
        .map_err(|cause| ExtractError::Spec {
            kind: kind.to_string(),
            path: template_path,
            cause,
        })?;
    let object_meta = level.metadata.take().unwrap_or_default();
    // Walk down to the pod spec; the level above it is the pod or the template.
    let mut depth = 0;
    let view = loop {
        depth += 1;
        let last = depth == keys.len();
        match level.next.take() {
            Some(Next::Level(next)) => level = *next,
            Some(Next::Spec(view)) => break view,
            None if last && path.len() > 1 => return Err(missing("pod template spec")),
            None => return Err(missing(template_path)),
        }
    };
    let template_annotations = if path.len() == 1 {
        BTreeMap::new()
    } else {
        level
            .metadata
            .and_then(|m| m.annotations)
            .unwrap_or_default()
    };
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

    /// The extraction before the one-pass reader: every level re-parsed from
    /// raw JSON. Kept as the oracle the one-pass reader must agree with.
    mod before {
        use super::super::{Metadata, PodSpecView};
        use serde::Deserialize;
        use serde_json::value::RawValue;

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

        /// `Ok((object metadata, template annotations, images))` or the
        /// error's kind (`"invalid"` or the missing path).
        pub type Outcome = Result<(String, String, Vec<String>), String>;

        pub fn pod_spec_at(object: &RawValue, path: &[&str]) -> Outcome {
            let template_path = if path.len() == 1 {
                "spec"
            } else {
                "pod template"
            };
            let invalid = |_| "invalid".to_string();
            let mut level: Level = serde_json::from_str(object.get()).map_err(invalid)?;
            let object_meta = level.metadata.take().unwrap_or_default();
            let mut holder = None;
            for key in path {
                let next = level.get(key).ok_or_else(|| template_path.to_string())?;
                holder = Some(next);
                if path.len() > 1 {
                    level = serde_json::from_str(next.get()).map_err(invalid)?;
                }
            }
            let holder = holder.ok_or_else(|| template_path.to_string())?;
            let (spec, template) = if path.len() == 1 {
                (holder, Default::default())
            } else {
                let spec = level
                    .get("spec")
                    .ok_or_else(|| "pod template spec".to_string())?;
                (
                    spec,
                    level
                        .metadata
                        .and_then(|m| m.annotations)
                        .unwrap_or_default(),
                )
            };
            let view: PodSpecView = serde_json::from_str(spec.get()).map_err(invalid)?;
            let images = view
                .init_containers
                .into_iter()
                .flatten()
                .chain(view.containers)
                .chain(view.ephemeral_containers.into_iter().flatten())
                .filter_map(|c| c.image)
                .collect();
            Ok((format!("{object_meta:?}"), format!("{template:?}"), images))
        }
    }

    fn one_pass(object: &RawValue, path: &[&str]) -> before::Outcome {
        match pod_spec_at(object, path, "K") {
            Ok(found) => {
                let mut images: Vec<String> = vec![];
                for list in ["initContainers", "containers", "ephemeralContainers"] {
                    images.extend(
                        found
                            .containers
                            .iter()
                            .filter(|c| c.list == list)
                            .map(|c| c.image.clone()),
                    );
                }
                Ok((
                    format!("{:?}", found.object_meta),
                    format!("{:?}", found.template_annotations),
                    images,
                ))
            }
            Err(ExtractError::Spec { .. }) => Err("invalid".into()),
            Err(ExtractError::Missing { path, .. }) => Err(path.into()),
        }
    }

    /// JSON built from the keys the reader looks at, in any shape.
    fn shaped_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            Just(json!("app:1")),
            Just(json!("x")),
            Just(json!(3)),
            Just(json!({})),
            Just(json!([])),
        ];
        let keys = prop_oneof![
            Just("metadata"),
            Just("spec"),
            Just("template"),
            Just("jobTemplate"),
            Just("containers"),
            Just("initContainers"),
            Just("image"),
            Just("annotations"),
            Just("name"),
            Just("other"),
        ];
        leaf.prop_recursive(6, 64, 4, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((keys.clone(), inner), 0..4).prop_map(|entries| {
                    Value::Object(
                        entries
                            .into_iter()
                            .map(|(k, v)| (k.to_string(), v))
                            .collect(),
                    )
                }),
            ]
        })
    }

    /// Duplicate keys, which a `Value` cannot hold, by text.
    #[test]
    fn one_pass_refuses_duplicates_as_before() {
        let paths: [&[&str]; 2] = [&["spec"], &["spec", "template"]];
        for text in [
            r#"{"spec": {"containers": []}, "spec": null}"#,
            r#"{"template": 1, "template": 2, "spec": {"containers": []}}"#,
            r#"{"spec": {"template": {"spec": {"containers": []}}, "metadata": {}, "metadata": {}}}"#,
            r#"[null, {"containers": [{"image": "a"}]}]"#,
            r#"[null, {"containers": []}, 1, 2, 3]"#,
            r#"{"spec": [null, {"metadata": {"annotations": {"a": "b"}}, "spec": {"containers": []}}]}"#,
            r#"{"spec": {"template": [{"annotations": {"a": "b"}}, {"containers": [{}]}]}}"#,
            r#"{"sp\u0065c": {"containers": [{"image": "e"}]}}"#,
        ] {
            let raw = RawValue::from_string(text.to_string()).unwrap();
            for path in paths {
                assert_eq!(
                    one_pass(&raw, path),
                    before::pod_spec_at(&raw, path),
                    "{text} {path:?}"
                );
            }
        }
    }

    /// An object with a pod spec somewhere on one kind's path, each level
    /// with random metadata and siblings, and the spec itself random or real.
    fn along_a_path() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let spec = prop_oneof![
            shaped_json(),
            Just(pod_spec()),
            Just(
                json!({"containers": [{"image": "a"}, {"name": "no image"}], "imagePullSecrets": [{"name": "s"}, {}]})
            ),
        ];
        let metadata = prop_oneof![
            Just(Value::Null),
            Just(json!({"name": "n", "annotations": {"k": "v"}})),
            Just(json!({"annotations": {"k": 1}})),
            Just(json!({"generateName": "g-"})),
        ];
        let levels = prop::collection::vec((metadata, shaped_json(), any::<bool>()), 5);
        (0..POD_SPEC_PATHS.len(), spec, levels).prop_map(|(kind, spec, levels)| {
            let (_, _, path) = POD_SPEC_PATHS[kind];
            let mut keys = path.to_vec();
            if path.len() > 1 {
                keys.push("spec");
            }
            let mut value = spec;
            for (key, (metadata, sibling, with_metadata)) in keys.iter().rev().zip(levels) {
                let mut level = serde_json::Map::new();
                level.insert(key.to_string(), value);
                if with_metadata {
                    level.insert("metadata".into(), metadata);
                }
                // A sibling must not take the path key's place.
                for sibling_key in ["template", "jobTemplate", "other"] {
                    if sibling_key != *key {
                        level.insert(sibling_key.into(), sibling.clone());
                    }
                }
                value = Value::Object(level);
            }
            value
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2000, ..Default::default() })]

        #[test]
        fn one_pass_reads_what_the_level_walk_read(
            object in proptest::prop_oneof![shaped_json(), along_a_path()]
        ) {
            let raw = RawValue::from_string(object.to_string()).unwrap();
            for (_, _, path) in POD_SPEC_PATHS {
                proptest::prop_assert_eq!(one_pass(&raw, path), before::pod_spec_at(&raw, path), "{:?}", path);
            }
        }
    }
}
