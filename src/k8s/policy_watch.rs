//! Keeps the [`PolicyStore`] current: reflectors on ClusterScanPolicy and
//! ScanException, and a whole new [`PolicySet`] swapped in after every
//! change, so admission never waits on the API server.

use crate::policy::{ClusterScanPolicy, ScanException};
use crate::ports::{PolicySet, PolicyStore};
use futures::StreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use std::sync::Arc;
use tokio::task::JoinHandle;

/// The running watches; dropping it does not stop them, [`abort`] does.
///
/// [`abort`]: PolicyWatch::abort
pub struct PolicyWatch {
    tasks: Vec<JoinHandle<()>>,
    policies: Store<ClusterScanPolicy>,
    exceptions: Store<ScanException>,
}

impl PolicyWatch {
    /// Starts watching all policies and all exceptions (every namespace;
    /// which namespaces' exceptions apply is decided by admission).
    pub fn start(client: Client, store: PolicyStore) -> PolicyWatch {
        let (policies, policy_writer) = reflector::store::<ClusterScanPolicy>();
        let (exceptions, exception_writer) = reflector::store::<ScanException>();
        let rebuild = Arc::new(Rebuild {
            store,
            policies: policies.clone(),
            exceptions: exceptions.clone(),
        });

        let policy_stream = reflector::reflector(
            policy_writer,
            watcher(
                Api::<ClusterScanPolicy>::all(client.clone()),
                watcher::Config::default(),
            ),
        );
        let exception_stream = reflector::reflector(
            exception_writer,
            watcher(
                Api::<ScanException>::all(client),
                watcher::Config::default(),
            ),
        );
        let tasks = vec![
            tokio::spawn(drive(policy_stream, rebuild.clone(), "ClusterScanPolicy")),
            tokio::spawn(drive(exception_stream, rebuild, "ScanException")),
        ];
        PolicyWatch {
            tasks,
            policies,
            exceptions,
        }
    }

    /// Waits until both reflectors have completed their initial list.
    pub async fn wait_until_ready(&self) -> Result<(), reflector::store::WriterDropped> {
        self.policies.wait_until_ready().await?;
        self.exceptions.wait_until_ready().await
    }

    pub fn abort(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

struct Rebuild {
    store: PolicyStore,
    policies: Store<ClusterScanPolicy>,
    exceptions: Store<ScanException>,
}

impl Rebuild {
    fn publish(&self) {
        let mut policies: Vec<ClusterScanPolicy> = self
            .policies
            .state()
            .iter()
            .map(|p| (**p).clone())
            .collect();
        let mut exceptions: Vec<ScanException> = self
            .exceptions
            .state()
            .iter()
            .map(|e| (**e).clone())
            .collect();
        // A stable order makes verdicts and messages reproducible.
        policies.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        exceptions.sort_by(|a, b| {
            (&a.metadata.namespace, &a.metadata.name)
                .cmp(&(&b.metadata.namespace, &b.metadata.name))
        });
        self.store.replace(PolicySet {
            policies,
            exceptions,
        });
    }
}

async fn drive<K, S>(stream: S, rebuild: Arc<Rebuild>, kind: &'static str)
where
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
{
    // The backoff keeps the watch alive across API server restarts.
    let stream = stream.default_backoff();
    futures::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Init) | Ok(watcher::Event::InitApply(_)) => {}
            Ok(_) => rebuild.publish(),
            Err(error) => tracing::warn!(%error, kind, "watch failed; retrying"),
        }
    }
}
