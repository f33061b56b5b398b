//! Policies and exceptions from YAML files holding the same documents as
//! the custom resources (`--policy FILE`), for running outside a cluster.

use super::types::{ClusterScanPolicy, ScanException};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PolicyFileError {
    #[error("reading {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}, document {index}: {cause}")]
    Parse {
        path: PathBuf,
        index: usize,
        cause: serde_yaml::Error,
    },
    #[error(
        "{path}, document {index}: kind {kind:?} is neither ClusterScanPolicy nor ScanException"
    )]
    Kind {
        path: PathBuf,
        index: usize,
        kind: String,
    },
    #[error("{path}, document {index}: {what} has no metadata.{field}")]
    Metadata {
        path: PathBuf,
        index: usize,
        what: &'static str,
        field: &'static str,
    },
}

/// The policies and exceptions of a set of files.
#[derive(Debug, Clone, Default)]
pub struct PolicyDocuments {
    pub policies: Vec<ClusterScanPolicy>,
    pub exceptions: Vec<ScanException>,
}

#[derive(Deserialize)]
struct KindOnly {
    #[serde(default)]
    kind: String,
}

impl PolicyDocuments {
    pub fn read_files(paths: &[PathBuf]) -> Result<PolicyDocuments, PolicyFileError> {
        let mut docs = PolicyDocuments::default();
        for path in paths {
            let text = std::fs::read_to_string(path).map_err(|cause| PolicyFileError::Read {
                path: path.clone(),
                cause,
            })?;
            docs.add_text(path, &text)?;
        }
        Ok(docs)
    }

    /// Adds every document of a multi-document YAML text.
    pub fn add_text(&mut self, path: &Path, text: &str) -> Result<(), PolicyFileError> {
        for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
            let value = serde_yaml::Value::deserialize(document).map_err(|cause| {
                PolicyFileError::Parse {
                    path: path.to_path_buf(),
                    index,
                    cause,
                }
            })?;
            if value.is_null() {
                continue;
            }
            let parse_err = |cause| PolicyFileError::Parse {
                path: path.to_path_buf(),
                index,
                cause,
            };
            let missing = |what, field| PolicyFileError::Metadata {
                path: path.to_path_buf(),
                index,
                what,
                field,
            };
            let kind = serde_yaml::from_value::<KindOnly>(value.clone())
                .map_err(parse_err)?
                .kind;
            match kind.as_str() {
                "ClusterScanPolicy" => {
                    let policy: ClusterScanPolicy =
                        serde_yaml::from_value(value).map_err(parse_err)?;
                    if policy.metadata.name.is_none() {
                        return Err(missing("ClusterScanPolicy", "name"));
                    }
                    self.policies.push(policy);
                }
                "ScanException" => {
                    let exception: ScanException =
                        serde_yaml::from_value(value).map_err(parse_err)?;
                    if exception.metadata.name.is_none() {
                        return Err(missing("ScanException", "name"));
                    }
                    if exception.metadata.namespace.is_none() {
                        return Err(missing("ScanException", "namespace"));
                    }
                    self.exceptions.push(exception);
                }
                _ => {
                    return Err(PolicyFileError::Kind {
                        path: path.to_path_buf(),
                        index,
                        kind,
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_kinds_from_one_file() {
        let mut docs = PolicyDocuments::default();
        docs.add_text(
            Path::new("p.yaml"),
            "apiVersion: scangate.dev/v1alpha1\nkind: ClusterScanPolicy\nmetadata: {name: base}\nspec:\n  mode: Audit\n  failOn: {severity: HIGH}\n---\napiVersion: scangate.dev/v1alpha1\nkind: ScanException\nmetadata: {name: x, namespace: shop}\nspec:\n  vulnerabilities: [CVE-1]\n  reason: r\n  expires: 2026-12-31\n",
        )
        .unwrap();
        assert_eq!(docs.policies.len(), 1);
        assert_eq!(docs.policies[0].spec.mode, crate::policy::PolicyMode::Audit);
        assert_eq!(docs.exceptions[0].spec.expires, "2026-12-31");
    }

    #[test]
    fn errors_name_the_document() {
        let mut docs = PolicyDocuments::default();
        let err = docs
            .add_text(
                Path::new("p.yaml"),
                "kind: ConfigMap\nmetadata: {name: a}\n",
            )
            .unwrap_err();
        assert!(
            err.to_string().contains("document 0: kind \"ConfigMap\""),
            "{err}"
        );
        let err = docs
            .add_text(Path::new("p.yaml"), "kind: ScanException\nmetadata: {name: a}\nspec: {vulnerabilities: [a], reason: r, expires: 2026-01-01}\n")
            .unwrap_err();
        assert!(err.to_string().contains("no metadata.namespace"), "{err}");
    }
}
