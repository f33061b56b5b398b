//! `scangate serve`: the admission webhook.

use crate::admission::local::{
    LogEventSink, StaticCredentials, StaticNamespaceLabels, read_docker_config,
};
use crate::admission::{Admission, system_clock};
use crate::config::Config;
use crate::k8s::config::ClusterMode;
use crate::k8s::leader::{Election, LeaderElector, spawn_election};
use crate::k8s::pods::PodReflector;
use crate::k8s::report_writer::ReportMetrics;
use crate::k8s::reporting_scanner::ReportingScanner;
use crate::k8s::running_images::ClusterRunningImages;
use crate::k8s::runtime::{self as cluster, ClusterRuntime};
use crate::k8s::stored_reports::ClusterReports;
use crate::policy::load::PolicyDocuments;
use crate::ports::{NothingRunning, PolicySet, PolicyStore};
use crate::rescan::alerts::Notifier;
use crate::rescan::controller::RescanController;
use crate::rescan::history::HistoryStore;
use crate::rescan::metrics::RescanMetrics;
use crate::rescan::rescanner::Rescanner;
use crate::scan::ImageScanner;
use crate::scan::Scanner;
use crate::scan::local_images::LocalImages;
use crate::scan::orchestrator::Orchestrator;
use crate::telemetry::LogFormat;
use crate::telemetry::Metrics;
use crate::vulndb::{
    DbHandle, DbMetrics, DbSource, open, register_metrics as register_db_metrics, spawn_refresher,
};
use anyhow::Context;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Arguments of `scangate serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The YAML configuration file (every key has a default); repeatable,
    /// later files override earlier ones key by key.
    #[arg(long, value_name = "FILE")]
    pub config: Vec<PathBuf>,
    /// HTTPS address [default: 0.0.0.0:8443, or server.listen].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Plain-HTTP address of /metrics [default: server.metricsListen].
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// PEM certificate chain; re-read when it changes.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Folder holding the OSV database (`<Ecosystem>/all.zip`).
    #[arg(long, value_name = "ROOT")]
    pub db: Option<PathBuf>,
    /// A YAML file of ClusterScanPolicy and ScanException documents (repeatable).
    #[arg(long = "policy", value_name = "FILE")]
    pub policies: Vec<PathBuf>,
    /// A registry reached over plain HTTP (repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    pub insecure_registries: Vec<String>,
    /// A Docker config.json with registry credentials.
    #[arg(long, value_name = "FILE")]
    pub docker_config: Option<PathBuf>,
    /// A kubeconfig file: use that cluster (policies, exceptions and
    /// namespaces from its API, events, reports, re-scans).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Development mode: self-signed certificate, pretty logs, the bundled
    /// examples (policies under examples/policies when none is given), and
    /// no cluster unless --kubeconfig names one.
    #[arg(long)]
    pub dev: bool,
    /// Read the configuration, print it with every default filled in, and
    /// exit (0 if it is valid).
    #[arg(long)]
    pub check_config: bool,
}

/// The configuration after the flags are applied over the file.
pub fn effective_config(args: &ServeArgs) -> anyhow::Result<Config> {
    let mut config = Config::load_all(&args.config)?;
    if let Some(listen) = &args.listen {
        config.server.listen = listen.clone();
    }
    if let Some(listen) = &args.metrics_listen {
        config.server.metrics_listen = listen.clone();
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        config.tls.cert_file = Some(cert.clone());
        config.tls.key_file = Some(key.clone());
    }
    if let Some(db) = &args.db {
        config.db.root = Some(db.clone());
    }
    config
        .scanner
        .registries
        .insecure_registries
        .extend(args.insecure_registries.iter().cloned());
    if args.dev {
        config.telemetry.log_format = LogFormat::Pretty;
        if args.kubeconfig.is_none() {
            config.kubernetes.mode = ClusterMode::Disabled;
        }
        if config.db.root.is_none() {
            config.db.root = Some(PathBuf::from("examples/db"));
        }
        if config.local_images.is_empty() {
            config.local_images = sample_images(Path::new("examples/images"));
        }
        // Offline on one machine: loopback only, unless told otherwise.
        if args.listen.is_none() && args.config.is_empty() {
            config.server.listen = "127.0.0.1:8443".into();
        }
        if args.metrics_listen.is_none() && args.config.is_empty() {
            config.server.metrics_listen = "127.0.0.1:9090".into();
        }
    }
    Ok(config)
}

/// The scanner behind the webhook. The one place where it is constructed.
/// Opens the database named by `db.root` (syncing a mirror first), puts it
/// in service and keeps it fresh every `db.refreshInterval`.
async fn open_database(config: &Config, db: &DbHandle, metrics: &DbMetrics) -> anyhow::Result<()> {
    let root = config
        .db
        .root
        .clone()
        .context("no vulnerability database: pass --db ROOT (or set db.root)")?;
    let source = DbSource::parse(&root.to_string_lossy(), &config.db.cache_dir);
    // Through the snapshot: a restart loads the index, not the zips.
    let load = config.db.loader();
    let database = open(&source, &load, metrics)
        .await
        .with_context(|| format!("loading the vulnerability database {}", root.display()))?;
    tracing::info!(root = %root.display(), revision = database.revision(), "vulnerability database loaded");
    db.replace(database);
    spawn_refresher(
        db.clone(),
        source,
        load,
        config.db.refresh_interval.get(),
        metrics.clone(),
    );
    Ok(())
}

/// The real scanner over `db`, reading `localImages` from their layouts.
pub fn build_scanner(
    config: &Config,
    db: DbHandle,
) -> anyhow::Result<(Arc<dyn Scanner>, Arc<ImageScanner>)> {
    let engine = Arc::new(ImageScanner::new(config.scanner.clone(), db));
    let scanner: Arc<dyn Scanner> = if config.local_images.is_empty() {
        engine.clone()
    } else {
        Arc::new(LocalImages::new(engine.clone(), &config.local_images)?)
    };
    Ok((scanner, engine))
}

/// The bundled sample images (`examples/images/<name>`, tagged in their
/// `index.json`) as `demo.scangate.dev/<name>:<tag>`.
fn sample_images(dir: &Path) -> BTreeMap<String, PathBuf> {
    let mut images = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return images;
    };
    for entry in entries.flatten() {
        let layout = entry.path();
        let index: Option<serde_json::Value> = std::fs::read(layout.join("index.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let tag = index.as_ref().and_then(|i| {
            i["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"].as_str()
        });
        if let (Some(tag), Some(name)) = (tag, layout.file_name().and_then(|n| n.to_str())) {
            images.insert(format!("demo.scangate.dev/{name}:{tag}"), layout.clone());
        }
    }
    images
}

pub async fn run(args: ServeArgs) -> anyhow::Result<i32> {
    let config = effective_config(&args)?;
    if args.check_config {
        print!("{}", serde_yaml::to_string(&config)?);
        return Ok(0);
    }
    crate::telemetry::init_logging(&config.telemetry);
    let (cert, key) = tls_files(&config, args.dev)?;
    let in_cluster = cluster::wanted(config.kubernetes.mode, args.kubeconfig.as_deref());
    let documents = PolicyDocuments::read_files(&policy_files(&args))?;
    if in_cluster && !(documents.policies.is_empty() && documents.exceptions.is_empty()) {
        anyhow::bail!(
            "--policy files and the cluster's ClusterScanPolicy/ScanException resources do not mix: the cluster's are used when connected (kubernetes.mode)"
        );
    }
    tracing::info!(
        policies = documents.policies.len(),
        exceptions = documents.exceptions.len(),
        in_cluster,
        "policies loaded"
    );
    let policies = PolicyStore::new(PolicySet {
        policies: documents.policies,
        exceptions: documents.exceptions,
    });
    let db = DbHandle::default();
    let (engine_scanner, engine) =
        build_scanner(&config, db.clone()).context("building the scanner")?;
    let mut registered = None;
    let metrics = Metrics::with_components(|registry| {
        engine.register_metrics(registry);
        registered = Some((
            register_db_metrics(registry),
            ReportMetrics::register(registry),
            RescanMetrics::register(registry),
        ));
    });
    let (db_metrics, report_metrics, rescan_metrics) =
        registered.context("component metrics were not registered")?;
    open_database(&config, &db, &db_metrics).await?;

    let mut background = Background::default();
    let admission = if in_cluster {
        let client = cluster::client(args.kubeconfig.as_deref()).await?;
        let runtime =
            ClusterRuntime::start(client, &config.kubernetes, policies.clone(), report_metrics)
                .await?;
        let scanner: Arc<dyn Scanner> = match &runtime.reports {
            Some(reports) => Arc::new(ReportingScanner::new(engine_scanner, reports.clone())),
            None => engine_scanner,
        };
        let (pods, pods_task) = PodReflector::start(runtime.client.clone());
        let (running, running_task) =
            ClusterRunningImages::start(runtime.client.clone(), pods.clone());
        background.tasks.extend([pods_task, running_task]);
        let admission = Admission {
            orchestrator: Orchestrator::new(
                scanner.clone(),
                config.orchestrator.clone(),
                metrics.clone(),
            ),
            policies: policies.clone(),
            namespaces: Arc::new(runtime.namespaces.clone()),
            credentials: Arc::new(runtime.credentials.clone()),
            running: Arc::new(running),
            events: Arc::new(runtime.events.clone()),
            metrics: metrics.clone(),
            config: config.webhook.clone(),
            clock: system_clock(),
        };
        if config.rescan.enabled {
            start_rescans(
                &config,
                &runtime,
                pods,
                scanner,
                policies,
                rescan_metrics,
                &mut background,
            )?;
        }
        background.cluster = Some(runtime);
        admission
    } else {
        let credentials = match &args.docker_config {
            Some(path) => read_docker_config(path)?,
            None => Default::default(),
        };
        Admission {
            orchestrator: Orchestrator::new(
                engine_scanner,
                config.orchestrator.clone(),
                metrics.clone(),
            ),
            policies,
            namespaces: Arc::new(StaticNamespaceLabels::default()),
            credentials: Arc::new(StaticCredentials(credentials)),
            running: Arc::new(NothingRunning),
            events: Arc::new(LogEventSink),
            metrics: metrics.clone(),
            config: config.webhook.clone(),
            clock: system_clock(),
        }
    };
    let certificate = crate::tls::ReloadingCert::load(&cert, &key)?;
    let _watch = certificate.watch(config.tls.reload_interval.get());
    let tls = Arc::new(crate::tls::server_config(certificate)?);
    let app = crate::server::router(admission, &config.server);
    let server = crate::server::start(app, tls, &config.server, metrics).await?;
    shutdown_signal().await;
    tracing::info!("shutting down; finishing in-flight reviews");
    background.stop().await;
    server.shutdown().await;
    Ok(0)
}

/// Tasks beside the server, stopped before it.
#[derive(Default)]
struct Background {
    cluster: Option<ClusterRuntime>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stop_rescans: Option<tokio::sync::watch::Sender<bool>>,
    election: Option<Election>,
}

/// How long shutdown waits for the re-scan Lease to be released.
const LEASE_RELEASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

impl Background {
    /// Stops the re-scan loop, then releases the Lease (so another replica
    /// takes over at once), then everything else.
    async fn stop(self) {
        if let Some(stop) = self.stop_rescans {
            let _ = stop.send(true);
        }
        // Aborted and awaited: no re-scan is still running when the
        // Lease is given up.
        for task in self.tasks {
            task.abort();
            let _ = task.await;
        }
        if let Some(election) = self.election {
            election.stop(LEASE_RELEASE_TIMEOUT).await;
        }
        if let Some(runtime) = self.cluster {
            runtime.stop();
        }
    }
}

/// The re-scan loop: every replica watches pods and campaigns for the
/// Lease; only the leader re-scans.
fn start_rescans(
    config: &Config,
    runtime: &ClusterRuntime,
    pods: PodReflector,
    scanner: Arc<dyn Scanner>,
    policies: PolicyStore,
    metrics: RescanMetrics,
    background: &mut Background,
) -> anyhow::Result<()> {
    let rescan = &config.rescan;
    let history = rescan
        .history_dir
        .as_ref()
        .map(|dir| HistoryStore::new(dir.clone(), rescan.retention));
    let notifier = (!rescan.alert_sinks.is_empty())
        .then(|| Notifier::start(rescan.alert_sinks.clone(), rescan.dead_letter_file.clone()));
    let mut rescanner = Rescanner::new(scanner.clone(), rescan.clone(), history, notifier)
        .context("starting the re-scanner")?
        .with_metrics(&metrics);
    // Reports hold firstSeen and what admission saw: with the history, the
    // baseline of a digest this replica has not scanned (a failover).
    if runtime.reports.is_some() {
        rescanner = rescanner.with_reports(Arc::new(ClusterReports::new(runtime.client.clone())));
    }
    let identity = std::env::var("POD_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("scangate-{}", std::process::id()));
    let elector = LeaderElector::new(
        runtime.client.clone(),
        &config.kubernetes.own_namespace(),
        &identity,
        config.kubernetes.leader_election.clone(),
    );
    let (leadership, election) = spawn_election(elector);
    let controller = Arc::new(
        RescanController::new(
            Arc::new(rescanner),
            scanner,
            Arc::new(pods),
            Arc::new(leadership),
            Arc::new(runtime.credentials.clone()),
            policies,
            Arc::new(runtime.events.clone()),
            metrics,
        )
        .with_cluster_wide_exception_namespaces(
            config.webhook.cluster_wide_exception_namespaces.clone(),
        ),
    );
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let tick = rescan.tick_interval.get();
    let loop_task = tokio::spawn(controller.run(tick, async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    }));
    background.tasks.push(loop_task);
    background.election = Some(election);
    background.stop_rescans = Some(stop);
    tracing::info!(%identity, tick = %rescan.tick_interval, interval = %rescan.interval, "re-scan loop started (runs while this replica holds the lease)");
    Ok(())
}

/// The certificate and key: from the configuration, or made up in `--dev`.
fn tls_files(config: &Config, dev: bool) -> anyhow::Result<(PathBuf, PathBuf)> {
    match (&config.tls.cert_file, &config.tls.key_file) {
        (Some(cert), Some(key)) => Ok((cert.clone(), key.clone())),
        _ if dev => {
            let dir = PathBuf::from(".cache/dev-tls");
            let (ca, cert, key) = crate::tls::write_dev_certificates(&dir)?;
            tracing::info!(ca = %ca.display(), "development certificate written; use --cacert with curl");
            Ok((cert, key))
        }
        _ => anyhow::bail!(
            "--tls-cert and --tls-key (or tls.certFile/tls.keyFile) are required outside --dev"
        ),
    }
}

/// `--policy` files; in `--dev` without any, the bundled examples.
fn policy_files(args: &ServeArgs) -> Vec<PathBuf> {
    if !args.dev || !args.policies.is_empty() || args.kubeconfig.is_some() {
        return args.policies.clone();
    }
    let Ok(entries) = std::fs::read_dir("examples/policies") else {
        return vec![];
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    found.sort();
    found
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
