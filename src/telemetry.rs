//! Logs (tracing, JSON or pretty) and metrics (prometheus-client, served on
//! a separate plain-HTTP port).

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};

/// Logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// `json` (for clusters) or `pretty`.
    pub log_format: LogFormat,
    /// A tracing filter, e.g. `info` or `scangate=debug`.
    pub log_level: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            log_format: LogFormat::Json,
            log_level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Installs the global tracing subscriber; a second call is a no-op.
pub fn init_logging(config: &TelemetryConfig) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

type Labels = Vec<(&'static str, String)>;

/// The caches whose hits every warm review counts.
const HOT_CACHES: [&str; 2] = ["tag", "verdict"];

/// The endpoints and verdicts whose review metrics are kept as handles.
const REVIEW_ENDPOINTS: [&str; 2] = ["validate", "mutate"];
const REVIEW_VERDICTS: [&str; 4] = ["allowed", "denied", "warned", "invalid"];

/// Labels of the per-request metrics: fixed names and values, so counting a
/// review allocates nothing.
type StaticLabels<const N: usize> = [(&'static str, &'static str); N];

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

/// Every metric scangate exports. Cheap to clone (all handles are shared).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// Metrics the other parts register under their own full names
    /// (`scangate_scan_*`, `scangate_rescan_*`, database metrics).
    components: Arc<Registry>,
    reviews: Family<StaticLabels<2>, Counter>,
    review_seconds: Family<StaticLabels<1>, Histogram>,
    cache: Family<StaticLabels<2>, Counter>,
    /// The hit counters of the hot caches, taken from `cache` on first use
    /// (so a series still appears only once counted): a warm review counts
    /// two hits per image, and the family's lock and label hash showed.
    cache_hits: Arc<[OnceLock<Counter>; HOT_CACHES.len()]>,
    /// The same for the per-review counter and histogram, by endpoint and
    /// verdict (both counted on every review).
    review_handles:
        Arc<[OnceLock<(Counter, Histogram)>; REVIEW_ENDPOINTS.len() * REVIEW_VERDICTS.len()]>,
    scans: Family<Labels, Counter>,
    scan_seconds: Family<Labels, Histogram>,
    limits: Family<Labels, Counter>,
    break_glass: Family<Labels, Counter>,
    expired_exceptions: Family<Labels, Counter>,
    scans_running: Gauge,
    scans_queued: Gauge,
    scans_in_flight: Gauge,
    connections_open: Gauge,
    connections_closed: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::with_components(|_| {})
    }

    /// The webhook's metrics plus those `register` adds to a second,
    /// unprefixed registry (the scanner's, the re-scan loop's, …).
    pub fn with_components(register: impl FnOnce(&mut Registry)) -> Metrics {
        let mut components = Registry::default();
        register(&mut components);
        let mut registry = Registry::with_prefix("scangate");
        let reviews = Family::<StaticLabels<2>, Counter>::default();
        registry.register(
            "admission_reviews",
            "Admission reviews answered, by endpoint and verdict (allowed, denied, audit, invalid)",
            reviews.clone(),
        );
        let review_seconds = Family::<StaticLabels<1>, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25, 1.0, 4.0, 8.0, 15.0,
            ])
        });
        registry.register(
            "admission_review_duration_seconds",
            "Time to answer an admission review, by endpoint",
            review_seconds.clone(),
        );
        let cache = Family::<StaticLabels<2>, Counter>::default();
        registry.register(
            "cache_lookups",
            "Cache lookups by cache (verdict, tag, error) and result (hit, miss)",
            cache.clone(),
        );
        let scans = Family::<Labels, Counter>::default();
        registry.register(
            "scans",
            "Scans finished, by outcome (ok or the error reason)",
            scans.clone(),
        );
        let scan_seconds = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0])
        });
        registry.register(
            "scan_duration_seconds",
            "Scan durations, by outcome",
            scan_seconds.clone(),
        );
        let limits = Family::<Labels, Counter>::default();
        registry.register(
            "limit_hits",
            "Times a named limit or timeout was hit (label limit = the config key)",
            limits.clone(),
        );
        let break_glass = Family::<Labels, Counter>::default();
        registry.register(
            "break_glass_admissions",
            "Objects admitted by the break-glass annotation, by namespace",
            break_glass.clone(),
        );
        let expired_exceptions = Family::<Labels, Counter>::default();
        registry.register(
            "expired_exceptions",
            "Reviews where an expired ScanException would have applied, by exception",
            expired_exceptions.clone(),
        );
        let scans_running = Gauge::default();
        registry.register("scans_running", "Scans running now", scans_running.clone());
        let scans_queued = Gauge::default();
        registry.register(
            "scans_queued",
            "Scans waiting for a slot",
            scans_queued.clone(),
        );
        let scans_in_flight = Gauge::default();
        registry.register(
            "scans_in_flight",
            "Scans (tag resolution included) running or queued now for an image; a review says 'being scanned' only while its image's is",
            scans_in_flight.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "connections_open",
            "HTTPS connections accepted and not yet closed",
            connections_open.clone(),
        );
        let connections_closed = Family::<Labels, Counter>::default();
        registry.register(
            "connections_closed",
            "HTTPS connections closed by the server, by reason (handshake_timeout, first_request_timeout, header_read_timeout, idle, keepalive_timeout, close_timeout)",
            connections_closed.clone(),
        );
        Metrics {
            registry: Arc::new(registry),
            components: Arc::new(components),
            reviews,
            review_seconds,
            cache,
            cache_hits: Arc::new(Default::default()),
            review_handles: Arc::new(std::array::from_fn(|_| OnceLock::new())),
            scans,
            scan_seconds,
            limits,
            break_glass,
            expired_exceptions,
            scans_running,
            scans_queued,
            scans_in_flight,
            connections_open,
            connections_closed,
        }
    }

    pub fn review(&self, endpoint: &'static str, verdict: &'static str, seconds: f64) {
        let endpoint_index = REVIEW_ENDPOINTS.iter().position(|e| *e == endpoint);
        let verdict_index = REVIEW_VERDICTS.iter().position(|v| *v == verdict);
        if let (Some(e), Some(v)) = (endpoint_index, verdict_index) {
            let (count, duration) =
                self.review_handles[e * REVIEW_VERDICTS.len() + v].get_or_init(|| {
                    let count = self
                        .reviews
                        .get_or_create(&[("endpoint", endpoint), ("verdict", verdict)]);
                    let duration = self.review_seconds.get_or_create(&[("endpoint", endpoint)]);
                    (count.clone(), duration.clone())
                });
            count.inc();
            duration.observe(seconds);
            return;
        }
        self.reviews
            .get_or_create(&[("endpoint", endpoint), ("verdict", verdict)])
            .inc();
        self.review_seconds
            .get_or_create(&[("endpoint", endpoint)])
            .observe(seconds);
    }

    pub fn cache_lookup(&self, cache: &'static str, hit: bool) {
        if let Some(slot) = HOT_CACHES.iter().position(|c| *c == cache).filter(|_| hit) {
            self.cache_hits[slot]
                .get_or_init(|| {
                    self.cache
                        .get_or_create(&[("cache", cache), ("result", "hit")])
                        .clone()
                })
                .inc();
            return;
        }
        let result = if hit { "hit" } else { "miss" };
        self.cache
            .get_or_create(&[("cache", cache), ("result", result)])
            .inc();
    }

    pub fn scan_finished(&self, outcome: &str, seconds: f64) {
        let l = labels(&[("outcome", outcome)]);
        self.scans.get_or_create(&l).inc();
        self.scan_seconds.get_or_create(&l).observe(seconds);
    }

    /// A named limit or timeout was hit; `limit` is its config key.
    pub fn limit_hit(&self, limit: &str) {
        self.limits
            .get_or_create(&labels(&[("limit", limit)]))
            .inc();
    }

    pub fn break_glass(&self, namespace: &str) {
        self.break_glass
            .get_or_create(&labels(&[("namespace", namespace)]))
            .inc();
    }

    pub fn expired_exception(&self, namespace: &str, name: &str) {
        self.expired_exceptions
            .get_or_create(&labels(&[("namespace", namespace), ("exception", name)]))
            .inc();
    }

    pub fn scans_running(&self) -> &Gauge {
        &self.scans_running
    }

    pub fn scans_queued(&self) -> &Gauge {
        &self.scans_queued
    }

    /// Image scans in flight, resolution included (`scans_in_flight`).
    pub fn scans_in_flight(&self) -> &Gauge {
        &self.scans_in_flight
    }

    /// HTTPS connections open now.
    pub fn connections_open(&self) -> &Gauge {
        &self.connections_open
    }

    /// The server closed a connection; `reason` says which deadline.
    pub fn connection_closed(&self, reason: &str) {
        self.connections_closed
            .get_or_create(&labels(&[("reason", reason)]))
            .inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode_registry(&mut out, &self.registry)
            .and_then(|()| encode_registry(&mut out, &self.components))
            .and_then(|()| encode_eof(&mut out));
        out
    }
}

/// The metrics endpoint: `GET /metrics` on its own plain-HTTP listener.
pub fn metrics_router(metrics: Metrics) -> axum::Router {
    use axum::http::header::CONTENT_TYPE;
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.render(),
                )
            }
        }),
    )
}
