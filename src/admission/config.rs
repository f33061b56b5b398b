//! The `webhook:` section of the configuration: what is reviewed and how
//! the answer is written.

use serde::{Deserialize, Serialize};

/// What the webhook reviews and how it answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Review the pod templates of Deployment, ReplicaSet, StatefulSet,
    /// DaemonSet, Job, CronJob and ReplicationController too.
    pub review_workloads: bool,
    /// Answer `/mutate` with a JSONPatch pinning tags to scanned digests.
    pub pin_digests: bool,
    /// Namespaces whose ScanExceptions apply in every namespace (default:
    /// scangate's own namespace).
    pub cluster_wide_exception_namespaces: Vec<String>,
    /// How many finding IDs a denial message lists per image.
    pub max_findings_in_message: usize,
    /// How many distinct images one review may name; more is refused.
    pub max_images_per_review: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            review_workloads: true,
            pin_digests: false,
            cluster_wide_exception_namespaces:
                crate::policy::default_cluster_wide_exception_namespaces(),
            max_findings_in_message: 5,
            max_images_per_review: 64,
        }
    }
}
