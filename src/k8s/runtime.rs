//! `scangate serve` in a cluster: connects to the API server, starts the
//! watches (policies, exceptions, namespaces), the pull-secret reader, the
//! event writer and the report queue, and waits until the watches have
//! their first full list, because judging with no policy would allow all.

use super::config::{ClusterMode, KubernetesConfig};
use super::events::ClusterEventSink;
use super::namespaces::NamespaceReflector;
use super::policy_watch::{PolicyMetrics, PolicyReporting, PolicyWatch};
use super::pull_secrets::ClusterPullCredentials;
use super::report_writer::{ReportMetrics, ReportQueue, ReportWriter};
use crate::ports::PolicyStore;
use kube::Client;
use kube::runtime::reflector;
use std::path::Path;
use tokio::task::JoinHandle;

/// Why `serve` could not start against the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("reading the kubeconfig {path}: {cause}")]
    Kubeconfig {
        path: String,
        cause: kube::config::KubeconfigError,
    },
    #[error("finding the cluster (in-cluster account, KUBECONFIG or ~/.kube/config): {0}")]
    Infer(kube::config::InferConfigError),
    #[error("building the Kubernetes client: {0}")]
    Client(kube::Error),
    #[error(
        "the {what} watch did not complete its first list within kubernetes.syncTimeout ({seconds} s); is the API server reachable and are the CRDs installed (scangate crds | kubectl apply -f -)?"
    )]
    SyncTimeout { what: &'static str, seconds: u64 },
    #[error("the {0} watch stopped before its first list")]
    WatchStopped(&'static str),
}

/// Whether `serve` should use the cluster, given the mode and the flags.
pub fn wanted(mode: ClusterMode, kubeconfig: Option<&Path>) -> bool {
    match mode {
        ClusterMode::Enabled => true,
        ClusterMode::Disabled => false,
        ClusterMode::Auto => {
            kubeconfig.is_some() || std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
        }
    }
}

/// A client from `kubeconfig` if given, else inferred (in-cluster account,
/// `KUBECONFIG`, `~/.kube/config`).
pub async fn client(kubeconfig: Option<&Path>) -> Result<Client, ClusterError> {
    let config = match kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|cause| {
                ClusterError::Kubeconfig {
                    path: path.display().to_string(),
                    cause,
                }
            })?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .map_err(|cause| ClusterError::Kubeconfig {
                    path: path.display().to_string(),
                    cause,
                })?
        }
        None => kube::Config::infer().await?,
    };
    Client::try_from(config).map_err(ClusterError::Client)
}

/// The cluster-backed ports of admission, running.
pub struct ClusterRuntime {
    pub client: Client,
    pub namespaces: NamespaceReflector,
    pub credentials: ClusterPullCredentials,
    pub events: ClusterEventSink,
    /// `None` when `kubernetes.reports.enabled` is false.
    pub reports: Option<ReportQueue>,
    policy_watch: PolicyWatch,
    tasks: Vec<JoinHandle<()>>,
}

impl ClusterRuntime {
    /// Starts everything and waits (up to `syncTimeout`) for the watches'
    /// first lists; `policies` is kept current from then on.
    pub async fn start(
        client: Client,
        config: &KubernetesConfig,
        policies: PolicyStore,
        report_metrics: ReportMetrics,
        policy_metrics: PolicyMetrics,
    ) -> Result<ClusterRuntime, ClusterError> {
        let (events, events_task) = ClusterEventSink::start(client.clone(), config.events.clone());
        let policy_watch = PolicyWatch::start(
            client.clone(),
            policies,
            PolicyReporting {
                events: std::sync::Arc::new(events.clone()),
                metrics: policy_metrics,
            },
        );
        let (namespaces, namespace_task) = NamespaceReflector::start(client.clone());
        let mut tasks = vec![namespace_task, events_task];
        let reports = config.reports.enabled.then(|| {
            let writer = ReportWriter::new(client.clone(), config.reports.max_findings)
                .with_history_length(config.reports.history_length);
            let (queue, task) =
                ReportQueue::start(writer, config.reports.queue_capacity, report_metrics);
            tasks.push(task);
            queue
        });
        let runtime = ClusterRuntime {
            credentials: ClusterPullCredentials::new(client.clone(), &config.pull_secrets),
            client,
            namespaces,
            events,
            reports,
            policy_watch,
            tasks,
        };
        let timeout = config.sync_timeout.get();
        let synced = |what: &'static str| {
            move |result: Result<Result<(), _>, _>| match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(reflector::store::WriterDropped { .. })) => {
                    Err(ClusterError::WatchStopped(what))
                }
                Err(_) => Err(ClusterError::SyncTimeout {
                    what,
                    seconds: timeout.as_secs(),
                }),
            }
        };
        let result = async {
            synced("ClusterScanPolicy/ScanException")(
                tokio::time::timeout(timeout, runtime.policy_watch.wait_until_ready()).await,
            )?;
            synced("Namespace")(
                tokio::time::timeout(timeout, runtime.namespaces.wait_until_ready()).await,
            )
        }
        .await;
        if let Err(err) = result {
            runtime.stop();
            return Err(err);
        }
        tracing::info!("cluster watches synced: policies, exceptions, namespaces");
        Ok(runtime)
    }

    /// Stops the watches and writers.
    pub fn stop(&self) {
        self.policy_watch.abort();
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The cause is in the message, so it is not also a `source` (printed once).
impl From<kube::config::InferConfigError> for ClusterError {
    fn from(error: kube::config::InferConfigError) -> Self {
        ClusterError::Infer(error)
    }
}
