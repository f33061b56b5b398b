//! Policies and exceptions from YAML files holding the same documents as
//! the custom resources (`--policy FILE`, `scangate policy check`), for
//! running outside a cluster. A set of files is all or nothing: every
//! document is checked, every refusal reported, and one invalid document
//! refuses the set.

use super::compile::{
    self, EXCEPTION_KIND, Origin, POLICY_KIND, PolicySet, ValidationError, describe,
};
use super::types::{ClusterScanPolicy, ScanException};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// Why one file, or one document of it, was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyFileError {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}, document {index}: not valid YAML")]
    Yaml {
        path: PathBuf,
        index: usize,
        #[source]
        source: serde_yaml::Error,
    },
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

/// Every refusal of a set of files, one per line with its causes.
#[derive(Debug)]
pub struct PolicyFileErrors(pub Vec<PolicyFileError>);

impl fmt::Display for PolicyFileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(|e| describe(e)).collect();
        match lines.as_slice() {
            [one] => f.write_str(one),
            _ => write!(
                f,
                "{} invalid policy documents:\n  {}",
                lines.len(),
                lines.join("\n  ")
            ),
        }
    }
}

impl std::error::Error for PolicyFileErrors {}

/// The typed documents of a set of files, all of them valid.
#[derive(Debug, Clone, Default)]
pub struct PolicyDocuments {
    pub policies: Vec<ClusterScanPolicy>,
    pub exceptions: Vec<ScanException>,
    /// The same, compiled.
    pub compiled: PolicySet,
}

impl PolicyDocuments {
    /// Reads and checks every document of every file.
    pub fn read_files(paths: &[PathBuf]) -> Result<PolicyDocuments, PolicyFileErrors> {
        let mut docs = PolicyDocuments::default();
        let mut errors = Vec::new();
        for path in paths {
            match std::fs::read_to_string(path) {
                Ok(text) => errors.extend(docs.add_text(path, &text)),
                Err(source) => errors.push(PolicyFileError::Read {
                    path: path.clone(),
                    source,
                }),
            }
        }
        if errors.is_empty() {
            Ok(docs)
        } else {
            Err(PolicyFileErrors(errors))
        }
    }

    /// The compiled set of `paths`.
    pub fn compile_files(paths: &[PathBuf]) -> Result<PolicySet, PolicyFileErrors> {
        Ok(PolicyDocuments::read_files(paths)?.compiled)
    }

    /// Adds every valid document of a multi-document YAML text; returns
    /// the refusals.
    pub fn add_text(&mut self, path: &Path, text: &str) -> Vec<PolicyFileError> {
        let mut errors = Vec::new();
        for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
            let value = match serde_json::Value::deserialize(document) {
                Ok(value) => value,
                Err(source) => {
                    // The parser cannot resume after a syntax error.
                    errors.push(PolicyFileError::Yaml {
                        path: path.to_path_buf(),
                        index,
                        source,
                    });
                    break;
                }
            };
            if value.is_null() {
                continue;
            }
            if let Err(error) = self.add_value(path, index, &value) {
                errors.push(error.into());
            }
        }
        errors
    }

    fn add_value(
        &mut self,
        path: &Path,
        index: usize,
        value: &serde_json::Value,
    ) -> Result<(), ValidationError> {
        let kind = compile::kind_of(value);
        let name = value.pointer("/metadata/name").and_then(|n| n.as_str());
        let namespace = value
            .pointer("/metadata/namespace")
            .and_then(|n| n.as_str());
        let object = match (name, namespace) {
            (Some(name), Some(ns)) if kind == EXCEPTION_KIND => Some(format!("{kind} {ns}/{name}")),
            (Some(name), _) if !kind.is_empty() => Some(format!("{kind} {name}")),
            _ => None,
        };
        let origin = Origin::File {
            path: path.to_path_buf(),
            index,
            object,
        };
        match kind {
            POLICY_KIND => {
                let policy: ClusterScanPolicy = compile::parse(value, &origin, POLICY_KIND)?;
                let compiled = compile::compile_policy(&policy, &origin)?;
                self.policies.push(policy);
                self.compiled.policies.push(compiled);
            }
            EXCEPTION_KIND => {
                let exception: ScanException = compile::parse(value, &origin, EXCEPTION_KIND)?;
                let compiled = compile::compile_exception(&exception, &origin)?;
                self.exceptions.push(exception);
                self.compiled.exceptions.push(compiled);
            }
            other => {
                return Err(ValidationError::Kind {
                    origin: Box::new(origin),
                    found: other.to_string(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
