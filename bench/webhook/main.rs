//! Webhook throughput and latency, in one run, on one server stack (TLS,
//! hyper, axum, body limit, AdmissionReview parsing):
//!
//! (a) `POST /validate` with warm caches (the pod's images were scanned by
//!     the first request; every later one is a cache hit + policy evaluation);
//! (b) `POST /allow`, a handler that parses the review and always allows;
//! (c) `POST /validate` at a fixed 1,000 requests/s (open loop: latency is
//!     measured from the scheduled send time, paced by an OS thread).
//!
//! Run: `cargo bench --bench webhook` (see bench/README.md). Options by
//! environment: BENCH_SECONDS (default 5), BENCH_CONNECTIONS (default 16).

use async_trait::async_trait;
use axum::routing::post;
use scangate::admission::review::{self, AdmissionResponse};
use scangate::app::{Adapters, App};
use scangate::config::Config;
use scangate::model::DatabaseStatus;
use scangate::model::ScanReport;
use scangate::policy::load::PolicyDocuments;
use scangate::ports::PolicyStore;
use scangate::registry::{Credentials, ImageRef};
use scangate::scan::{ScanError, Scanner};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SERVICE_NAME: &str = "scangate.scangate.svc";

/// Reports from tests/data/admission, by the digests of images.json.
struct FileScanner {
    images: Vec<(String, String, PathBuf)>,
    /// Fixed, as a loaded database's status is (asking the clock and
    /// allocating on every call charged /validate for the fake).
    database: DatabaseStatus,
}

#[async_trait]
impl Scanner for FileScanner {
    async fn resolve(&self, image: &ImageRef, _: &Credentials) -> Result<String, ScanError> {
        let name = image.to_string();
        self.images
            .iter()
            .find(|(i, _, _)| *i == name)
            .map(|(_, d, _)| d.clone())
            .ok_or_else(|| ScanError::Registry(format!("{name}: manifest unknown")))
    }

    async fn scan(
        &self,
        _: &ImageRef,
        digest: &str,
        _: &Credentials,
    ) -> Result<ScanReport, ScanError> {
        let (_, _, path) = self
            .images
            .iter()
            .find(|(_, d, _)| d == digest)
            .ok_or_else(|| ScanError::Registry(format!("{digest}: unknown")))?;
        let bytes = std::fs::read(path).map_err(|e| ScanError::Registry(e.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| ScanError::Registry(e.to_string()))
    }

    fn database(&self) -> Option<DatabaseStatus> {
        Some(self.database.clone())
    }
}

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/admission")
}

async fn allow(body: axum::body::Bytes) -> axum::response::Response {
    use axum::response::IntoResponse;
    match review::parse(&body) {
        Ok(request) => {
            axum::Json(AdmissionResponse::allow(&request.uid).into_review()).into_response()
        }
        Err(err) => (axum::http::StatusCode::BAD_REQUEST, err.to_string()).into_response(),
    }
}

struct Stats {
    requests: usize,
    seconds: f64,
    latencies: Vec<Duration>,
    /// CPU time of the whole process (server and client) over the phase.
    cpu: Duration,
}

/// User + system CPU time of this process so far (all threads), from
/// `/proc/self/stat`; zero where that cannot be read.
fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // The fields after the command name (which may hold spaces): utime and
    // stime are the 12th and 13th, in clock ticks (100 per second on Linux).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 10)
}

impl Stats {
    fn percentile(&self, p: f64) -> Duration {
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies.get(index).copied().unwrap_or_default()
    }

    fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    /// CPU microseconds per request, server and client together.
    fn cpu_per_request(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.requests.max(1) as f64
    }

    fn line(&self, name: &str) -> String {
        format!(
            "| {name} | {:.0} | {:.3} | {:.3} | {:.1} |",
            self.rate(),
            self.percentile(0.50).as_secs_f64() * 1000.0,
            self.percentile(0.99).as_secs_f64() * 1000.0,
            self.cpu_per_request()
        )
    }
}

/// Closed loop: `connections` workers send back to back for `seconds`.
async fn closed_loop(
    client: &reqwest::Client,
    url: &str,
    body: &Arc<Vec<u8>>,
    connections: usize,
    seconds: u64,
) -> Stats {
    let end = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let cpu = process_cpu();
    let workers = (0..connections).map(|_| {
        let (client, url, body) = (client.clone(), url.to_string(), body.clone());
        tokio::spawn(async move {
            let mut latencies = vec![];
            while Instant::now() < end {
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.as_ref().clone())
                    .send()
                    .await
                    .expect("request");
                assert_eq!(response.status(), 200);
                let _ = response.bytes().await.expect("body");
                latencies.push(sent.elapsed());
            }
            latencies
        })
    });
    let mut latencies = vec![];
    for worker in futures::future::join_all(workers).await {
        latencies.extend(worker.expect("worker"));
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = process_cpu().saturating_sub(cpu);
    latencies.sort();
    Stats {
        requests: latencies.len(),
        seconds,
        latencies,
        cpu,
    }
}

/// Open loop at `rate` requests/s; latency counts from the scheduled time.
///
/// The pacer is an OS thread (`std::thread::sleep`, tens of microseconds
/// late), not `tokio::time::sleep_until`: tokio's timer has 1 ms ticks and
/// woke each send up to a tick late, which counted as latency. Each request
/// also records when its task first ran, so the report can say how much of
/// the latency is waiting for a worker before the send.
async fn fixed_rate(
    client: &reqwest::Client,
    url: &str,
    body: &Arc<Vec<u8>>,
    rate: u64,
    seconds: u64,
) -> (Stats, Vec<Duration>) {
    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let handle = tokio::runtime::Handle::current();
    let cpu = process_cpu();
    let (client, url, body) = (client.clone(), url.to_string(), body.clone());
    let pacer = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let mut tasks = Vec::with_capacity(total as usize);
        for i in 0..total {
            let scheduled = start + interval * i as u32;
            let now = Instant::now();
            if scheduled > now {
                std::thread::sleep(scheduled - now);
            }
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            tasks.push(handle.spawn(async move {
                let started = scheduled.elapsed();
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.as_ref().clone())
                    .send()
                    .await
                    .expect("request");
                assert_eq!(response.status(), 200);
                let _ = response.bytes().await.expect("body");
                (scheduled.elapsed(), started)
            }));
        }
        (start, tasks)
    });
    let (start, tasks) = pacer.await.expect("pacer");
    let mut latencies = vec![];
    let mut lateness = vec![];
    for task in futures::future::join_all(tasks).await {
        let (latency, late) = task.expect("task");
        latencies.push(latency);
        lateness.push(late);
    }
    latencies.sort();
    lateness.sort();
    let stats = Stats {
        requests: latencies.len(),
        seconds: start.elapsed().as_secs_f64(),
        latencies,
        cpu: process_cpu().saturating_sub(cpu),
    };
    (stats, lateness)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let connections: usize = std::env::var("BENCH_CONNECTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);

    let index: Value = serde_json::from_slice(&std::fs::read(data().join("images.json"))?)?;
    let images = index
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(image, e)| {
                    (
                        image.clone(),
                        e["digest"].as_str().unwrap_or_default().to_string(),
                        data().join(e["report"].as_str().unwrap_or_default()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".into();
    config.server.metrics_listen = "127.0.0.1:0".into();
    let documents = PolicyDocuments::read_files(&[data().join("policies.yaml")])?;
    // Built as `serve` builds it, over a scanner that reads reports from files.
    let built = App::builder(config)
        .scanner(Arc::new(FileScanner {
            images,
            database: DatabaseStatus {
                revision: "bench".into(),
                updated_at: jiff::Timestamp::now(),
            },
        }))
        .policies(PolicyStore::new(documents.compiled))
        .build()?;
    let admission = built.admission(&Adapters::local(Default::default()));
    let dir = tempfile::tempdir()?;
    let generated = scangate::tls::generate(&[SERVICE_NAME], "bench CA")?;
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, &generated.cert_pem)?;
    std::fs::write(&key, &generated.key_pem)?;
    let tls = Arc::new(scangate::tls::server_config(
        scangate::tls::ReloadingCert::load(&cert, &key)?,
    )?);
    // The webhook's routes plus the baseline `/allow`, on the webhook's server.
    let app =
        scangate::server::router(admission, &built.config.server).route("/allow", post(allow));
    let server =
        scangate::server::start(app, tls, &built.config.server, built.metrics.clone()).await?;

    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(generated.ca_pem.as_bytes())?])
        .resolve(SERVICE_NAME, server.addr)
        .http1_only()
        .pool_max_idle_per_host(connections * 2)
        .build()?;
    let url = |path: &str| format!("https://{SERVICE_NAME}:{}{path}", server.addr.port());
    // A clean pod (allowed): two images, both scanned by the warm-up request.
    let mut review: Value =
        serde_json::from_slice(&std::fs::read(data().join("reviews/pod-create.json"))?)?;
    review["request"]["object"]["spec"]["initContainers"] = Value::Array(vec![]);
    review["request"]["object"]["spec"]["containers"][0]["image"] =
        "demo.scangate.dev/clean:1".into();
    let body = Arc::new(serde_json::to_vec(&review)?);
    let warm = client
        .post(url("/validate"))
        .body(body.as_ref().clone())
        .send()
        .await?
        .text()
        .await?;
    anyhow::ensure!(
        warm.contains("\"allowed\":true"),
        "warm-up was not allowed: {warm}"
    );

    let validate = closed_loop(&client, &url("/validate"), &body, connections, seconds).await;
    let allow = closed_loop(&client, &url("/allow"), &body, connections, seconds).await;
    let (steady, lateness) = fixed_rate(&client, &url("/validate"), &body, 1000, seconds).await;

    println!(
        "{connections} keep-alive HTTP/1.1 connections over TLS, {seconds} s per phase, body {} bytes\n",
        body.len()
    );
    println!("| endpoint | req/s | p50 ms | p99 ms | CPU µs/request |\n|---|---|---|---|---|");
    println!("{}", validate.line("(a) /validate, warm caches"));
    println!("{}", allow.line("(b) /allow, always allow"));
    println!("{}", steady.line("(c) /validate at 1,000 req/s"));
    let late = Stats {
        requests: lateness.len(),
        seconds: steady.seconds,
        latencies: lateness,
        cpu: Duration::ZERO,
    };
    println!(
        "\n(c) latency counts from the scheduled send time; a request's task first ran p50 {:.3} ms, p99 {:.3} ms after it (pacer and runtime delay, included above)",
        late.percentile(0.50).as_secs_f64() * 1000.0,
        late.percentile(0.99).as_secs_f64() * 1000.0
    );
    println!(
        "\nratio (a)/(b) throughput: {:.3}",
        validate.rate() / allow.rate()
    );
    // On a machine shared with other work the rates follow the CPU this
    // process gets; the CPU cost per request does much less.
    println!(
        "ratio (b)/(a) CPU per request: {:.3}",
        allow.cpu_per_request() / validate.cpu_per_request()
    );
    server.shutdown().await;
    Ok(())
}
