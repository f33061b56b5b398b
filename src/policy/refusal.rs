//! Why a policy or exception document was refused: where it came from
//! (file and document, or cluster object), the field path and the expected
//! form, with the underlying cause kept as the error's source.

use super::remediation::DurationError;
use super::selector::SelectorError;
use super::types::{API_VERSION, EXCEPTION_KIND, POLICY_KIND};
use std::fmt;
use std::path::PathBuf;

/// Where a document came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Document `index` (from 0) of a YAML file; `object` is its kind and
    /// name when they could be read.
    File {
        path: PathBuf,
        index: usize,
        object: Option<String>,
    },
    /// An object of the cluster.
    Object {
        kind: String,
        namespace: Option<String>,
        name: String,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File {
                path,
                index,
                object,
            } => {
                write!(f, "{}, document {index}", path.display())?;
                match object {
                    Some(object) => write!(f, " ({object})"),
                    None => Ok(()),
                }
            }
            Origin::Object {
                kind,
                namespace: Some(namespace),
                name,
            } => write!(f, "{kind} {namespace}/{name}"),
            Origin::Object { kind, name, .. } => write!(f, "{kind} {name}"),
        }
    }
}

/// Why a document was refused. The cause, where there is one, is the
/// `source`; [`describe`] gives the whole sentence.
#[derive(Debug, thiserror::Error)]
pub enum ValidationError {
    #[error("{origin}: apiVersion {found:?}: expected {API_VERSION}")]
    ApiVersion { origin: Box<Origin>, found: String },
    #[error("{origin}: kind {found:?}: expected {POLICY_KIND} or {EXCEPTION_KIND}")]
    Kind { origin: Box<Origin>, found: String },
    /// A field is unknown, missing or of the wrong type.
    #[error("{origin}: {path}")]
    Shape {
        origin: Box<Origin>,
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{origin}: {path}: {problem}: expected {expected}")]
    Rule {
        origin: Box<Origin>,
        path: String,
        problem: &'static str,
        expected: &'static str,
    },
    #[error("{origin}: {path}")]
    Duration {
        origin: Box<Origin>,
        path: String,
        #[source]
        source: DurationError,
    },
    #[error(
        "{origin}: {path}: glob {pattern:?} does not compile (expected a glob such as registry.example.com/team/*)"
    )]
    Glob {
        origin: Box<Origin>,
        path: String,
        pattern: String,
        #[source]
        source: Box<globset::Error>,
    },
    #[error("{origin}: {path}: {value:?} is not a date: expected YYYY-MM-DD, e.g. 2026-12-31")]
    Date {
        origin: Box<Origin>,
        path: String,
        value: String,
        #[source]
        source: jiff::Error,
    },
    #[error("{origin}: spec.namespaceSelector")]
    Selector {
        origin: Box<Origin>,
        #[source]
        source: SelectorError,
    },
}

impl ValidationError {
    pub fn origin(&self) -> &Origin {
        match self {
            ValidationError::ApiVersion { origin, .. }
            | ValidationError::Kind { origin, .. }
            | ValidationError::Shape { origin, .. }
            | ValidationError::Rule { origin, .. }
            | ValidationError::Duration { origin, .. }
            | ValidationError::Glob { origin, .. }
            | ValidationError::Date { origin, .. }
            | ValidationError::Selector { origin, .. } => origin.as_ref(),
        }
    }
}

/// An error and its causes in one line (`a: b: c`), for logs, events and
/// denial messages.
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}
