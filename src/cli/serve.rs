//! `scangate serve`: the admission webhook.

use crate::admission::local::{
    LogEventSink, StaticCredentials, StaticNamespaceLabels, read_docker_config,
};
use crate::admission::ports::{PolicySet, PolicyStore};
use crate::admission::{Admission, system_clock};
use crate::config::{Config, LogFormat};
use crate::policy::load::PolicyDocuments;
use crate::scan::ImageScanner;
use crate::scan::Scanner;
use crate::scan::local_images::LocalImages;
use crate::scan::orchestrator::Orchestrator;
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
    /// The YAML configuration file (every key has a default).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
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
    /// Development mode: self-signed certificate, pretty logs, the bundled
    /// examples (policies under examples/policies when none is given).
    #[arg(long)]
    pub dev: bool,
}

/// The configuration after the flags are applied over the file.
pub fn effective_config(args: &ServeArgs) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
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
        if config.db.root.is_none() {
            config.db.root = Some(PathBuf::from("examples/db"));
        }
        if config.local_images.is_empty() {
            config.local_images = sample_images(Path::new("examples/images"));
        }
        // Offline on one machine: loopback only, unless told otherwise.
        if args.listen.is_none() && args.config.is_none() {
            config.server.listen = "127.0.0.1:8443".into();
        }
        if args.metrics_listen.is_none() && args.config.is_none() {
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
    crate::telemetry::init_logging(&config.telemetry);
    let (cert, key) = match (&config.tls.cert_file, &config.tls.key_file) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        _ if args.dev => {
            let dir = PathBuf::from(".cache/dev-tls");
            let (ca, cert, key) = crate::tls::write_dev_certificates(&dir)?;
            tracing::info!(ca = %ca.display(), "development certificate written; use --cacert with curl");
            (cert, key)
        }
        _ => anyhow::bail!(
            "--tls-cert and --tls-key (or tls.certFile/tls.keyFile) are required outside --dev"
        ),
    };
    let mut policy_files = args.policies.clone();
    if args.dev && policy_files.is_empty() {
        let examples = PathBuf::from("examples/policies");
        if let Ok(entries) = std::fs::read_dir(&examples) {
            let mut found: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
                .collect();
            found.sort();
            policy_files = found;
        }
    }
    let documents = PolicyDocuments::read_files(&policy_files)?;
    tracing::info!(
        policies = documents.policies.len(),
        exceptions = documents.exceptions.len(),
        "policies loaded"
    );
    let credentials = match &args.docker_config {
        Some(path) => read_docker_config(path)?,
        None => Default::default(),
    };
    let db = DbHandle::default();
    let (scanner, engine) = build_scanner(&config, db.clone()).context("building the scanner")?;
    let mut db_metrics = None;
    let metrics = Metrics::with_components(|registry| {
        engine.register_metrics(registry);
        db_metrics = Some(register_db_metrics(registry));
    });
    let db_metrics = db_metrics.context("database metrics were not registered")?;
    open_database(&config, &db, &db_metrics).await?;
    let admission = Admission {
        orchestrator: Orchestrator::new(scanner, config.orchestrator.clone(), metrics.clone()),
        policies: PolicyStore::new(PolicySet {
            policies: documents.policies,
            exceptions: documents.exceptions,
        }),
        namespaces: Arc::new(StaticNamespaceLabels::default()),
        credentials: Arc::new(StaticCredentials(credentials)),
        events: Arc::new(LogEventSink),
        metrics: metrics.clone(),
        config: config.webhook.clone(),
        clock: system_clock(),
    };
    let certificate = crate::tls::ReloadingCert::load(&cert, &key)?;
    let _watch = certificate.watch(config.tls.reload_interval.get());
    let tls = Arc::new(crate::tls::server_config(certificate)?);
    let app = crate::server::router(admission, &config.server);
    let server = crate::server::start(app, tls, &config.server, metrics).await?;
    shutdown_signal().await;
    tracing::info!("shutting down; finishing in-flight reviews");
    server.shutdown().await;
    Ok(0)
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
