//! Validation and compilation of policies and exceptions, once, when they
//! are loaded (files, or the cluster's objects when a watch sees a change):
//! the document's shape is checked field by field (unknown fields refused,
//! with their path), then durations, globs, selectors and dates are parsed
//! into the form evaluation uses, so evaluation never parses and never
//! meets an invalid value. A refusal names the document, the field path and
//! the expected form.
//!
//! Files are all-or-nothing ([`super::load`]). Objects from the cluster are
//! judged one by one ([`PolicySet::from_objects`]): an invalid exception
//! exempts nothing; an invalid policy is kept as invalid and denies the
//! pods it selects (see [`CompiledPolicy::invalid`]).

pub use super::refusal::{Origin, ValidationError, describe};
use super::remediation::{ResponseWindows, parse_duration};
use super::selector::Selector;
pub use super::types::{API_VERSION, EXCEPTION_KIND, POLICY_KIND};
use super::types::{
    ClusterScanPolicy, FailOn, NamespaceSelector, PendingAction, PolicyMode, ScanException,
};
use crate::model::Finding;
use globset::{GlobBuilder, GlobMatcher};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A policy as evaluation uses it.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    pub name: String,
    pub mode: PolicyMode,
    pub selector: Selector,
    pub fail_on: FailOn,
    pub exempt_images: Vec<GlobMatcher>,
    pub on_scan_pending: PendingAction,
    pub on_scan_error: PendingAction,
    /// `maxDatabaseAge`, parsed, and as written (for messages).
    pub max_database_age: Option<(jiff::SignedDuration, String)>,
    pub break_glass: bool,
    pub remediation: ResponseWindows,
    pub grace_for_running_images: bool,
    /// `Some(why)` for an object of the cluster that failed validation. It
    /// is not dropped: every image of every pod it selects gets a problem
    /// naming it and the cause (a denial, unless the object reads
    /// `mode: Audit`). Its selector is the one written if that one is
    /// valid, else every namespace; nothing else of it applies.
    pub invalid: Option<String>,
}

impl CompiledPolicy {
    fn invalid(value: &Value, name: String, why: String) -> CompiledPolicy {
        let mode = read::<PolicyMode>(value, "/spec/mode").unwrap_or_default();
        let selector = read::<NamespaceSelector>(value, "/spec/namespaceSelector")
            .and_then(|s| Selector::compile(Some(&s)).ok())
            .unwrap_or_else(Selector::all);
        CompiledPolicy {
            name,
            mode,
            selector,
            fail_on: FailOn::default(),
            exempt_images: vec![],
            on_scan_pending: PendingAction::Deny,
            on_scan_error: PendingAction::Deny,
            max_database_age: None,
            break_glass: false,
            remediation: ResponseWindows::new(),
            grace_for_running_images: false,
            invalid: Some(why),
        }
    }
}

fn read<T: DeserializeOwned>(value: &Value, pointer: &str) -> Option<T> {
    serde_json::from_value(value.pointer(pointer)?.clone()).ok()
}

/// An exception as evaluation uses it.
#[derive(Debug, Clone)]
pub struct CompiledException {
    pub namespace: String,
    pub name: String,
    /// `"*"` was written: every vulnerability of the matched images.
    pub every_vulnerability: bool,
    pub vulnerabilities: Vec<String>,
    pub images: Vec<GlobMatcher>,
    pub namespaces: Vec<String>,
    pub reason: String,
    /// The last day on which it applies.
    pub expires: jiff::civil::Date,
}

impl CompiledException {
    /// True if the exception names `finding` (by ID or alias, or `*`).
    pub fn names(&self, finding: &Finding) -> bool {
        self.every_vulnerability || self.vulnerabilities.iter().any(|v| finding.is_named(v))
    }

    /// True if one of its globs matches the reference as written or normalised.
    pub fn matches_image(&self, reference: &str, normalized: &str) -> bool {
        self.images
            .iter()
            .any(|g| g.is_match(reference) || g.is_match(normalized))
    }
}

/// An object of the cluster that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidObject {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// The whole refusal: object, field path, expected form.
    pub message: String,
}

/// The policies and exceptions in force, compiled.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    pub policies: Vec<CompiledPolicy>,
    pub exceptions: Vec<CompiledException>,
    /// Objects of the cluster that failed validation (the invalid policies
    /// are also in `policies`, marked; the invalid exceptions are not).
    pub invalid: Vec<InvalidObject>,
}

impl PolicySet {
    /// Compiles typed documents; any invalid one refuses the whole set.
    pub fn compile(
        policies: &[ClusterScanPolicy],
        exceptions: &[ScanException],
    ) -> Result<PolicySet, Vec<ValidationError>> {
        let mut set = PolicySet::default();
        let mut errors = Vec::new();
        for policy in policies {
            let origin = object_origin(POLICY_KIND, None, policy.metadata.name.as_deref());
            match compile_policy(policy, &origin) {
                Ok(compiled) => set.policies.push(compiled),
                Err(error) => errors.push(error),
            }
        }
        for exception in exceptions {
            let origin = object_origin(
                EXCEPTION_KIND,
                exception.metadata.namespace.as_deref(),
                exception.metadata.name.as_deref(),
            );
            match compile_exception(exception, &origin) {
                Ok(compiled) => set.exceptions.push(compiled),
                Err(error) => errors.push(error),
            }
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(errors)
        }
    }

    /// Compiles the cluster's objects (whole objects as JSON) one by one:
    /// the invalid ones are recorded in `invalid`, an invalid policy is
    /// kept as such (it denies what it selects), an invalid exception
    /// exempts nothing.
    pub fn from_objects(policies: &[Value], exceptions: &[Value]) -> PolicySet {
        let mut set = PolicySet::default();
        for value in policies {
            let origin = value_origin(POLICY_KIND, value);
            let name = origin_name(&origin);
            match parse::<ClusterScanPolicy>(value, &origin, POLICY_KIND)
                .and_then(|p| compile_policy(&p, &origin))
            {
                Ok(policy) => set.policies.push(policy),
                Err(error) => {
                    let message = describe(&error);
                    set.policies.push(CompiledPolicy::invalid(
                        value,
                        name.clone(),
                        message.clone(),
                    ));
                    set.invalid.push(InvalidObject {
                        kind: POLICY_KIND.into(),
                        namespace: None,
                        name,
                        message,
                    });
                }
            }
        }
        for value in exceptions {
            let origin = value_origin(EXCEPTION_KIND, value);
            match parse::<ScanException>(value, &origin, EXCEPTION_KIND)
                .and_then(|e| compile_exception(&e, &origin))
            {
                Ok(exception) => set.exceptions.push(exception),
                Err(error) => set.invalid.push(InvalidObject {
                    kind: EXCEPTION_KIND.into(),
                    namespace: read::<String>(value, "/metadata/namespace"),
                    name: origin_name(&origin),
                    message: describe(&error),
                }),
            }
        }
        set
    }

    /// How many objects of `kind` are invalid.
    pub fn invalid_count(&self, kind: &str) -> usize {
        self.invalid.iter().filter(|o| o.kind == kind).count()
    }
}

fn origin_name(origin: &Origin) -> String {
    match origin {
        Origin::Object { name, .. } => name.clone(),
        Origin::File { .. } => String::new(),
    }
}

fn object_origin(kind: &str, namespace: Option<&str>, name: Option<&str>) -> Origin {
    Origin::Object {
        kind: kind.into(),
        namespace: namespace.map(str::to_string),
        name: name.unwrap_or_default().into(),
    }
}

fn value_origin(kind: &str, value: &Value) -> Origin {
    object_origin(
        kind,
        value.pointer("/metadata/namespace").and_then(Value::as_str),
        value.pointer("/metadata/name").and_then(Value::as_str),
    )
}

/// A document's kind, as written (empty when absent or not a string).
pub fn kind_of(value: &Value) -> &str {
    value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Checks a whole document (`apiVersion`, `kind`, top-level keys, the
/// spec's shape) and reads it as `T`.
pub fn parse<T: DeserializeOwned>(
    value: &Value,
    origin: &Origin,
    kind: &str,
) -> Result<T, ValidationError> {
    let found = value.get("apiVersion").and_then(Value::as_str);
    if found != Some(API_VERSION) {
        return Err(ValidationError::ApiVersion {
            origin: Box::new(origin.clone()),
            found: found.unwrap_or_default().into(),
        });
    }
    if kind_of(value) != kind {
        return Err(ValidationError::Kind {
            origin: Box::new(origin.clone()),
            found: kind_of(value).into(),
        });
    }
    if let Some(fields) = value.as_object() {
        for key in fields.keys() {
            if !["apiVersion", "kind", "metadata", "spec", "status"].contains(&key.as_str()) {
                return Err(ValidationError::Rule {
                    origin: Box::new(origin.clone()),
                    path: key.clone(),
                    problem: "unknown field",
                    expected: "apiVersion, kind, metadata, spec",
                });
            }
        }
    }
    serde_path_to_error::deserialize(value.clone()).map_err(|error| {
        let path = error.path().to_string();
        ValidationError::Shape {
            origin: Box::new(origin.clone()),
            path,
            source: error.into_inner(),
        }
    })
}

/// Validates a policy and parses its values.
pub fn compile_policy(
    policy: &ClusterScanPolicy,
    origin: &Origin,
) -> Result<CompiledPolicy, ValidationError> {
    let spec = &policy.spec;
    let name = policy.metadata.name.clone().unwrap_or_default();
    if name.is_empty() {
        return Err(rule(origin, "metadata.name", "missing", "a name"));
    }
    let selector = Selector::compile(spec.namespace_selector.as_ref()).map_err(|source| {
        ValidationError::Selector {
            origin: Box::new(origin.clone()),
            source,
        }
    })?;
    let exempt_images = globs(&spec.exempt_images, "spec.exemptImages", origin)?;
    let max_database_age = match &spec.max_database_age {
        Some(text) => Some((
            duration(text, "spec.maxDatabaseAge", origin)?,
            text.trim().to_string(),
        )),
        None => None,
    };
    let mut remediation = ResponseWindows::new();
    for (severity, text) in &spec.remediation {
        let path = format!("spec.remediation.{severity}");
        remediation.insert(*severity, duration(text, &path, origin)?);
    }
    Ok(CompiledPolicy {
        name,
        mode: spec.mode,
        selector,
        fail_on: spec.fail_on.clone(),
        exempt_images,
        on_scan_pending: spec.on_scan_pending,
        on_scan_error: spec.on_scan_error,
        max_database_age,
        break_glass: spec.break_glass.enabled,
        remediation,
        grace_for_running_images: spec.grace_for_running_images,
        invalid: None,
    })
}

/// Validates an exception: at least one vulnerability and one image glob
/// (`"*"` only when written), a reason, a readable date.
pub fn compile_exception(
    exception: &ScanException,
    origin: &Origin,
) -> Result<CompiledException, ValidationError> {
    let spec = &exception.spec;
    let name = exception.metadata.name.clone().unwrap_or_default();
    if name.is_empty() {
        return Err(rule(origin, "metadata.name", "missing", "a name"));
    }
    let namespace = exception.metadata.namespace.clone().unwrap_or_default();
    if namespace.is_empty() {
        return Err(rule(
            origin,
            "metadata.namespace",
            "missing",
            "the namespace the exception belongs to",
        ));
    }
    if spec.vulnerabilities.is_empty() {
        return Err(rule(
            origin,
            "spec.vulnerabilities",
            "empty",
            "at least one vulnerability ID or alias (CVE-2024-1234, GHSA-…), or \"*\" for all",
        ));
    }
    let mut vulnerabilities = Vec::new();
    for (i, id) in spec.vulnerabilities.iter().enumerate() {
        if id.trim().is_empty() {
            let path = format!("spec.vulnerabilities[{i}]");
            return Err(rule(origin, &path, "empty", "a vulnerability ID or alias"));
        }
        vulnerabilities.push(id.trim().to_string());
    }
    if spec.images.is_empty() {
        return Err(rule(
            origin,
            "spec.images",
            "missing or empty",
            "at least one image glob, e.g. registry.example.com/team/app:* (\"*\" for every image)",
        ));
    }
    let images = globs(&spec.images, "spec.images", origin)?;
    if spec.reason.trim().is_empty() {
        return Err(rule(
            origin,
            "spec.reason",
            "empty",
            "why the risk is accepted",
        ));
    }
    for (i, ns) in spec.namespaces.iter().enumerate() {
        if ns.trim().is_empty() {
            let path = format!("spec.namespaces[{i}]");
            return Err(rule(origin, &path, "empty", "a namespace name"));
        }
    }
    let expires = spec
        .expires
        .trim()
        .parse::<jiff::civil::Date>()
        .map_err(|source| ValidationError::Date {
            origin: Box::new(origin.clone()),
            path: "spec.expires".into(),
            value: spec.expires.clone(),
            source,
        })?;
    Ok(CompiledException {
        namespace,
        name,
        every_vulnerability: vulnerabilities.iter().any(|v| v == "*"),
        vulnerabilities,
        images,
        namespaces: spec.namespaces.clone(),
        reason: spec.reason.clone(),
        expires,
    })
}

fn rule(
    origin: &Origin,
    path: &str,
    problem: &'static str,
    expected: &'static str,
) -> ValidationError {
    ValidationError::Rule {
        origin: Box::new(origin.clone()),
        path: path.into(),
        problem,
        expected,
    }
}

fn duration(
    text: &str,
    path: &str,
    origin: &Origin,
) -> Result<jiff::SignedDuration, ValidationError> {
    parse_duration(text).map_err(|source| ValidationError::Duration {
        origin: Box::new(origin.clone()),
        path: path.into(),
        source,
    })
}

/// Globs where `*` also crosses `/`.
fn globs(
    patterns: &[String],
    field: &str,
    origin: &Origin,
) -> Result<Vec<GlobMatcher>, ValidationError> {
    patterns
        .iter()
        .enumerate()
        .map(|(i, pattern)| {
            let path = format!("{field}[{i}]");
            if pattern.trim().is_empty() {
                return Err(rule(origin, &path, "empty", "an image glob"));
            }
            GlobBuilder::new(pattern.trim())
                .literal_separator(false)
                .build()
                .map(|g| g.compile_matcher())
                .map_err(|source| ValidationError::Glob {
                    origin: Box::new(origin.clone()),
                    path,
                    pattern: pattern.clone(),
                    source: Box::new(source),
                })
        })
        .collect()
}

#[cfg(test)]
#[path = "compile_tests.rs"]
mod tests;
