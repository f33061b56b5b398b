//! The HTTPS server: axum routes on hyper over rustls, HTTP/1.1 and HTTP/2,
//! body limits, health endpoints, graceful shutdown; and the plain-HTTP
//! metrics server beside it.

use crate::admission::Admission;
use crate::admission::handler::verdict_label;
use crate::admission::review::{self, AdmissionRequest, AdmissionResponse};
use crate::model::ConfigDuration;
use crate::telemetry::{Metrics, metrics_router};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// The HTTPS server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address of the HTTPS port (`--listen`).
    pub listen: String,
    /// Address of the plain-HTTP metrics port (`--metrics-listen`).
    pub metrics_listen: String,
    /// Largest request body accepted; larger gets 413.
    pub max_body_bytes: usize,
    /// How long a TLS handshake may take.
    pub tls_handshake_timeout: ConfigDuration,
    /// How long a client may take to send request headers (HTTP/1.1,
    /// every request; also closes an HTTP/1.1 keep-alive connection that
    /// sends nothing for as long).
    pub header_read_timeout: ConfigDuration,
    /// From accept to the first complete request head, TLS handshake
    /// included (HTTP/1.1 and HTTP/2); then the connection is closed.
    pub first_request_timeout: ConfigDuration,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: ConfigDuration,
    /// How often an HTTP/2 connection is pinged.
    pub http2_keep_alive_interval: ConfigDuration,
    /// How long an HTTP/2 ping may go unanswered before the connection is
    /// closed.
    pub http2_keep_alive_timeout: ConfigDuration,
    /// How long a client may take to send a request body; then 408.
    pub body_read_timeout: ConfigDuration,
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// How long shutdown waits for in-flight reviews.
    pub shutdown_grace_period: ConfigDuration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "0.0.0.0:8443".into(),
            metrics_listen: "0.0.0.0:9090".into(),
            max_body_bytes: 3 * 1024 * 1024,
            tls_handshake_timeout: ConfigDuration::secs(10),
            header_read_timeout: ConfigDuration::secs(10),
            first_request_timeout: ConfigDuration::secs(5),
            idle_timeout: ConfigDuration::secs(60),
            http2_keep_alive_interval: ConfigDuration::secs(20),
            http2_keep_alive_timeout: ConfigDuration::secs(10),
            body_read_timeout: ConfigDuration::secs(10),
            max_connections: 1024,
            shutdown_grace_period: ConfigDuration::secs(25),
        }
    }
}

mod connection;

/// Shared by every request behind one `Arc`: cloning the whole state per
/// request (as axum does with `State`) showed up in the profile.
struct AppState {
    admission: Admission,
    max_body_bytes: usize,
    body_read_timeout: std::time::Duration,
}

/// A JSON error body naming the problem.
fn error_response(status: StatusCode, message: String) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": message, "code": status.as_u16() })),
    )
        .into_response()
}

/// The webhook's routes: `/validate`, `/mutate`, `/healthz`, `/readyz`.
pub fn router(admission: Admission, config: &ServerConfig) -> Router {
    let state = Arc::new(AppState {
        admission,
        max_body_bytes: config.max_body_bytes,
        body_read_timeout: config.body_read_timeout.get(),
    });
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.admission.orchestrator.scanner().database() {
        Some(db) => (StatusCode::OK, format!("ready: database {}", db.revision)).into_response(),
        None => error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "no vulnerability database is loaded yet".into(),
        ),
    }
}

async fn validate(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    review_endpoint(&state, headers, body, "validate").await
}

async fn mutate(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    review_endpoint(&state, headers, body, "mutate").await
}

async fn review_endpoint(
    state: &AppState,
    headers: HeaderMap,
    body: Body,
    endpoint: &'static str,
) -> Response {
    let started = Instant::now();
    let metrics = &state.admission.metrics;
    let request = match read_review(state, &headers, body).await {
        Ok(request) => request,
        Err(response) => {
            metrics.review(endpoint, "invalid", started.elapsed().as_secs_f64());
            return response;
        }
    };
    let response: AdmissionResponse = if endpoint == "mutate" {
        state.admission.mutate(&request).await
    } else {
        state.admission.validate(&request).await
    };
    metrics.review(
        endpoint,
        verdict_label(&response),
        started.elapsed().as_secs_f64(),
    );
    axum::Json(response.into_review()).into_response()
}

/// The body as an AdmissionReview, or the 400/413 response saying why not.
async fn read_review(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<AdmissionRequest, Response> {
    let limit = state.max_body_bytes;
    let too_large = || {
        state.admission.metrics.limit_hit("maxBodyBytes");
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than maxBodyBytes ({limit} bytes)"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let read =
        tokio::time::timeout(state.body_read_timeout, axum::body::to_bytes(body, limit)).await;
    let Ok(read) = read else {
        state.admission.metrics.limit_hit("bodyReadTimeout");
        return Err(error_response(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "request body not received within bodyReadTimeout ({:?})",
                state.body_read_timeout
            ),
        ));
    };
    let bytes = match read {
        Ok(bytes) => bytes,
        Err(err) => {
            let over_limit =
                std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
                    .any(|e| e.is::<http_body_util::LengthLimitError>());
            return Err(if over_limit {
                too_large()
            } else {
                error_response(
                    StatusCode::BAD_REQUEST,
                    format!("reading the request body: {err}"),
                )
            });
        }
    };
    review::parse(&bytes).map_err(|err| error_response(StatusCode::BAD_REQUEST, err.to_string()))
}

/// A running server; [`RunningServer::shutdown`] stops accepting and waits
/// for in-flight reviews (up to `shutdownGracePeriod`).
pub struct RunningServer {
    pub addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }

    /// Waits until the server has stopped by itself (it does not).
    pub async fn wait(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("listening on {addr}: {cause}")]
    Bind { addr: String, cause: std::io::Error },
}

async fn bind(addr: &str) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|cause| ServerError::Bind {
            addr: addr.to_string(),
            cause,
        })
}

/// Binds `config.listen` (TLS, `app`) and `config.metricsListen` (plain
/// HTTP, `/metrics`) and serves both until shut down.
pub async fn start(
    app: Router,
    tls: Arc<rustls::ServerConfig>,
    config: &ServerConfig,
    metrics: Metrics,
) -> Result<RunningServer, ServerError> {
    let listener = bind(&config.listen).await?;
    let metrics_listener = bind(&config.metrics_listen).await?;
    let addr = listener.local_addr().map_err(|cause| ServerError::Bind {
        addr: config.listen.clone(),
        cause,
    })?;
    let metrics_addr = metrics_listener
        .local_addr()
        .map_err(|cause| ServerError::Bind {
            addr: config.metrics_listen.clone(),
            cause,
        })?;
    let (stop, stopped) = watch::channel(false);
    let until_stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let metrics_task = {
        let rx = stopped.clone();
        let app = metrics_router(metrics.clone());
        tokio::spawn(async move {
            if let Err(err) = axum::serve(metrics_listener, app)
                .with_graceful_shutdown(until_stopped(rx))
                .await
            {
                tracing::error!(error = %err, "metrics server failed");
            }
        })
    };
    let tls_task = tokio::spawn(serve_tls(
        app,
        listener,
        tls,
        config.clone(),
        metrics,
        until_stopped(stopped),
    ));
    tracing::info!(%addr, %metrics_addr, "listening");
    Ok(RunningServer {
        addr,
        metrics_addr,
        stop,
        tasks: vec![tls_task, metrics_task],
    })
}

/// Accepts TLS connections and serves `app` on each (HTTP/1.1 or HTTP/2 as
/// negotiated, under the deadlines of [`connection`]), until `shutdown`
/// completes; then waits for open connections to finish their requests.
/// At most `maxConnections` are served at once: each holds a permit from
/// accept to close, and the rest wait in the kernel's backlog.
pub async fn serve_tls(
    app: Router,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    config: ServerConfig,
    metrics: Metrics,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let max_connections = config.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let connections = Arc::new(Semaphore::new(max_connections));
    let deadlines = connection::Deadlines::from_config(&config);
    let (stop, stopped) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        if connections.available_permits() == 0 {
            metrics.limit_hit("maxConnections");
        }
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: back off, go on.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let serve = connection::serve(
            tcp,
            peer,
            acceptor.clone(),
            app.clone(),
            deadlines,
            metrics.clone(),
            stopped.clone(),
        );
        let open = metrics.connections_open().clone();
        open.inc();
        tokio::spawn(async move {
            serve.await;
            open.dec();
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every permit back means every connection is closed.
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    let grace = config.shutdown_grace_period.get();
    if tokio::time::timeout(grace, connections.acquire_many(all))
        .await
        .is_err()
    {
        metrics.limit_hit("shutdownGracePeriod");
        tracing::warn!("shutdown grace period over; closing the remaining connections");
    }
}
