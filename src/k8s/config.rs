//! The `kubernetes:` section of the configuration: whether `serve` connects
//! to a cluster, and the settings of everything that then talks to it.

use super::events::EventsConfig;
use super::leader::LeaderConfig;
use super::pull_secrets::PullSecretsConfig;
use super::report::DEFAULT_MAX_REPORTED_FINDINGS;
use crate::model::ConfigDuration;
use serde::{Deserialize, Serialize};

/// Whether `serve` uses the Kubernetes API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ClusterMode {
    /// In a pod (`KUBERNETES_SERVICE_HOST` is set) or with `--kubeconfig`:
    /// use the cluster; otherwise run from files alone.
    #[default]
    Auto,
    /// Always use the cluster (in-cluster account, `KUBECONFIG` or
    /// `~/.kube/config`); failing to reach it is a startup error.
    Enabled,
    /// Never: policies from `--policy` files, no events, no reports.
    Disabled,
}

/// The `kubernetes:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct KubernetesConfig {
    /// `auto`, `enabled` or `disabled` (`mode`).
    pub mode: ClusterMode,
    /// scangate's own namespace, where its Lease lives (`namespace`);
    /// default: `$POD_NAMESPACE`, else `scangate`.
    pub namespace: Option<String>,
    /// How long startup waits for the first full list of policies,
    /// exceptions and namespaces (`syncTimeout`). The webhook does not
    /// serve before it has them: judging with no policy would allow all.
    pub sync_timeout: ConfigDuration,
    /// Pull secrets: global secret and cache (`pullSecrets`).
    pub pull_secrets: PullSecretsConfig,
    /// Events: queue, aggregation and rate limit (`events`).
    pub events: EventsConfig,
    /// `ImageScanReport` objects (`reports`).
    pub reports: ReportsConfig,
    /// The Lease that elects the one replica running re-scans (`leaderElection`).
    pub leader_election: LeaderConfig,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            mode: ClusterMode::Auto,
            namespace: None,
            sync_timeout: ConfigDuration::secs(60),
            pull_secrets: PullSecretsConfig::default(),
            events: EventsConfig::default(),
            reports: ReportsConfig::default(),
            leader_election: LeaderConfig::default(),
        }
    }
}

impl KubernetesConfig {
    /// The namespace scangate runs in.
    pub fn own_namespace(&self) -> String {
        self.namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .filter(|ns| !ns.is_empty())
            .unwrap_or_else(|| "scangate".to_string())
    }
}

/// The `kubernetes.reports` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ReportsConfig {
    /// Write an `ImageScanReport` after every scan (`enabled`).
    pub enabled: bool,
    /// Finding IDs kept per report, most severe first (`maxFindings`).
    pub max_findings: usize,
    /// Summaries of earlier scans kept on the report (`historyLength`).
    pub history_length: usize,
    /// Report writes waiting; more are dropped and counted (`queueCapacity`).
    pub queue_capacity: usize,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            enabled: true,
            max_findings: DEFAULT_MAX_REPORTED_FINDINGS,
            history_length: 10,
            queue_capacity: 256,
        }
    }
}
