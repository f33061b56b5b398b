//! Pull credentials for a pod from cluster secrets: the pod's
//! `imagePullSecrets`, then its ServiceAccount's, then a configured global
//! secret. Secrets are read on demand and cached briefly; their contents
//! never reach a log line (only secret names do).

use crate::model::{ConfigDuration, positive_duration};
use crate::ports::{PodPullSecrets, PullCredentials};
use crate::registry::parse_docker_config;
use crate::registry::{Credentials, RegistryAuth};
use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::{Api, Client};
use moka::future::Cache;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Settings of [`ClusterPullCredentials`] (config key `pullSecrets`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PullSecretsConfig {
    /// `namespace/name` of a secret used after the pod's own ones.
    pub global_secret: Option<String>,
    /// How long a read secret or service account is reused (`cacheTtl`, 60s).
    #[serde(deserialize_with = "positive_duration")]
    pub cache_ttl: ConfigDuration,
    /// Most cached secrets and service accounts.
    pub cache_capacity: u64,
}

impl Default for PullSecretsConfig {
    fn default() -> Self {
        PullSecretsConfig {
            global_secret: None,
            cache_ttl: ConfigDuration::secs(60),
            cache_capacity: 1000,
        }
    }
}

type Entries = Arc<Vec<(String, RegistryAuth)>>;

/// [`PullCredentials`] backed by the API server.
#[derive(Clone)]
pub struct ClusterPullCredentials {
    client: Client,
    global: Option<(String, String)>,
    secrets: Cache<(String, String), Entries>,
    service_accounts: Cache<(String, String), Arc<Vec<String>>>,
}

impl ClusterPullCredentials {
    pub fn new(client: Client, config: &PullSecretsConfig) -> ClusterPullCredentials {
        let ttl = config.cache_ttl.get();
        let global = config.global_secret.as_deref().and_then(|s| {
            let (ns, name) = s.split_once('/')?;
            Some((ns.to_string(), name.to_string()))
        });
        ClusterPullCredentials {
            client,
            global,
            secrets: Cache::builder()
                .max_capacity(config.cache_capacity)
                .time_to_live(ttl)
                .build(),
            service_accounts: Cache::builder()
                .max_capacity(config.cache_capacity)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// Registry entries of one secret; empty (and a warning naming the
    /// secret, never its contents) if it is missing or unusable.
    async fn secret_entries(&self, namespace: &str, name: &str) -> Entries {
        let key = (namespace.to_string(), name.to_string());
        if let Some(hit) = self.secrets.get(&key).await {
            return hit;
        }
        let entries = match Api::<Secret>::namespaced(self.client.clone(), namespace)
            .get_opt(name)
            .await
        {
            Ok(Some(secret)) => match secret_to_entries(&secret) {
                Ok(entries) => entries,
                Err(error) => {
                    tracing::warn!(namespace, secret = name, %error, "unusable pull secret");
                    Vec::new()
                }
            },
            Ok(None) => {
                tracing::warn!(namespace, secret = name, "pull secret not found");
                Vec::new()
            }
            Err(error) => {
                // Not cached: a transient API error should not stick.
                tracing::warn!(namespace, secret = name, %error, "cannot read pull secret");
                return Arc::new(Vec::new());
            }
        };
        let entries = Arc::new(entries);
        self.secrets.insert(key, entries.clone()).await;
        entries
    }

    async fn service_account_secrets(&self, namespace: &str, name: &str) -> Arc<Vec<String>> {
        let key = (namespace.to_string(), name.to_string());
        if let Some(hit) = self.service_accounts.get(&key).await {
            return hit;
        }
        let names: Arc<Vec<String>> = match Api::<ServiceAccount>::namespaced(
            self.client.clone(),
            namespace,
        )
        .get_opt(name)
        .await
        {
            Ok(account) => Arc::new(
                account
                    .and_then(|sa| sa.image_pull_secrets)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| r.name)
                    .filter(|n| !n.is_empty())
                    .collect(),
            ),
            Err(error) => {
                tracing::warn!(namespace, service_account = name, %error, "cannot read service account");
                return Arc::new(Vec::new());
            }
        };
        self.service_accounts.insert(key, names.clone()).await;
        names
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PullSecretError {
    #[error("secret type {0:?} is not a docker pull secret")]
    WrongType(String),
    #[error("secret has no {0} key")]
    MissingKey(&'static str),
    #[error(transparent)]
    Parse(#[from] crate::registry::DockerConfigError),
}

/// Registry entries of a `kubernetes.io/dockerconfigjson` or
/// `kubernetes.io/dockercfg` secret.
pub fn secret_to_entries(secret: &Secret) -> Result<Vec<(String, RegistryAuth)>, PullSecretError> {
    let kind = secret.type_.as_deref().unwrap_or("");
    let data = secret.data.as_ref();
    let value = |key: &'static str| {
        data.and_then(|d| d.get(key))
            .map(|b| b.0.as_slice())
            .ok_or(PullSecretError::MissingKey(key))
    };
    match kind {
        // One parser reads both payloads (`{"auths": …}` and the legacy map).
        "kubernetes.io/dockerconfigjson" => {
            Ok(parse_docker_config(value(".dockerconfigjson")?)?.entries)
        }
        "kubernetes.io/dockercfg" => Ok(parse_docker_config(value(".dockercfg")?)?.entries),
        other => Err(PullSecretError::WrongType(other.to_string())),
    }
}

#[async_trait]
impl PullCredentials for ClusterPullCredentials {
    async fn for_pod(&self, namespace: &str, pod: &PodPullSecrets) -> Credentials {
        let mut credentials = Credentials::anonymous();
        for name in &pod.secrets {
            if !name.is_empty() {
                let entries = self.secret_entries(namespace, name).await;
                credentials.entries.extend(entries.iter().cloned());
            }
        }
        let account = pod
            .service_account
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or("default");
        for name in self
            .service_account_secrets(namespace, account)
            .await
            .iter()
        {
            let entries = self.secret_entries(namespace, name).await;
            credentials.entries.extend(entries.iter().cloned());
        }
        if let Some((ns, name)) = &self.global {
            let entries = self.secret_entries(ns, name).await;
            credentials.entries.extend(entries.iter().cloned());
        }
        credentials
    }
}
