//! The real webhook server on a loopback port, behind a scanner that reads
//! ScanReports from `tests/data/admission` (the `Scanner` trait is the seam
//! between admission and the image scanner), and real TLS clients.

#![allow(dead_code)]

use async_trait::async_trait;
use scangate::admission::Clock;
use scangate::admission::local::{MemoryEventSink, StaticCredentials};
use scangate::app::{Adapters, App};
use scangate::config::Config;
use scangate::model::ConfigDuration;
use scangate::model::DatabaseStatus;
use scangate::model::ScanReport;
use scangate::policy::load::PolicyDocuments;
use scangate::ports::PolicyStore;
use scangate::registry::{Credentials, ImageRef};
use scangate::scan::orchestrator::Orchestrator;
use scangate::scan::{ScanError, Scanner};
use scangate::server::RunningServer;
use scangate::telemetry::Metrics;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

pub const SERVICE_NAME: &str = "scangate.scangate.svc";

pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/admission")
}

pub fn read_json(relative: &str) -> Value {
    let path = data_dir().join(relative);
    serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// Reads reports named by `images.json`; images under
/// `demo.scangate.dev/load/` get the `clean` report with their own digest.
pub struct FileScanner {
    images: BTreeMap<String, (String, PathBuf)>,
    pub scans: AtomicUsize,
    pub resolutions: AtomicUsize,
    /// While false, scans wait (to exercise the budget).
    released: watch::Receiver<bool>,
    pub release: watch::Sender<bool>,
    /// Digests (or normalized references, for resolution) that fail.
    pub failing: Mutex<BTreeSet<String>>,
    pub database: Mutex<Option<DatabaseStatus>>,
}

impl FileScanner {
    pub fn new() -> FileScanner {
        let index = read_json("images.json");
        let images = index
            .as_object()
            .unwrap()
            .iter()
            .map(|(image, entry)| {
                (
                    image.clone(),
                    (
                        entry["digest"].as_str().unwrap().to_string(),
                        data_dir().join(entry["report"].as_str().unwrap()),
                    ),
                )
            })
            .collect();
        let (release, released) = watch::channel(true);
        FileScanner {
            images,
            scans: AtomicUsize::new(0),
            resolutions: AtomicUsize::new(0),
            released,
            release,
            failing: Mutex::new(BTreeSet::new()),
            database: Mutex::new(Some(DatabaseStatus {
                revision: "test-rev-1".into(),
                updated_at: jiff::Timestamp::now(),
            })),
        }
    }

    pub fn digest_of(&self, image: &str) -> String {
        self.images[image].0.clone()
    }

    fn synthetic_digest(image: &str) -> String {
        use sha2::Digest;
        format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(image.as_bytes()))
        )
    }
}

#[async_trait]
impl Scanner for FileScanner {
    async fn resolve(&self, image: &ImageRef, _creds: &Credentials) -> Result<String, ScanError> {
        if let Some(digest) = image.digest() {
            return Ok(digest.to_string());
        }
        self.resolutions.fetch_add(1, Ordering::SeqCst);
        let name = image.to_string();
        if self.failing.lock().unwrap().contains(&name) {
            return Err(ScanError::Registry(format!(
                "{name}: 503 Service Unavailable"
            )));
        }
        if let Some((digest, _)) = self.images.get(&name) {
            return Ok(digest.clone());
        }
        if name.starts_with("demo.scangate.dev/load/") {
            return Ok(Self::synthetic_digest(&name));
        }
        Err(ScanError::Registry(format!("{name}: manifest unknown")))
    }

    async fn scan(
        &self,
        image: &ImageRef,
        digest: &str,
        _creds: &Credentials,
    ) -> Result<ScanReport, ScanError> {
        self.scans.fetch_add(1, Ordering::SeqCst);
        let mut released = self.released.clone();
        let _ = released.wait_for(|r| *r).await;
        if self.failing.lock().unwrap().contains(digest) {
            return Err(ScanError::Registry(format!(
                "blob of {digest}: 503 Service Unavailable"
            )));
        }
        let path = self
            .images
            .values()
            .find(|(d, _)| d == digest)
            .map(|(_, path)| path.clone())
            .unwrap_or_else(|| data_dir().join("reports/clean.json"));
        let mut report: ScanReport = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        report.image = image.to_string();
        report.digest = digest.to_string();
        Ok(report)
    }

    fn database(&self) -> Option<DatabaseStatus> {
        self.database.lock().unwrap().clone()
    }
}

pub struct Harness {
    pub server: Option<RunningServer>,
    /// The metrics the server exports (readable after shutdown too).
    pub metrics: Metrics,
    pub scanner: Arc<FileScanner>,
    pub events: Arc<MemoryEventSink>,
    pub policies: PolicyStore,
    pub orchestrator: Orchestrator,
    pub ca_pem: String,
    pub dir: tempfile::TempDir,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub today: Arc<Mutex<jiff::Timestamp>>,
}

pub struct Options {
    pub config: Config,
    pub policies: PolicyDocuments,
    /// The real image scanner instead of [`FileScanner`] (its metrics are
    /// served too).
    pub scanner: Option<Arc<scangate::scan::ImageScanner>>,
    /// Pull credentials other than the empty static ones.
    pub credentials: Option<Arc<dyn scangate::ports::PullCredentials>>,
}

impl Default for Options {
    fn default() -> Self {
        let mut config = Config::default();
        config.server.listen = "127.0.0.1:0".into();
        config.server.metrics_listen = "127.0.0.1:0".into();
        config.tls.reload_interval = ConfigDuration(std::time::Duration::from_millis(100));
        Options {
            config,
            policies: PolicyDocuments::read_files(&[data_dir().join("policies.yaml")]).unwrap(),
            scanner: None,
            credentials: None,
        }
    }
}

impl Harness {
    pub async fn start(options: Options) -> Harness {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let generated = scangate::tls::generate(&[SERVICE_NAME], "test CA").unwrap();
        let cert = dir.path().join("tls.crt");
        let key = dir.path().join("tls.key");
        std::fs::write(&cert, &generated.cert_pem).unwrap();
        std::fs::write(&key, &generated.key_pem).unwrap();
        let scanner = Arc::new(FileScanner::new());
        let events = Arc::new(MemoryEventSink::default());
        let policies = PolicyStore::new(options.policies.compiled);
        let today = Arc::new(Mutex::new("2026-11-23T12:00:00Z".parse().unwrap()));
        let clock_today = today.clone();
        let clock: Clock = Arc::new(move || *clock_today.lock().unwrap());
        // Built as `serve` builds it; only the scanner (unless a real
        // engine is given) and the adapters are the test's.
        let builder = App::builder(options.config)
            .policies(policies.clone())
            .clock(clock);
        let app = match options.scanner {
            Some(engine) => builder.engine(engine),
            None => builder.scanner(scanner.clone()),
        }
        .build()
        .unwrap();
        let adapters = Adapters {
            credentials: options
                .credentials
                .unwrap_or_else(|| Arc::new(StaticCredentials::default())),
            events: events.clone(),
            ..Adapters::local(Default::default())
        };
        let admission = app.admission(&adapters);
        let orchestrator = admission.orchestrator.clone();
        let certificate = scangate::tls::ReloadingCert::load(&cert, &key).unwrap();
        certificate.watch(app.config.tls.reload_interval.get());
        let tls = Arc::new(scangate::tls::server_config(certificate).unwrap());
        let server = app.serve(admission, tls).await.unwrap();
        let metrics = app.metrics.clone();
        Harness {
            server: Some(server),
            metrics,
            scanner,
            events,
            policies,
            orchestrator,
            ca_pem: generated.ca_pem,
            dir,
            cert,
            key,
            today,
        }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.as_ref().unwrap().addr
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://{SERVICE_NAME}:{}{path}", self.addr().port())
    }

    /// POSTs `review` to `/validate`; its `response`, checked to be a 200
    /// with an AdmissionReview v1 around it.
    pub async fn validate(&self, client: &reqwest::Client, review: &Value) -> Value {
        let (status, body) = post(client, &self.url("/validate"), review).await;
        assert_eq!(status, 200, "{body}");
        response_of(&body).clone()
    }

    /// The Prometheus text of the metrics endpoint.
    pub async fn metrics_text(&self) -> String {
        reqwest::get(self.metrics_url())
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub fn metrics_url(&self) -> String {
        format!(
            "http://{}/metrics",
            self.server.as_ref().unwrap().metrics_addr
        )
    }

    /// A client that trusts only `cas` and reaches the service name on
    /// loopback; `http2` forces HTTP/2 by ALPN, else HTTP/1.1 only.
    pub fn client_trusting(&self, cas: &[&str], http2: bool) -> reqwest::Client {
        let certs = cas
            .iter()
            .map(|pem| reqwest::Certificate::from_pem(pem.as_bytes()).unwrap());
        let builder = reqwest::Client::builder()
            .tls_certs_only(certs)
            .resolve(SERVICE_NAME, self.addr())
            .tls_info(true);
        let builder = if http2 { builder } else { builder.http1_only() };
        builder.build().unwrap()
    }

    pub fn client(&self, http2: bool) -> reqwest::Client {
        self.client_trusting(&[&self.ca_pem], http2)
    }

    pub fn set_policies(&self, yaml: &str) {
        let mut docs = PolicyDocuments::default();
        let errors = docs.add_text(Path::new("inline.yaml"), yaml);
        assert!(errors.is_empty(), "{errors:?}");
        self.policies.replace(docs.compiled);
    }

    pub fn set_today(&self, rfc3339: &str) {
        *self.today.lock().unwrap() = rfc3339.parse().unwrap();
    }

    pub async fn shutdown(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

/// POSTs a review; returns the status and the parsed body.
pub async fn post(client: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    let response = client.post(url).json(body).send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body)
}

/// A review of a pod in `namespace` running `images` (one container each).
pub fn pod_review(uid: &str, namespace: &str, images: &[&str]) -> Value {
    let mut review = read_json("reviews/pod-create.json");
    let request = &mut review["request"];
    request["uid"] = uid.into();
    request["namespace"] = namespace.into();
    request["object"]["metadata"]["namespace"] = namespace.into();
    request["object"]["spec"]["initContainers"] = Value::Array(vec![]);
    let template = request["object"]["spec"]["containers"][0].clone();
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            let mut c = template.clone();
            c["name"] = format!("c{i}").into();
            c["image"] = (*image).into();
            c
        })
        .collect();
    request["object"]["spec"]["containers"] = Value::Array(containers);
    review
}

/// The `response` of an AdmissionReview body, checked for the envelope.
pub fn response_of(body: &Value) -> &Value {
    assert_eq!(body["apiVersion"], "admission.k8s.io/v1", "{body}");
    assert_eq!(body["kind"], "AdmissionReview", "{body}");
    &body["response"]
}
