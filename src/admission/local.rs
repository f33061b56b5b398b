//! The ports without a cluster: namespace labels from a fixed map (empty by
//! default), events as structured log lines (or kept in memory), registry
//! credentials from a Docker `config.json` (`--docker-config`).

use super::ports::{AdmissionEvent, EventSink, NamespaceLabels, PodPullSecrets, PullCredentials};
use crate::registry::{Credentials, RegistryAuth};
use async_trait::async_trait;
use base64::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Fixed namespace labels, plus `kubernetes.io/metadata.name`, which the
/// API server sets on every namespace (so selectors by name work offline).
#[derive(Debug, Clone, Default)]
pub struct StaticNamespaceLabels(pub BTreeMap<String, BTreeMap<String, String>>);

impl NamespaceLabels for StaticNamespaceLabels {
    fn labels(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        let mut labels = self.0.get(namespace).cloned().unwrap_or_default();
        labels.insert("kubernetes.io/metadata.name".into(), namespace.into());
        Some(labels)
    }
}

/// Events as `INFO`/`WARN` log lines with target `scangate::event`.
#[derive(Debug, Clone, Default)]
pub struct LogEventSink;

impl EventSink for LogEventSink {
    fn emit(&self, event: AdmissionEvent) {
        let AdmissionEvent {
            reason,
            event_type,
            namespace,
            kind,
            name,
            message,
        } = event;
        if event_type == "Warning" {
            tracing::warn!(target: "scangate::event", reason = reason.as_str(), namespace, kind, name, message);
        } else {
            tracing::info!(target: "scangate::event", reason = reason.as_str(), namespace, kind, name, message);
        }
    }
}

/// Events kept in memory (tests, and `--dev` inspection).
#[derive(Debug, Default)]
pub struct MemoryEventSink(Mutex<Vec<AdmissionEvent>>);

impl MemoryEventSink {
    pub fn events(&self) -> Vec<AdmissionEvent> {
        self.0.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl EventSink for MemoryEventSink {
    fn emit(&self, event: AdmissionEvent) {
        if let Ok(mut events) = self.0.lock() {
            events.push(event);
        }
    }
}

/// The same credentials for every pod, from a Docker `config.json`.
#[derive(Debug, Clone, Default)]
pub struct StaticCredentials(pub Credentials);

#[async_trait]
impl PullCredentials for StaticCredentials {
    async fn for_pod(&self, _namespace: &str, _pod: &PodPullSecrets) -> Credentials {
        self.0.clone()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DockerConfigError {
    #[error("reading {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: not a Docker config.json: {cause}")]
    Json {
        path: PathBuf,
        cause: serde_json::Error,
    },
    #[error("{path}: registry {registry}: {reason}")]
    Entry {
        path: PathBuf,
        registry: String,
        reason: &'static str,
    },
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, DockerAuth>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
struct DockerAuth {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
    registrytoken: Option<String>,
}

/// Reads `auths` of a Docker `config.json` (`auth` = base64 `user:pass`,
/// or `username`/`password`, or an identity or registry token).
pub fn read_docker_config(path: &Path) -> Result<Credentials, DockerConfigError> {
    let text = std::fs::read(path).map_err(|cause| DockerConfigError::Read {
        path: path.to_path_buf(),
        cause,
    })?;
    let config: DockerConfig =
        serde_json::from_slice(&text).map_err(|cause| DockerConfigError::Json {
            path: path.to_path_buf(),
            cause,
        })?;
    let mut entries = vec![];
    for (registry, auth) in config.auths {
        let bad = |reason| DockerConfigError::Entry {
            path: path.to_path_buf(),
            registry: registry.clone(),
            reason,
        };
        let host = registry
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let host = if host == "index.docker.io" {
            "docker.io".to_string()
        } else {
            host
        };
        let parsed = if let Some(token) = auth.registrytoken.or(auth.identitytoken) {
            RegistryAuth::Bearer(token)
        } else if let (Some(username), Some(password)) = (auth.username, auth.password) {
            RegistryAuth::Basic { username, password }
        } else if let Some(encoded) = auth.auth {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| bad("auth is not base64"))?;
            let decoded = String::from_utf8(decoded).map_err(|_| bad("auth is not UTF-8"))?;
            let (username, password) = decoded
                .split_once(':')
                .ok_or_else(|| bad("auth is not user:password"))?;
            RegistryAuth::Basic {
                username: username.to_string(),
                password: password.to_string(),
            }
        } else {
            return Err(bad("no auth, username/password or token"));
        };
        entries.push((host, parsed));
    }
    Ok(Credentials { entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_forms() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},"reg.example:5000":{"username":"a","password":"b"},"ghcr.io":{"identitytoken":"t"}}}"#,
        )
        .unwrap();
        let creds = read_docker_config(&path).unwrap();
        assert_eq!(
            creds.entries,
            vec![
                ("ghcr.io".into(), RegistryAuth::Bearer("t".into())),
                (
                    "docker.io".into(),
                    RegistryAuth::Basic {
                        username: "user".into(),
                        password: "pass".into()
                    }
                ),
                (
                    "reg.example:5000".into(),
                    RegistryAuth::Basic {
                        username: "a".into(),
                        password: "b".into()
                    }
                ),
            ]
        );
        std::fs::write(&path, r#"{"auths":{"x":{"auth":"!!"}}}"#).unwrap();
        assert!(
            read_docker_config(&path)
                .unwrap_err()
                .to_string()
                .contains("registry x: auth is not base64")
        );
    }
}
