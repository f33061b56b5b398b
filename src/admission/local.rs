//! The ports without a cluster: namespace labels from a fixed map (empty by
//! default), events as structured log lines (or kept in memory), the same
//! registry credentials for every pod (`--docker-config`, read by
//! `registry::docker_config`).

use crate::ports::{AdmissionEvent, EventSink, NamespaceLabels, PodPullSecrets, PullCredentials};
use crate::registry::Credentials;
use async_trait::async_trait;
use std::collections::BTreeMap;
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
