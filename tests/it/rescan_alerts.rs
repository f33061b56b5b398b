//! Alert delivery against real HTTP sinks on loopback: a sink that fails
//! and recovers loses nothing, one that never recovers ends in the
//! dead-letter log, and Slack gets a Slack-shaped message.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use scangate::model::{Finding, PackageKind, Severity, SeveritySource};
use scangate::rescan::alerts::{Alert, AlertKind, DeadLetter, Notifier, SinkConfig, SinkFormat};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A sink that answers `failures` requests with `status`, then accepts.
#[derive(Clone, Default)]
struct Sink {
    received: Arc<Mutex<Vec<serde_json::Value>>>,
    attempts: Arc<Mutex<u32>>,
    failures: u32,
    status: u16,
}

async fn receive(State(sink): State<Sink>, Json(body): Json<serde_json::Value>) -> Response {
    let attempt = {
        let mut attempts = sink.attempts.lock().unwrap();
        *attempts += 1;
        *attempts
    };
    if attempt <= sink.failures {
        let status = StatusCode::from_u16(sink.status).unwrap();
        return (status, [("retry-after", "0")], "not now").into_response();
    }
    sink.received.lock().unwrap().push(body);
    StatusCode::NO_CONTENT.into_response()
}

async fn serve(sink: Sink) -> String {
    let app = axum::Router::new()
        .route("/hook", post(receive))
        .with_state(sink);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/hook")
}

fn config(name: &str, url: String, format: SinkFormat, max_attempts: u32) -> SinkConfig {
    SinkConfig {
        name: name.into(),
        url,
        format,
        max_attempts,
        initial_backoff: scangate::model::ConfigDuration(std::time::Duration::from_millis(10)),
        max_backoff: scangate::model::ConfigDuration(std::time::Duration::from_millis(40)),
        request_timeout: scangate::model::ConfigDuration(std::time::Duration::from_millis(2_000)),
        queue_capacity: 16,
    }
}

fn alert(image: &str) -> Alert {
    Alert {
        kind: AlertKind::NewFindings,
        image: image.into(),
        digest: "sha256:1111".into(),
        workloads: vec!["shop/Deployment/cart".into()],
        findings: vec![Finding {
            id: "GO-2023-1878".into(),
            aliases: vec!["CVE-2023-29406".into()],
            package: "stdlib".into(),
            kind: PackageKind::Golang,
            ecosystem: "Go".into(),
            installed_version: "1.19.8".into(),
            fixed_version: Some("1.19.11".into()),
            severity: Severity::Medium,
            severity_source: SeveritySource::None,
            cvss_score: None,
            cvss_vector: None,
            summary: Some("Insufficient sanitization of Host header in net/http".into()),
            published: None,
            location: None,
        }],
        db_revision: "rev-2".into(),
        raised_at: "2026-11-23T07:00:00Z".into(),
    }
}

/// Polls `check` every 20 ms for at most 10 s.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

fn dead_letters(path: &std::path::Path) -> Vec<DeadLetter> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn a_sink_that_recovers_gets_every_alert_and_one_that_never_does_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead-letters.jsonl");
    let flaky = Sink {
        failures: 3,
        status: 503,
        ..Sink::default()
    };
    let broken = Sink {
        failures: u32::MAX,
        status: 500,
        ..Sink::default()
    };
    let notifier = Notifier::start(
        vec![
            config("flaky", serve(flaky.clone()).await, SinkFormat::Json, 6),
            config("broken", serve(broken.clone()).await, SinkFormat::Json, 3),
        ],
        dead.clone(),
    );
    notifier.notify(alert("shop/cart:1")).await;
    notifier.notify(alert("shop/api:2")).await;

    eventually("the flaky sink to receive both alerts", || {
        flaky.received.lock().unwrap().len() == 2
    })
    .await;
    eventually("both alerts in the dead-letter log", || {
        dead_letters(&dead).len() == 2
    })
    .await;
    let received = flaky.received.lock().unwrap().clone();
    assert_eq!(received[0]["image"], "shop/cart:1");
    assert_eq!(received[1]["image"], "shop/api:2");
    assert_eq!(received[0]["findings"][0]["id"], "GO-2023-1878");
    let letters = dead_letters(&dead);
    assert!(
        letters
            .iter()
            .all(|l| l.sink == "broken" && l.attempts == 3)
    );
    assert_eq!(letters[0].last_error, "HTTP 500 Internal Server Error");
    assert_eq!(letters[0].alert, alert("shop/cart:1"));
    assert_eq!(*broken.attempts.lock().unwrap(), 6, "3 attempts per alert");
}

#[tokio::test]
async fn slack_sinks_get_a_slack_message_and_429_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let slack = Sink {
        failures: 1,
        status: 429,
        ..Sink::default()
    };
    let notifier = Notifier::start(
        vec![config(
            "slack",
            serve(slack.clone()).await,
            SinkFormat::Slack,
            3,
        )],
        dir.path().join("dead.jsonl"),
    );
    notifier.notify(alert("shop/cart:1")).await;
    eventually("the Slack message", || {
        slack.received.lock().unwrap().len() == 1
    })
    .await;
    let message = slack.received.lock().unwrap()[0].clone();
    let text = message["text"].as_str().unwrap();
    assert!(
        text.starts_with("1 new vulnerability (worst MEDIUM) in shop/cart:1"),
        "{text}"
    );
    let section = message["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(
        section.contains("`GO-2023-1878` in stdlib 1.19.8 → 1.19.11"),
        "{section}"
    );
    assert!(section.contains("Running in: shop/Deployment/cart"));
    assert!(!dir.path().join("dead.jsonl").exists());
}

#[tokio::test]
async fn a_sink_that_cannot_be_reached_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.jsonl");
    // Bind then drop: nothing listens on this port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let notifier = Notifier::start(
        vec![config(
            "gone",
            format!("http://127.0.0.1:{port}/hook"),
            SinkFormat::Json,
            2,
        )],
        dead.clone(),
    );
    notifier.notify(alert("shop/cart:1")).await;
    eventually("the dead letter", || dead_letters(&dead).len() == 1).await;
    assert_eq!(dead_letters(&dead)[0].attempts, 2);
}
