//! The composition root: turns a [`Config`] and the chosen adapters into a
//! running webhook and, in a cluster, its re-scan loop. `scangate serve`,
//! the integration tests and the benches all build their servers here, so
//! what they exercise is what `serve` runs; only the adapters differ (the
//! cluster's, local ones, or a test's).

pub mod cluster;

use crate::admission::local::{LogEventSink, StaticCredentials, StaticNamespaceLabels};
use crate::admission::{Admission, Clock, system_clock};
use crate::config::Config;
use crate::k8s::policy_watch::PolicyMetrics;
use crate::k8s::report_writer::ReportMetrics;
use crate::ports::{
    EventSink, NamespaceLabels, NothingRunning, PolicyStore, PullCredentials, RunningImages,
    StoredReports,
};
use crate::registry::Credentials;
use crate::rescan::alerts::Notifier;
use crate::rescan::controller::{ControllerPorts, RescanController};
use crate::rescan::history::HistoryStore;
use crate::rescan::metrics::RescanMetrics;
use crate::rescan::rescanner::{Rescanner, SetupError};
use crate::scan::local_images::LocalImages;
use crate::scan::orchestrator::Orchestrator;
use crate::scan::{ImageScanner, ScanError, Scanner};
use crate::server::{RunningServer, ServerError};
use crate::telemetry::Metrics;
use crate::vulndb::{
    DbHandle, DbMetrics, DbSource, OpenError, open, register_metrics as register_db_metrics,
    spawn_refresher,
};
use std::sync::Arc;

/// Why a server could not be built or started.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("building the scanner")]
    Scanner(#[source] ScanError),
    #[error("no vulnerability database: pass --db ROOT (or set db.root)")]
    NoDatabase,
    #[error("loading the vulnerability database {root}")]
    Database {
        root: String,
        #[source]
        source: OpenError,
    },
    #[error("starting the re-scanner")]
    Rescanner(#[source] SetupError),
    #[error("connecting to the cluster")]
    Cluster(#[source] crate::k8s::runtime::ClusterError),
    #[error("starting the HTTPS server")]
    Server(#[source] ServerError),
}

/// What admission reaches outside the request: the cluster's adapters, or
/// local ones.
#[derive(Clone)]
pub struct Adapters {
    pub namespaces: Arc<dyn NamespaceLabels>,
    pub credentials: Arc<dyn PullCredentials>,
    pub running: Arc<dyn RunningImages>,
    pub events: Arc<dyn EventSink>,
}

impl Adapters {
    /// Without a cluster: no namespace labels but names, `credentials` for
    /// every pod, nothing running, events as log lines.
    pub fn local(credentials: Credentials) -> Adapters {
        Adapters {
            namespaces: Arc::new(StaticNamespaceLabels::default()),
            credentials: Arc::new(StaticCredentials(credentials)),
            running: Arc::new(NothingRunning),
            events: Arc::new(LogEventSink),
        }
    }
}

/// What the re-scan loop reaches beyond [`Adapters`].
pub struct RescanPorts {
    pub pods: Arc<dyn crate::ports::PodSnapshot>,
    pub leadership: Arc<dyn crate::ports::Leadership>,
    /// The stored reports (firstSeen, overdue marks) for the baseline of a
    /// digest this replica has not scanned; `None` when reports are off.
    pub reports: Option<Arc<dyn StoredReports>>,
}

/// The parts of a server, built from one [`Config`]: the scanner, the
/// database it matches against, policies, clock and the metrics of every
/// component.
pub struct App {
    pub config: Config,
    pub metrics: Metrics,
    pub db: DbHandle,
    pub db_metrics: DbMetrics,
    pub report_metrics: ReportMetrics,
    /// `scangate_invalid_policies`, set by the cluster's policy watch.
    pub policy_metrics: PolicyMetrics,
    pub rescan_metrics: RescanMetrics,
    pub policies: PolicyStore,
    /// What admission and re-scans scan with.
    pub scanner: Arc<dyn Scanner>,
    /// The real scan engine behind `scanner`, unless a caller's scanner
    /// replaced it.
    pub engine: Option<Arc<ImageScanner>>,
    pub clock: Clock,
}

/// Builds an [`App`]; every part not given is built from the config.
pub struct AppBuilder {
    config: Config,
    scanner: Option<Arc<dyn Scanner>>,
    engine: Option<Arc<ImageScanner>>,
    db: DbHandle,
    policies: PolicyStore,
    clock: Clock,
}

impl App {
    pub fn builder(config: Config) -> AppBuilder {
        AppBuilder {
            config,
            scanner: None,
            engine: None,
            db: DbHandle::default(),
            policies: PolicyStore::default(),
            clock: system_clock(),
        }
    }
}

impl AppBuilder {
    /// Scans with `scanner` instead of the engine (tests and benches that
    /// read findings from files).
    pub fn scanner(mut self, scanner: Arc<dyn Scanner>) -> AppBuilder {
        self.scanner = Some(scanner);
        self
    }

    /// Scans with an engine the caller built (over its own database).
    pub fn engine(mut self, engine: Arc<ImageScanner>) -> AppBuilder {
        self.engine = Some(engine);
        self
    }

    /// The database the engine matches against (default: an empty handle
    /// that [`App::open_database`] fills).
    pub fn database(mut self, db: DbHandle) -> AppBuilder {
        self.db = db;
        self
    }

    pub fn policies(mut self, policies: PolicyStore) -> AppBuilder {
        self.policies = policies;
        self
    }

    /// The clock admission judges expiry dates and windows by.
    pub fn clock(mut self, clock: Clock) -> AppBuilder {
        self.clock = clock;
        self
    }

    pub fn build(self) -> Result<App, AppError> {
        let AppBuilder {
            config,
            scanner,
            engine,
            db,
            policies,
            clock,
        } = self;
        let (scanner, engine) = match scanner {
            Some(scanner) => (scanner, None),
            None => {
                let engine = engine.unwrap_or_else(|| {
                    Arc::new(ImageScanner::new(config.scanner.clone(), db.clone()))
                });
                let scanner: Arc<dyn Scanner> = if config.local_images.is_empty() {
                    engine.clone()
                } else {
                    Arc::new(
                        LocalImages::new(engine.clone(), &config.local_images)
                            .map_err(AppError::Scanner)?,
                    )
                };
                (scanner, Some(engine))
            }
        };
        let mut registered = None;
        let metrics = Metrics::with_components(|registry| {
            if let Some(engine) = &engine {
                engine.register_metrics(registry);
            }
            registered = Some((
                register_db_metrics(registry),
                ReportMetrics::register(registry),
                RescanMetrics::register(registry),
                PolicyMetrics::register(registry),
            ));
        });
        let (db_metrics, report_metrics, rescan_metrics, policy_metrics) =
            registered.expect("Metrics::with_components calls its closure");
        Ok(App {
            config,
            metrics,
            db,
            db_metrics,
            report_metrics,
            rescan_metrics,
            policy_metrics,
            policies,
            scanner,
            engine,
            clock,
        })
    }
}

impl App {
    /// Opens the database named by `db.root` (syncing a mirror first), puts
    /// it in service and keeps it fresh every `db.refreshInterval`.
    pub async fn open_database(&self) -> Result<(), AppError> {
        let root = self.config.db.root.clone().ok_or(AppError::NoDatabase)?;
        let source = DbSource::parse(&root.to_string_lossy(), &self.config.db.cache_dir);
        // Through the snapshot: a restart loads the index, not the zips.
        let load = self.config.db.loader();
        let database = open(&source, &load, &self.db_metrics)
            .await
            .map_err(|source| AppError::Database {
                root: root.display().to_string(),
                source,
            })?;
        tracing::info!(root = %root.display(), revision = database.revision(), "vulnerability database loaded");
        self.db.replace(database);
        spawn_refresher(
            self.db.clone(),
            source,
            load,
            self.config.db.refresh_interval.get(),
            self.db_metrics.clone(),
        );
        Ok(())
    }

    /// The webhook's reviewer over `adapters`.
    pub fn admission(&self, adapters: &Adapters) -> Admission {
        Admission {
            orchestrator: Orchestrator::new(
                self.scanner.clone(),
                self.config.orchestrator.clone(),
                self.metrics.clone(),
            ),
            policies: self.policies.clone(),
            namespaces: adapters.namespaces.clone(),
            credentials: adapters.credentials.clone(),
            running: adapters.running.clone(),
            events: adapters.events.clone(),
            metrics: self.metrics.clone(),
            config: self.config.webhook.clone(),
            clock: self.clock.clone(),
        }
    }

    /// The re-scanner of `rescan:` (history, alert sinks), reading stored
    /// reports for baselines when given.
    pub fn rescanner(
        &self,
        reports: Option<Arc<dyn StoredReports>>,
    ) -> Result<Rescanner, AppError> {
        let rescan = &self.config.rescan;
        let history = rescan
            .history_dir
            .as_ref()
            .map(|dir| HistoryStore::new(dir.clone(), rescan.retention));
        let notifier = (!rescan.alert_sinks.is_empty())
            .then(|| Notifier::start(rescan.alert_sinks.clone(), rescan.dead_letter_file.clone()));
        let mut rescanner = Rescanner::new(self.scanner.clone(), rescan.clone(), history, notifier)
            .map_err(AppError::Rescanner)?
            .with_metrics(&self.rescan_metrics);
        if let Some(reports) = reports {
            rescanner = rescanner.with_reports(reports);
        }
        Ok(rescanner)
    }

    /// The re-scan loop's controller over `ports` and `adapters`.
    pub fn rescan_controller(
        &self,
        ports: RescanPorts,
        adapters: &Adapters,
    ) -> Result<RescanController, AppError> {
        let rescanner = self.rescanner(ports.reports)?;
        Ok(RescanController::new(
            Arc::new(rescanner),
            self.scanner.clone(),
            ControllerPorts {
                pods: ports.pods,
                leadership: ports.leadership,
                credentials: adapters.credentials.clone(),
                policies: self.policies.clone(),
                events: adapters.events.clone(),
            },
            self.rescan_metrics.clone(),
        )
        .with_cluster_wide_exception_namespaces(
            self.config
                .webhook
                .cluster_wide_exception_namespaces
                .clone(),
        ))
    }

    /// Serves `admission` over TLS on `server.listen`, metrics on
    /// `server.metricsListen`.
    pub async fn serve(
        &self,
        admission: Admission,
        tls: Arc<rustls::ServerConfig>,
    ) -> Result<RunningServer, AppError> {
        let router = crate::server::router(admission, &self.config.server);
        crate::server::start(router, tls, &self.config.server, self.metrics.clone())
            .await
            .map_err(AppError::Server)
    }
}

/// A re-scan loop running on the tokio workers until stopped.
pub struct RescanLoop {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RescanLoop {
    /// Ticks `controller` every `rescan.tickInterval`.
    pub fn start(controller: Arc<RescanController>, tick: std::time::Duration) -> RescanLoop {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(controller.run(tick, async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }));
        RescanLoop { stop, task }
    }

    /// Stops the loop; no re-scan is running when this returns.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        self.task.abort();
        let _ = self.task.await;
    }
}
