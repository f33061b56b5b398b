//! `scangate serve`: the admission webhook.

use crate::app::{Adapters, App};
use crate::config::Config;
use crate::k8s::config::ClusterMode;
use crate::k8s::runtime as cluster;
use crate::policy::load::PolicyDocuments;
use crate::ports::PolicyStore;
use crate::registry::docker_config::read_docker_config;
use crate::telemetry::LogFormat;
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
    /// Read the configuration (and the --policy files), print it with every
    /// default filled in, and exit: 0 if everything is valid, 2 on any
    /// problem (an unknown key, a bad value, a refused policy file).
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
    // Refused files stop the start (and fail --check-config) before
    // anything else happens: nothing is half-applied.
    let documents = PolicyDocuments::compile_files(&policy_files(&args))?;
    if args.check_config {
        print!("{}", serde_yaml::to_string(&config)?);
        return Ok(0);
    }
    crate::telemetry::init_logging(&config.telemetry);
    let (cert, key) = tls_files(&config, args.dev)?;
    let in_cluster = cluster::wanted(config.kubernetes.mode, args.kubeconfig.as_deref());
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
    let policies = PolicyStore::new(documents);
    let mut app = App::builder(config).policies(policies).build()?;
    app.open_database().await?;

    let mut connected = None;
    let adapters = if in_cluster {
        let client = cluster::client(args.kubeconfig.as_deref()).await?;
        let mut cluster = crate::app::cluster::connect(&mut app, client).await?;
        if app.config.rescan.enabled {
            cluster.start_rescans(&app, &replica_identity())?;
        }
        let adapters = cluster.adapters.clone();
        connected = Some(cluster);
        adapters
    } else {
        let credentials = match &args.docker_config {
            Some(path) => read_docker_config(path)?,
            None => Default::default(),
        };
        Adapters::local(credentials)
    };
    let admission = app.admission(&adapters);
    let certificate = crate::tls::ReloadingCert::load(&cert, &key)?;
    let _watch = certificate.watch(app.config.tls.reload_interval.get());
    let tls = Arc::new(crate::tls::server_config(certificate)?);
    let server = app.serve(admission, tls).await?;
    shutdown_signal().await;
    tracing::info!("shutting down; finishing in-flight reviews");
    if let Some(cluster) = connected {
        cluster.stop().await;
    }
    server.shutdown().await;
    Ok(0)
}

/// This replica's name in the re-scan Lease: the pod's name where the
/// chart sets `POD_NAME`.
fn replica_identity() -> String {
    std::env::var("POD_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("scangate-{}", std::process::id()))
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
