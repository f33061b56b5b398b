//! Namespace labels from a reflector, for policies' `namespaceSelector`.

use crate::ports::NamespaceLabels;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use std::collections::BTreeMap;
use tokio::task::JoinHandle;

/// Namespace labels served from memory, kept current by a watch.
#[derive(Clone)]
pub struct NamespaceReflector {
    store: Store<Namespace>,
}

impl NamespaceReflector {
    /// Starts the watch; the returned task runs until aborted.
    pub fn start(client: Client) -> (NamespaceReflector, JoinHandle<()>) {
        let (store, writer) = reflector::store::<Namespace>();
        let stream = reflector::reflector(
            writer,
            watcher(Api::<Namespace>::all(client), watcher::Config::default()),
        )
        .default_backoff();
        let task = tokio::spawn(async move {
            futures::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                if let Err(error) = event {
                    tracing::warn!(%error, "namespace watch failed; retrying");
                }
            }
        });
        (NamespaceReflector { store }, task)
    }

    pub async fn wait_until_ready(&self) -> Result<(), reflector::store::WriterDropped> {
        self.store.wait_until_ready().await
    }
}

impl NamespaceLabels for NamespaceReflector {
    fn labels(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        self.store
            .get(&ObjectRef::new(namespace))
            .map(|ns| ns.metadata.labels.clone().unwrap_or_default())
    }
}
