//! One accepted connection, from TCP accept to close, under deadlines that
//! no client can hold off: the TLS handshake and the first complete request
//! head within `firstRequestTimeout` of the accept, HTTP/1.1 headers within
//! `headerReadTimeout`, HTTP/2 pings answered within `http2KeepAliveTimeout`,
//! and no connection kept once it has had no request in flight for
//! `idleTimeout`. Each forced close is counted by reason
//! (`scangate_connections_closed_total`), so a flood of silent clients is
//! visible rather than a mystery of timed-out reviews.

use super::ServerConfig;
use crate::telemetry::Metrics;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

/// The deadlines of one connection, from the server's configuration.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub tls_handshake: Duration,
    pub first_request: Duration,
    pub header_read: Duration,
    pub idle: Duration,
    pub keep_alive_interval: Duration,
    pub keep_alive_timeout: Duration,
    /// How long a connection asked to close (idle, shutdown) may take to
    /// finish before it is dropped.
    pub close_grace: Duration,
}

impl Deadlines {
    pub fn from_config(config: &ServerConfig) -> Deadlines {
        Deadlines {
            tls_handshake: config.tls_handshake_timeout.get(),
            first_request: config.first_request_timeout.get(),
            header_read: config.header_read_timeout.get(),
            idle: config.idle_timeout.get(),
            keep_alive_interval: config.http2_keep_alive_interval.get(),
            keep_alive_timeout: config.http2_keep_alive_timeout.get(),
            close_grace: config.shutdown_grace_period.get(),
        }
    }
}

/// What the connection's requests have done, updated by [`Tracked`] and
/// read by the connection's watchdog.
struct Activity {
    opened: Instant,
    /// Requests whose head has arrived.
    requests: AtomicU64,
    /// Requests being answered now.
    active: AtomicUsize,
    /// Milliseconds after `opened` when the last request finished.
    idle_since_ms: AtomicU64,
}

impl Activity {
    fn new(opened: Instant) -> Activity {
        Activity {
            opened,
            requests: AtomicU64::new(0),
            active: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
        }
    }

    fn finished(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.idle_since_ms.store(ms, Ordering::Relaxed);
        self.active.fetch_sub(1, Ordering::AcqRel);
    }

    /// The watchdog's next look: the first-request deadline until a request
    /// came; then the end of the idle period, if idle now.
    fn next_check(&self, first_deadline: Instant, idle: Duration) -> Instant {
        if self.requests.load(Ordering::Acquire) == 0 {
            return first_deadline;
        }
        if self.active.load(Ordering::Acquire) > 0 {
            return Instant::now() + idle;
        }
        self.opened + Duration::from_millis(self.idle_since_ms.load(Ordering::Relaxed)) + idle
    }
}

/// Counts a request in flight from its head to its response.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.finished();
    }
}

/// The router as a hyper service that reports each request to [`Activity`].
#[derive(Clone)]
struct Tracked {
    inner: hyper_util::service::TowerToHyperService<Router>,
    activity: Arc<Activity>,
}

impl<B> hyper::service::Service<http::Request<B>> for Tracked
where
    hyper_util::service::TowerToHyperService<Router>: hyper::service::Service<http::Request<B>>,
    <hyper_util::service::TowerToHyperService<Router> as hyper::service::Service<
        http::Request<B>,
    >>::Future: Send + 'static,
{
    type Response = <hyper_util::service::TowerToHyperService<Router> as hyper::service::Service<
        http::Request<B>,
    >>::Response;
    type Error = <hyper_util::service::TowerToHyperService<Router> as hyper::service::Service<
        http::Request<B>,
    >>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn call(&self, request: http::Request<B>) -> Self::Future {
        self.activity.active.fetch_add(1, Ordering::AcqRel);
        self.activity.requests.fetch_add(1, Ordering::AcqRel);
        let in_flight = InFlight(self.activity.clone());
        let answer = self.inner.call(request);
        Box::pin(async move {
            let _in_flight = in_flight;
            answer.await
        })
    }
}

/// Why a connection was closed by the server (the metric's `reason`).
fn close(metrics: &Metrics, reason: &'static str, limit: &'static str) {
    metrics.connection_closed(reason);
    metrics.limit_hit(limit);
}

/// Serves one accepted TCP connection to the end. `stop` turns true when
/// the server shuts down: the connection then finishes its requests and
/// closes (dropped after `close_grace`).
pub async fn serve(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: tokio_rustls::TlsAcceptor,
    app: Router,
    deadlines: Deadlines,
    metrics: Metrics,
    mut stop: watch::Receiver<bool>,
) {
    let opened = Instant::now();
    let first_deadline = opened + deadlines.first_request;
    let handshake_deadline = opened + deadlines.tls_handshake;
    let stream =
        match tokio::time::timeout_at(handshake_deadline.min(first_deadline), acceptor.accept(tcp))
            .await
        {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => {
                tracing::debug!(%peer, error = %err, "TLS handshake failed");
                return;
            }
            Err(_) => {
                let limit = if handshake_deadline <= first_deadline {
                    "tlsHandshakeTimeout"
                } else {
                    "firstRequestTimeout"
                };
                close(&metrics, "handshake_timeout", limit);
                return;
            }
        };
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    let activity = Arc::new(Activity::new(opened));
    let service = Tracked {
        inner: hyper_util::service::TowerToHyperService::new(app),
        activity: activity.clone(),
    };
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(deadlines.header_read)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(deadlines.keep_alive_interval))
        .keep_alive_timeout(deadlines.keep_alive_timeout);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    // Set once the connection was asked to close: dropped at this instant.
    let mut drop_at: Option<Instant> = None;
    loop {
        let wake = drop_at.unwrap_or_else(|| activity.next_check(first_deadline, deadlines.idle));
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    let timed_out = std::iter::successors(
                        Some(&*err as &(dyn std::error::Error + 'static)),
                        |e| e.source(),
                    )
                    .filter_map(|e| e.downcast_ref::<hyper::Error>())
                    .any(hyper::Error::is_timeout);
                    if timed_out && h2 {
                        close(&metrics, "keepalive_timeout", "http2KeepAliveTimeout");
                    } else if timed_out && activity.requests.load(Ordering::Acquire) == 0 {
                        close(&metrics, "first_request_timeout", "headerReadTimeout");
                    } else if timed_out {
                        close(&metrics, "header_read_timeout", "headerReadTimeout");
                    } else {
                        tracing::debug!(%peer, error = %err, "connection ended with an error");
                    }
                }
                return;
            }
            _ = stop.wait_for(|stop| *stop), if drop_at.is_none() => {
                connection.as_mut().graceful_shutdown();
                drop_at = Some(Instant::now() + deadlines.close_grace);
            }
            _ = tokio::time::sleep_until(wake) => {
                if drop_at.is_some() {
                    metrics.connection_closed("close_timeout");
                    return;
                }
                let now = Instant::now();
                if activity.requests.load(Ordering::Acquire) == 0 {
                    if now >= first_deadline {
                        close(&metrics, "first_request_timeout", "firstRequestTimeout");
                        return;
                    }
                } else if activity.active.load(Ordering::Acquire) == 0
                    && now >= activity.next_check(first_deadline, deadlines.idle)
                {
                    close(&metrics, "idle", "idleTimeout");
                    connection.as_mut().graceful_shutdown();
                    drop_at = Some(now + deadlines.close_grace.min(deadlines.idle));
                }
            }
        }
    }
}
