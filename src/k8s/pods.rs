//! The pods of the cluster, for the re-scan loop: a reflector over every
//! namespace, with managed fields dropped to keep memory down.

use crate::ports::PodSnapshot;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Every pod the watch sees, served from memory.
#[derive(Clone)]
pub struct PodReflector {
    store: Store<Pod>,
}

impl PodReflector {
    /// Starts the watch; the returned task runs until aborted.
    pub fn start(client: Client) -> (PodReflector, JoinHandle<()>) {
        let (store, writer) = reflector::store::<Pod>();
        let stream = watcher(Api::<Pod>::all(client), watcher::Config::default())
            .default_backoff()
            .modify(|pod| {
                pod.managed_fields_mut().clear();
                pod.annotations_mut()
                    .remove("kubectl.kubernetes.io/last-applied-configuration");
            })
            .reflect(writer);
        let task = tokio::spawn(async move {
            futures::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                if let Err(error) = event {
                    tracing::warn!(%error, "pod watch failed; retrying");
                }
            }
        });
        (PodReflector { store }, task)
    }

    pub async fn wait_until_ready(&self) -> Result<(), reflector::store::WriterDropped> {
        self.store.wait_until_ready().await
    }
}

impl PodSnapshot for PodReflector {
    fn pods(&self) -> Vec<Arc<Pod>> {
        self.store.state()
    }
}
