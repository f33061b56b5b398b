//! Alerts about what is new: delivered to sinks (a generic JSON webhook, a
//! Slack-compatible incoming webhook) with retries and backoff; an alert a
//! sink never accepts ends in the dead-letter log, so none is lost.

use crate::model::{ConfigDuration, Finding, Severity, positive_duration};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AlertKind {
    /// Findings a re-scan found that the previous scan did not have.
    NewFindings,
    /// Findings past their response deadline.
    Overdue,
}

/// One message: everything new about one image (a burst is one alert).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub kind: AlertKind,
    pub image: String,
    pub digest: String,
    /// `namespace/Kind/name` of the workloads running the image.
    pub workloads: Vec<String>,
    pub findings: Vec<Finding>,
    pub db_revision: String,
    pub raised_at: String,
}

impl Alert {
    fn headline(&self) -> String {
        let worst = self
            .findings
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Unknown);
        let noun = if self.findings.len() == 1 {
            "vulnerability"
        } else {
            "vulnerabilities"
        };
        let what = match self.kind {
            AlertKind::NewFindings => format!("new {noun}"),
            AlertKind::Overdue => format!("{noun} past the response deadline"),
        };
        format!(
            "{} {what} (worst {worst}) in {} ({})",
            self.findings.len(),
            self.image,
            self.digest
        )
    }
}

/// The payload a sink expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum SinkFormat {
    /// The alert as JSON.
    #[default]
    Json,
    /// A Slack-compatible incoming webhook message (`text` and `blocks`).
    Slack,
}

/// One alert destination (`alerts.sinks[]` in the config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SinkConfig {
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub format: SinkFormat,
    /// Attempts before an alert goes to the dead-letter log (`maxAttempts`).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// First retry delay; doubles each attempt (`initialBackoff`, 500ms).
    #[serde(
        default = "default_initial_backoff",
        deserialize_with = "positive_duration"
    )]
    pub initial_backoff: ConfigDuration,
    /// Longest retry delay (`maxBackoff`, 60s).
    #[serde(
        default = "default_max_backoff",
        deserialize_with = "positive_duration"
    )]
    pub max_backoff: ConfigDuration,
    /// Per-request timeout (`requestTimeout`, 10s).
    #[serde(
        default = "default_request_timeout",
        deserialize_with = "positive_duration"
    )]
    pub request_timeout: ConfigDuration,
    /// Alerts waiting for this sink; beyond it they go straight to the
    /// dead-letter log instead of growing memory (`queueCapacity`).
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: usize,
}

fn default_max_attempts() -> u32 {
    8
}
fn default_initial_backoff() -> ConfigDuration {
    ConfigDuration(Duration::from_millis(500))
}
fn default_max_backoff() -> ConfigDuration {
    ConfigDuration::secs(60)
}
fn default_request_timeout() -> ConfigDuration {
    ConfigDuration::secs(10)
}
fn default_queue_capacity() -> usize {
    1_000
}

/// Renders an alert as the sink's payload.
pub fn payload(alert: &Alert, format: SinkFormat) -> serde_json::Value {
    match format {
        SinkFormat::Json => serde_json::to_value(alert).unwrap_or_default(),
        SinkFormat::Slack => {
            let lines: Vec<String> = alert
                .findings
                .iter()
                .take(20)
                .map(|f| {
                    format!(
                        "• *{}* `{}` in {} {} → {}",
                        f.severity,
                        f.id,
                        f.package,
                        f.installed_version,
                        f.fixed_version.as_deref().unwrap_or("no fix yet")
                    )
                })
                .collect();
            let more = alert.findings.len().saturating_sub(lines.len());
            let mut body = lines.join("\n");
            if more > 0 {
                body.push_str(&format!("\n…and {more} more"));
            }
            if !alert.workloads.is_empty() {
                body.push_str(&format!("\nRunning in: {}", alert.workloads.join(", ")));
            }
            serde_json::json!({
                "text": alert.headline(),
                "blocks": [
                    { "type": "header", "text": { "type": "plain_text", "text": alert.headline().chars().take(150).collect::<String>() } },
                    { "type": "section", "text": { "type": "mrkdwn", "text": body } },
                ]
            })
        }
    }
}

/// A dead-letter record: one JSON line per alert a sink never took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub sink: String,
    pub attempts: u32,
    pub last_error: String,
    pub alert: Alert,
}

/// Sends alerts to every configured sink, each on its own task and queue,
/// so a slow sink does not hold back the others.
#[derive(Debug, Clone)]
pub struct Notifier {
    queues: Vec<(String, mpsc::Sender<Alert>)>,
    dead_letters: PathBuf,
}

impl Notifier {
    /// Starts one delivery task per sink. `dead_letters` is a JSON-lines file.
    pub fn start(sinks: Vec<SinkConfig>, dead_letters: PathBuf) -> Notifier {
        let client = reqwest::Client::new();
        let queues = sinks
            .into_iter()
            .map(|sink| {
                let (tx, rx) = mpsc::channel(sink.queue_capacity.max(1));
                let name = sink.name.clone();
                tokio::spawn(deliver_all(sink, client.clone(), rx, dead_letters.clone()));
                (name, tx)
            })
            .collect();
        Notifier {
            queues,
            dead_letters,
        }
    }

    /// Queues the alert for every sink; never waits on a sink.
    pub async fn notify(&self, alert: Alert) {
        for (name, queue) in &self.queues {
            if let Err(err) = queue.try_send(alert.clone()) {
                let alert = match err {
                    mpsc::error::TrySendError::Full(a) | mpsc::error::TrySendError::Closed(a) => a,
                };
                let record = DeadLetter {
                    sink: name.clone(),
                    attempts: 0,
                    last_error: "sink queue full".into(),
                    alert,
                };
                write_dead_letter(&self.dead_letters, &record).await;
            }
        }
    }
}

async fn deliver_all(
    sink: SinkConfig,
    client: reqwest::Client,
    mut queue: mpsc::Receiver<Alert>,
    dead_letters: PathBuf,
) {
    while let Some(alert) = queue.recv().await {
        if let Err((attempts, last_error)) = deliver(&sink, &client, &alert).await {
            tracing::error!(sink = %sink.name, image = %alert.image, attempts, error = %last_error,
                "alert not delivered; written to the dead-letter log");
            let record = DeadLetter {
                sink: sink.name.clone(),
                attempts,
                last_error,
                alert,
            };
            write_dead_letter(&dead_letters, &record).await;
        }
    }
}

/// Posts until the sink accepts (2xx) or attempts run out. A 429's
/// `Retry-After` is honoured (within the maximum backoff).
async fn deliver(
    sink: &SinkConfig,
    client: &reqwest::Client,
    alert: &Alert,
) -> Result<(), (u32, String)> {
    let body = payload(alert, sink.format);
    let mut backoff = sink.initial_backoff.get();
    let max_backoff = sink.max_backoff.get();
    let mut last_error = String::new();
    for attempt in 1..=sink.max_attempts.max(1) {
        let sent = client
            .post(&sink.url)
            .timeout(sink.request_timeout.get())
            .json(&body)
            .send()
            .await;
        let mut wait = backoff;
        match sent {
            Ok(response) if response.status().is_success() => {
                tracing::info!(sink = %sink.name, image = %alert.image, attempt, "alert delivered");
                return Ok(());
            }
            Ok(response) => {
                last_error = format!("HTTP {}", response.status());
                if let Some(seconds) = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                {
                    wait = Duration::from_secs(seconds);
                }
            }
            Err(err) => last_error = err.to_string(),
        }
        if attempt < sink.max_attempts {
            tracing::warn!(sink = %sink.name, attempt, error = %last_error, "alert delivery failed; retrying");
            tokio::time::sleep(wait.min(max_backoff)).await;
            backoff = (backoff * 2).min(max_backoff);
        }
    }
    Err((sink.max_attempts, last_error))
}

async fn write_dead_letter(path: &PathBuf, record: &DeadLetter) {
    let mut line = match serde_json::to_vec(record) {
        Ok(line) => line,
        Err(err) => {
            tracing::error!(error = %err, "dead letter could not be encoded");
            return;
        }
    };
    line.push(b'\n');
    let written = async {
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await?;
        file.write_all(&line).await?;
        file.flush().await
    }
    .await;
    if let Err(err) = written {
        // The last resort: the alert is in the log line itself.
        tracing::error!(error = %err, path = %path.display(), alert = %String::from_utf8_lossy(&line),
            "dead-letter log not writable");
    }
}
