//! [`EventSink`] on the events.k8s.io/v1 API. `emit` only queues (bounded;
//! overflow is counted and dropped); a background task writes events,
//! aggregating repeats of the same reason on the same object within a window
//! into one Event whose series count is written once per flush interval, under a token-bucket rate limit, so a
//! crash-looping controller cannot flood the API server.

use crate::model::{ConfigDuration, positive_duration};
use crate::ports::{AdmissionEvent, EventSink};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Settings of the event sink (config key `events`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct EventsConfig {
    /// Events waiting to be written; more are dropped (and counted).
    pub queue_capacity: usize,
    /// Repeats of a reason on one object within this window update one
    /// Event's series count instead of creating another (`aggregationWindow`, 10m).
    #[serde(deserialize_with = "positive_duration")]
    pub aggregation_window: ConfigDuration,
    /// How often series counts of repeated events are written (`flushInterval`, 5s).
    #[serde(deserialize_with = "positive_duration")]
    pub flush_interval: ConfigDuration,
    /// Token bucket: API writes allowed in a burst.
    pub burst: u32,
    /// Token bucket: API writes allowed per minute, sustained.
    pub writes_per_minute: u32,
    /// `reportingController` of the events.
    pub reporting_controller: String,
    /// `reportingInstance` (the pod name, from the downward API).
    pub reporting_instance: String,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            queue_capacity: 1024,
            aggregation_window: ConfigDuration::secs(600),
            flush_interval: ConfigDuration::secs(5),
            burst: 25,
            writes_per_minute: 60,
            reporting_controller: "scangate.dev/webhook".to_string(),
            reporting_instance: "scangate".to_string(),
        }
    }
}

/// The queueing side of the sink; cheap to clone.
#[derive(Clone)]
pub struct ClusterEventSink {
    queue: mpsc::Sender<AdmissionEvent>,
    dropped: Arc<AtomicU64>,
}

impl ClusterEventSink {
    /// Starts the writer task; it ends when every sink clone is dropped.
    pub fn start(client: Client, config: EventsConfig) -> (ClusterEventSink, JoinHandle<()>) {
        let (queue, receiver) = mpsc::channel(config.queue_capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let writer = Writer::new(client, config);
        let task = tokio::spawn(writer.run(receiver));
        (ClusterEventSink { queue, dropped }, task)
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl EventSink for ClusterEventSink {
    fn emit(&self, event: AdmissionEvent) {
        if self.queue.try_send(event).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

type AggregationKey = (&'static str, String, String, String);

struct Series {
    event_name: String,
    namespace: String,
    started: Instant,
    /// Occurrences so far (the first one included).
    count: i32,
    /// Occurrences already written to the API server.
    written: i32,
}

struct Writer {
    client: Client,
    config: EventsConfig,
    series: HashMap<AggregationKey, Series>,
    tokens: f64,
    refilled: Instant,
    sequence: u64,
}

impl Writer {
    fn new(client: Client, config: EventsConfig) -> Writer {
        Writer {
            client,
            tokens: f64::from(config.burst),
            config,
            series: HashMap::new(),
            refilled: Instant::now(),
            sequence: 0,
        }
    }

    async fn run(mut self, mut receiver: mpsc::Receiver<AdmissionEvent>) {
        // Counts held back by the rate limit are flushed on this tick.
        let period = self.config.flush_interval.get();
        let mut flush = tokio::time::interval_at(Instant::now() + period, period);
        loop {
            tokio::select! {
                next = receiver.recv() => match next {
                    Some(event) => self.handle(event).await,
                    None => break,
                },
                _ = flush.tick() => self.flush_pending().await,
            }
        }
        self.flush_pending().await;
    }

    fn take_token(&mut self) -> bool {
        let now = Instant::now();
        let per_second = f64::from(self.config.writes_per_minute) / 60.0;
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_second).min(f64::from(self.config.burst));
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    async fn handle(&mut self, event: AdmissionEvent) {
        let window = self.config.aggregation_window.get();
        self.series.retain(|_, s| s.started.elapsed() < window);
        let key: AggregationKey = (
            event.reason.as_str(),
            event.namespace.clone(),
            event.kind.clone(),
            event.name.clone(),
        );
        if let Some(series) = self.series.get_mut(&key) {
            // Repeats only count; the flush tick writes the total once.
            series.count = series.count.saturating_add(1);
            return;
        }
        if !self.take_token() {
            tracing::debug!(
                reason = event.reason.as_str(),
                "event rate limited; dropped"
            );
            return;
        }
        self.sequence += 1;
        let body = self.new_event(&event);
        let namespace = body.metadata.namespace.clone().unwrap_or_default();
        let event_name = body.metadata.name.clone().unwrap_or_default();
        let api = Api::<Event>::namespaced(self.client.clone(), &namespace);
        match api.create(&PostParams::default(), &body).await {
            Ok(_) => {
                self.series.insert(
                    key,
                    Series {
                        event_name,
                        namespace,
                        started: Instant::now(),
                        count: 1,
                        written: 1,
                    },
                );
            }
            Err(error) => tracing::warn!(%error, "cannot create event"),
        }
    }

    async fn flush_pending(&mut self) {
        let pending: Vec<(AggregationKey, String, String, i32)> = self
            .series
            .iter()
            .filter(|(_, s)| s.count > s.written)
            .map(|(k, s)| {
                (
                    k.clone(),
                    s.namespace.clone(),
                    s.event_name.clone(),
                    s.count,
                )
            })
            .collect();
        for (key, namespace, name, count) in pending {
            if !self.take_token() {
                return;
            }
            if self.patch_series(&namespace, &name, count).await
                && let Some(series) = self.series.get_mut(&key)
            {
                series.written = count;
            }
        }
    }

    async fn patch_series(&self, namespace: &str, name: &str, count: i32) -> bool {
        let patch = serde_json::json!({
            "series": {"count": count, "lastObservedTime": MicroTime(jiff::Timestamp::now())}
        });
        let api = Api::<Event>::namespaced(self.client.clone(), namespace);
        match api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(%error, "cannot update event series");
                false
            }
        }
    }

    fn new_event(&self, event: &AdmissionEvent) -> Event {
        let regarding = regarding(event);
        let object_name = regarding.name.clone().unwrap_or_default();
        Event {
            metadata: ObjectMeta {
                name: Some(format!(
                    "{}.{:x}{:x}",
                    object_name,
                    jiff::Timestamp::now().as_nanosecond(),
                    self.sequence
                )),
                namespace: Some(event.namespace.clone()),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(jiff::Timestamp::now())),
            action: Some("Admission".to_string()),
            reason: Some(event.reason.as_str().to_string()),
            note: Some(truncate(&event.message, MAX_NOTE_BYTES)),
            type_: Some(event.event_type.to_string()),
            reporting_controller: Some(self.config.reporting_controller.clone()),
            reporting_instance: Some(self.config.reporting_instance.clone()),
            regarding: Some(regarding),
            series: None::<EventSeries>,
            ..Event::default()
        }
    }
}

/// The API server rejects notes over 1 kB.
const MAX_NOTE_BYTES: usize = 1024;

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// The object the event is about; the namespace when the object has no name
/// yet (a pod with `generateName`).
fn regarding(event: &AdmissionEvent) -> ObjectReference {
    if event.name.is_empty() {
        return ObjectReference {
            api_version: Some("v1".to_string()),
            kind: Some("Namespace".to_string()),
            name: Some(event.namespace.clone()),
            ..ObjectReference::default()
        };
    }
    let api_version = match event.kind.as_str() {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => "apps/v1",
        "Job" | "CronJob" => "batch/v1",
        "ClusterScanPolicy" | "ScanException" => crate::policy::compile::API_VERSION,
        _ => "v1",
    };
    // A cluster-scoped object has no namespace (its Event lives in `default`).
    let cluster_scoped = event.kind == "ClusterScanPolicy";
    ObjectReference {
        api_version: Some(api_version.to_string()),
        kind: Some(event.kind.clone()),
        name: Some(event.name.clone()),
        namespace: (!cluster_scoped).then(|| event.namespace.clone()),
        ..ObjectReference::default()
    }
}
