//! Pulls from registries over the OCI distribution API: anonymous, basic
//! and bearer-token auth (the `WWW-Authenticate` challenge is answered by
//! `oci-client`, whose token is then used on scangate's own requests),
//! credentials picked by registry host, plain HTTP only for registries named
//! insecure, and the address guard before any request and on every redirect.
//!
//! Every request is scangate's own (reqwest), so that a registry's faults
//! are met with named limits: `429` and `5xx` answers and connections that
//! fail before an answer are retried (`registryRetries`, backing off from
//! `registryRetryBackoffSeconds`, honouring `Retry-After` up to
//! `maxRetryAfterSeconds`); redirects are followed by hand, at most
//! `maxRegistryRedirects`, each target checked by the guard; manifests and
//! error bodies are read with a size cap.

use super::auth::{Credentials, RegistryAuth};
use super::guard::{GuardError, RegistryPolicy};
use super::manifest::{self, ImageManifest, Manifest, ManifestError};
use super::platform::Platform;
use super::reference::ImageRef;
use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use futures::stream::BoxStream;
use oci_client::errors::OciDistributionError;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use sha2::{Digest as _, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// Largest manifest accepted; real ones are a few KiB.
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;
/// How much of an error answer's body is read (for the message).
const MAX_ERROR_BODY_BYTES: usize = 4 << 10;
/// How long an auth token is reused before it is asked for again (registry
/// tokens live at least 60 s by the distribution spec).
const TOKEN_REUSE: Duration = Duration::from_secs(45);
/// Longest single backoff, whatever the attempt number.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Why a registry request failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Guard(#[from] GuardError),
    #[error("registry {registry}: authentication failed or access denied: {detail}")]
    Unauthorized { registry: String, detail: String },
    #[error("{image}: not found in the registry")]
    NotFound { image: String },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("registry request timed out after {seconds}s (registryRequestTimeout)")]
    Timeout { seconds: f64 },
    /// Still failing (429, 5xx, connection) after every retry.
    #[error("registry {registry}: {detail}, {attempts} attempts (registryRetries)")]
    RetriesExhausted {
        registry: String,
        detail: String,
        attempts: u32,
    },
    /// The registry asked to be retried later than scangate waits.
    #[error(
        "registry {registry}: {status} with Retry-After {retry_after_seconds}s, above maxRetryAfterSeconds ({limit_seconds}s)"
    )]
    RetryAfterTooLong {
        registry: String,
        status: u16,
        retry_after_seconds: u64,
        limit_seconds: f64,
    },
    #[error(
        "registry {registry}: more than {limit} redirects (maxRegistryRedirects), last to {location}"
    )]
    TooManyRedirects {
        registry: String,
        limit: usize,
        location: String,
    },
    #[error("registry {registry}: {detail}")]
    Other { registry: String, detail: String },
}

/// How the client meets a registry's faults (part of the scanner's config).
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryOptions {
    /// Budget for one request until its answer's headers, and for reading a
    /// manifest or error body (`registryRequestTimeoutSeconds`).
    pub request_timeout: Duration,
    /// Retries after a 429, a 5xx or a failed connection (`registryRetries`).
    pub retries: u32,
    /// First backoff, doubled on each retry (`registryRetryBackoffSeconds`).
    pub retry_backoff: Duration,
    /// Longest `Retry-After` waited for; longer fails at once (`maxRetryAfterSeconds`).
    pub max_retry_after: Duration,
    /// Redirects followed per request (`maxRegistryRedirects`).
    pub max_redirects: usize,
}

impl RegistryOptions {
    pub fn new(request_timeout: Duration) -> RegistryOptions {
        RegistryOptions {
            request_timeout,
            retries: 2,
            retry_backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(10),
            max_redirects: 5,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RetryLabel {
    reason: String,
}

/// The client's own counters (`scangate_registry_*`).
#[derive(Clone, Debug, Default)]
pub struct RegistryMetrics {
    retries: Family<RetryLabel, Counter>,
    redirects: Counter,
}

impl RegistryMetrics {
    pub fn register(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "scangate_registry_retries",
            "Registry requests retried, by reason (the HTTP status, or connection)",
            self.retries.clone(),
        );
        registry.register(
            "scangate_registry_redirects",
            "Registry redirects followed",
            self.redirects.clone(),
        );
    }

    fn retried(&self, reason: &str) {
        self.retries
            .get_or_create(&RetryLabel {
                reason: reason.to_string(),
            })
            .inc();
    }
}

/// A registry client; cheap to share. Keeps one `oci_client::Client` per
/// (registry, credentials) for the auth handshake, and the resulting token
/// per repository for [`TOKEN_REUSE`].
pub struct RegistryClient {
    policy: RegistryPolicy,
    options: RegistryOptions,
    http: reqwest::Client,
    metrics: RegistryMetrics,
    clients: moka::future::Cache<(String, [u8; 32]), Arc<oci_client::Client>>,
    tokens: moka::future::Cache<(String, String, [u8; 32]), Option<String>>,
}

/// A stream of one blob's bytes as the registry sends them (not yet verified).
pub type BlobStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

/// One attempt's failure, and whether another attempt may help.
enum Attempt {
    Retry {
        reason: String,
        detail: String,
        retry_after: Option<Duration>,
        status: Option<u16>,
    },
    Fail(RegistryError),
}

impl RegistryClient {
    pub fn new(policy: RegistryPolicy, request_timeout: Duration) -> RegistryClient {
        RegistryClient::with_options(policy, RegistryOptions::new(request_timeout))
    }

    pub fn with_options(policy: RegistryPolicy, options: RegistryOptions) -> RegistryClient {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(options.request_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("scangate/", env!("CARGO_PKG_VERSION")))
            .build()
            // Fails only if no TLS backend can start; the default client then
            // fails the same way, loudly.
            .unwrap_or_else(|_| reqwest::Client::new());
        RegistryClient {
            policy,
            options,
            http,
            metrics: RegistryMetrics::default(),
            clients: moka::future::Cache::builder()
                .max_capacity(256)
                .time_to_idle(Duration::from_secs(600))
                .build(),
            tokens: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(TOKEN_REUSE)
                .build(),
        }
    }

    pub fn policy(&self) -> &RegistryPolicy {
        &self.policy
    }

    pub fn options(&self) -> &RegistryOptions {
        &self.options
    }

    pub fn metrics(&self) -> &RegistryMetrics {
        &self.metrics
    }

    /// `scheme://registry/v2/repository`.
    fn base_url(&self, image: &ImageRef) -> String {
        let scheme = if self.policy.is_insecure(image.registry()) {
            "http"
        } else {
            "https"
        };
        format!(
            "{scheme}://{}/v2/{}",
            image.as_oci().resolve_registry(),
            image.repository()
        )
    }

    /// The token for pulling `image`'s repository: reused for
    /// [`TOKEN_REUSE`], fetched through `oci-client`'s challenge handling
    /// when missing or when `fresh` (after a 401). `None`: no token needed.
    async fn token(
        &self,
        image: &ImageRef,
        auth: &RegistryAuth,
        fresh: bool,
    ) -> Result<Option<String>, RegistryError> {
        if let RegistryAuth::Bearer(token) = auth {
            return Ok(Some(token.clone()));
        }
        let registry = image.registry().to_string();
        let print = fingerprint(auth);
        let key = (registry.clone(), image.repository().to_string(), print);
        if fresh {
            self.tokens.invalidate(&key).await;
        } else if let Some(token) = self.tokens.get(&key).await {
            return Ok(token);
        }
        let insecure = self.policy.insecure_registries.clone();
        let connect_timeout = self.options.request_timeout;
        let client = self
            .clients
            .get_with((registry, print), async move {
                let config = oci_client::client::ClientConfig {
                    protocol: oci_client::client::ClientProtocol::HttpsExcept(insecure),
                    connect_timeout: Some(connect_timeout),
                    ..Default::default()
                };
                Arc::new(oci_client::Client::new(config))
            })
            .await;
        let oci_auth = match auth {
            RegistryAuth::Anonymous => oci_client::secrets::RegistryAuth::Anonymous,
            RegistryAuth::Basic { username, password } => {
                oci_client::secrets::RegistryAuth::Basic(username.clone(), password.clone())
            }
            RegistryAuth::Bearer(token) => oci_client::secrets::RegistryAuth::Bearer(token.clone()),
        };
        let asked = client.auth(
            image.as_oci(),
            &oci_auth,
            oci_client::RegistryOperation::Pull,
        );
        let token = match tokio::time::timeout(self.options.request_timeout, asked).await {
            Ok(Ok(token)) => token,
            Ok(Err(error)) => return Err(classify(error, image)),
            Err(_) => return Err(self.timeout()),
        };
        self.tokens.insert(key, token.clone()).await;
        Ok(token)
    }

    fn timeout(&self) -> RegistryError {
        RegistryError::Timeout {
            seconds: self.options.request_timeout.as_secs_f64(),
        }
    }

    /// One request with auth, redirects and retries; the answer is a 2xx.
    async fn send(
        &self,
        image: &ImageRef,
        method: Method,
        url: &str,
        accept: Option<&str>,
        creds: &Credentials,
    ) -> Result<reqwest::Response, RegistryError> {
        let registry = image.registry().to_string();
        self.policy.check(&registry).await?;
        let auth = creds.for_registry(&registry);
        let mut attempts: u32 = 0;
        let mut fresh_token = false;
        loop {
            attempts += 1;
            let token = self.token(image, &auth, fresh_token).await?;
            let authorization = authorization(&auth, token.as_deref());
            let failure = match self
                .attempt(image, &method, url, accept, authorization)
                .await
            {
                Ok(response) => return Ok(response),
                Err(failure) => failure,
            };
            match failure {
                Attempt::Fail(RegistryError::Unauthorized { .. }) if !fresh_token => {
                    // A token may have expired early: ask once more.
                    fresh_token = true;
                    attempts -= 1;
                }
                Attempt::Fail(error) => return Err(error),
                Attempt::Retry {
                    reason,
                    detail,
                    retry_after,
                    status,
                } => {
                    if let (Some(after), Some(status)) = (retry_after, status)
                        && after > self.options.max_retry_after
                    {
                        return Err(RegistryError::RetryAfterTooLong {
                            registry,
                            status,
                            retry_after_seconds: after.as_secs(),
                            limit_seconds: self.options.max_retry_after.as_secs_f64(),
                        });
                    }
                    if attempts > self.options.retries {
                        return Err(RegistryError::RetriesExhausted {
                            registry,
                            detail,
                            attempts,
                        });
                    }
                    let delay = retry_after.unwrap_or_else(|| self.backoff(attempts));
                    self.metrics.retried(&reason);
                    tracing::debug!(%registry, %detail, ?delay, attempt = attempts, "retrying a registry request");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// `registryRetryBackoffSeconds` × 2^(attempt − 1), capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.options
            .retry_backoff
            .saturating_mul(factor)
            .min(MAX_BACKOFF)
    }

    /// One attempt: the request, and the redirects it leads to.
    async fn attempt(
        &self,
        image: &ImageRef,
        method: &Method,
        url: &str,
        accept: Option<&str>,
        authorization: Option<HeaderValue>,
    ) -> Result<reqwest::Response, Attempt> {
        let registry = image.registry().to_string();
        let other = |detail: String| {
            Attempt::Fail(RegistryError::Other {
                registry: registry.clone(),
                detail,
            })
        };
        let origin = url::Url::parse(url).map_err(|e| other(format!("bad URL: {e}")))?;
        let mut current = origin.clone();
        let mut redirects = 0usize;
        loop {
            let mut request = self.http.request(method.clone(), current.clone());
            if let Some(accept) = accept {
                request = request.header(header::ACCEPT, accept);
            }
            // Credentials go to the registry itself, never to a redirect
            // target elsewhere (CVE-2020-15157).
            if same_origin(&current, &origin)
                && let Some(value) = &authorization
            {
                request = request.header(header::AUTHORIZATION, value.clone());
            }
            let response =
                match tokio::time::timeout(self.options.request_timeout, request.send()).await {
                    Err(_) => return Err(Attempt::Fail(self.timeout())),
                    Ok(Err(error)) if error.is_timeout() => {
                        return Err(Attempt::Fail(self.timeout()));
                    }
                    Ok(Err(error)) if error.is_connect() || error.is_request() => {
                        return Err(Attempt::Retry {
                            reason: "connection".into(),
                            detail: format!("{} failed: {}", redact(&current), error_chain(&error)),
                            retry_after: None,
                            status: None,
                        });
                    }
                    Ok(Err(error)) => {
                        return Err(other(format!(
                            "{} failed: {}",
                            redact(&current),
                            error_chain(&error)
                        )));
                    }
                    Ok(Ok(response)) => response,
                };
            let status = response.status();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let location = response
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| other(format!("HTTP {status} without a Location")))?;
                let next = current
                    .join(location)
                    .map_err(|e| other(format!("unusable redirect Location: {e}")))?;
                redirects += 1;
                if redirects > self.options.max_redirects {
                    return Err(Attempt::Fail(RegistryError::TooManyRedirects {
                        registry,
                        limit: self.options.max_redirects,
                        location: redact(&next),
                    }));
                }
                self.metrics.redirects.inc();
                self.check_redirect(&next, &origin, &registry).await?;
                current = next;
                continue;
            }
            if status.is_success() {
                return Ok(response);
            }
            let retry_after = retry_after(response.headers());
            let body = read_capped(response, MAX_ERROR_BODY_BYTES, self.options.request_timeout)
                .await
                .map(|(bytes, _)| bytes)
                .unwrap_or_default();
            let text: String = String::from_utf8_lossy(&body)
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect();
            let detail = format!("HTTP {} from {}: {text}", status.as_u16(), redact(&current));
            return Err(match status.as_u16() {
                429 | 500 | 502 | 503 | 504 => Attempt::Retry {
                    reason: status.as_u16().to_string(),
                    detail: format!("HTTP {} from {}", status.as_u16(), redact(&current)),
                    retry_after,
                    status: Some(status.as_u16()),
                },
                401 | 403 => Attempt::Fail(RegistryError::Unauthorized { registry, detail }),
                404 => Attempt::Fail(RegistryError::NotFound {
                    image: image.to_string(),
                }),
                _ => other(detail),
            });
        }
    }

    /// A redirect may go elsewhere (blob storage), but not around the guard,
    /// and not to plain HTTP unless that host is named insecure.
    async fn check_redirect(
        &self,
        next: &url::Url,
        origin: &url::Url,
        registry: &str,
    ) -> Result<(), Attempt> {
        if same_origin(next, origin) {
            return Ok(());
        }
        let host = host_port(next);
        let refuse = |detail: String| {
            Attempt::Fail(RegistryError::Other {
                registry: registry.to_string(),
                detail,
            })
        };
        match next.scheme() {
            "https" => {}
            "http" if self.policy.is_insecure(&host) => {}
            scheme => return Err(refuse(format!("redirect to {scheme}://{host} refused"))),
        }
        self.policy
            .check(&host)
            .await
            .map_err(|e| Attempt::Fail(e.into()))
    }

    /// The manifest digest a tag points at (HEAD, falling back to GET).
    pub async fn resolve_digest(
        &self,
        image: &ImageRef,
        creds: &Credentials,
    ) -> Result<String, RegistryError> {
        if let Some(digest) = image.digest() {
            return Ok(digest.to_string());
        }
        let tag = image.tag().unwrap_or("latest");
        let url = format!("{}/manifests/{tag}", self.base_url(image));
        let accept = manifest::ACCEPTED.join(", ");
        let response = self
            .send(image, Method::HEAD, &url, Some(&accept), creds)
            .await?;
        let header_digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let digest = match header_digest {
            Some(digest) => digest,
            None => {
                let bytes = self.manifest_bytes(image, &url, creds).await?;
                format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
            }
        };
        if !manifest::valid_digest(&digest) {
            return Err(RegistryError::Other {
                registry: image.registry().to_string(),
                detail: format!(
                    "unusable manifest digest {:?}",
                    digest.chars().take(80).collect::<String>()
                ),
            });
        }
        Ok(digest)
    }

    /// A manifest's bytes, at most [`MAX_MANIFEST_BYTES`].
    async fn manifest_bytes(
        &self,
        image: &ImageRef,
        url: &str,
        creds: &Credentials,
    ) -> Result<Bytes, RegistryError> {
        let accept = manifest::ACCEPTED.join(", ");
        let response = self
            .send(image, Method::GET, url, Some(&accept), creds)
            .await?;
        let too_large = |size: String| {
            RegistryError::from(ManifestError::Invalid(format!(
                "{size} bytes, above {MAX_MANIFEST_BYTES}"
            )))
        };
        if let Some(length) = response.content_length()
            && length > MAX_MANIFEST_BYTES as u64
        {
            return Err(too_large(length.to_string()));
        }
        match read_capped(response, MAX_MANIFEST_BYTES, self.options.request_timeout).await {
            Ok((_, true)) => Err(too_large("more than".into())),
            Ok((bytes, false)) => Ok(bytes),
            Err(ReadError::Timeout) => Err(self.timeout()),
            Err(ReadError::Body(detail)) => Err(RegistryError::Other {
                registry: image.registry().to_string(),
                detail: format!("reading a manifest: {detail}"),
            }),
        }
    }

    /// The raw manifest at `digest`, its bytes checked against the digest.
    async fn manifest_at(
        &self,
        image: &ImageRef,
        digest: &str,
        creds: &Credentials,
    ) -> Result<Bytes, RegistryError> {
        let url = format!("{}/manifests/{digest}", self.base_url(image));
        let bytes = self.manifest_bytes(image, &url, creds).await?;
        verify_bytes(&bytes, digest, "manifest")?;
        Ok(bytes)
    }

    /// The image manifest for `platform` at `digest`, following an index.
    /// Returns the platform manifest's digest with it.
    pub async fn image_manifest(
        &self,
        image: &ImageRef,
        digest: &str,
        creds: &Credentials,
        platform: &Platform,
    ) -> Result<(String, ImageManifest), RegistryError> {
        let bytes = self.manifest_at(image, digest, creds).await?;
        match manifest::parse(&bytes, None)? {
            Manifest::Image(m) => Ok((digest.to_string(), m)),
            Manifest::Index(entries) => {
                let entry = manifest::select_platform(&entries, platform)?;
                if !manifest::valid_digest(&entry.digest) {
                    return Err(ManifestError::Invalid(format!("digest {:?}", entry.digest)).into());
                }
                let bytes = self.manifest_at(image, &entry.digest, creds).await?;
                match manifest::parse(&bytes, None)? {
                    Manifest::Image(m) => Ok((entry.digest.clone(), m)),
                    Manifest::Index(_) => {
                        Err(ManifestError::Invalid("index nested in an index".into()).into())
                    }
                }
            }
        }
    }

    /// Opens a blob; the bytes still have to be checked against `digest`.
    pub async fn blob(
        &self,
        image: &ImageRef,
        digest: &str,
        creds: &Credentials,
    ) -> Result<BlobStream, RegistryError> {
        if !manifest::valid_digest(digest) {
            return Err(ManifestError::Invalid(format!(
                "blob digest {:?}",
                digest.chars().take(80).collect::<String>()
            ))
            .into());
        }
        let url = format!("{}/blobs/{digest}", self.base_url(image));
        let response = self.send(image, Method::GET, &url, None, creds).await?;
        Ok(response
            .bytes_stream()
            .map(|chunk| chunk.map_err(std::io::Error::other))
            .boxed())
    }
}

enum ReadError {
    Timeout,
    Body(String),
}

/// Reads at most `cap` bytes of a body within `timeout`; `true` when more was sent.
async fn read_capped(
    response: reqwest::Response,
    cap: usize,
    timeout: Duration,
) -> Result<(Bytes, bool), ReadError> {
    let read = async move {
        let mut stream = response.bytes_stream();
        let mut body = BytesMut::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| ReadError::Body(error_chain(&e)))?;
            if body.len() + chunk.len() > cap {
                let room = cap - body.len();
                body.extend_from_slice(&chunk[..room]);
                return Ok((body.freeze(), true));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body.freeze(), false))
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(Err(ReadError::Timeout))
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let wait = when.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

fn authorization(auth: &RegistryAuth, token: Option<&str>) -> Option<HeaderValue> {
    use base64::Engine as _;
    let text = match (token, auth) {
        (Some(token), _) => format!("Bearer {token}"),
        (None, RegistryAuth::Basic { username, password }) => format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
        ),
        (None, _) => return None,
    };
    let mut value = HeaderValue::from_str(&text).ok()?;
    value.set_sensitive(true);
    Some(value)
}

fn same_origin(a: &url::Url, b: &url::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// `host` or `host:port` as image references write it.
fn host_port(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// A URL for messages: no query (signed storage URLs carry secrets there).
fn redact(url: &url::Url) -> String {
    format!("{}://{}{}", url.scheme(), host_port(url), url.path())
        .chars()
        .take(300)
        .collect()
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn fingerprint(auth: &RegistryAuth) -> [u8; 32] {
    let mut hasher = Sha256::new();
    match auth {
        RegistryAuth::Anonymous => hasher.update(b"anonymous"),
        RegistryAuth::Basic { username, password } => {
            hasher.update(b"basic\0");
            hasher.update(username.as_bytes());
            hasher.update(b"\0");
            hasher.update(password.as_bytes());
        }
        RegistryAuth::Bearer(token) => {
            hasher.update(b"bearer\0");
            hasher.update(token.as_bytes());
        }
    }
    hasher.finalize().into()
}

/// Checks whole bytes against a `sha256:` digest.
pub fn verify_bytes(bytes: &[u8], digest: &str, what: &str) -> Result<(), RegistryError> {
    let actual = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
    if actual == digest {
        Ok(())
    } else {
        Err(RegistryError::DigestMismatch {
            what: what.to_string(),
            expected: digest.to_string(),
            actual,
        })
    }
}

fn classify(error: OciDistributionError, image: &ImageRef) -> RegistryError {
    let registry = image.registry().to_string();
    let unauthorized = |detail: String| RegistryError::Unauthorized {
        registry: registry.clone(),
        detail,
    };
    match error {
        OciDistributionError::AuthenticationFailure(d) => unauthorized(d),
        OciDistributionError::UnauthorizedError { url } => unauthorized(url),
        OciDistributionError::ImageManifestNotFoundError(_) => RegistryError::NotFound {
            image: image.to_string(),
        },
        OciDistributionError::ServerError { code, url, message } => match code {
            401 | 403 => unauthorized(format!("{code} {url}")),
            404 => RegistryError::NotFound {
                image: image.to_string(),
            },
            _ => RegistryError::Other {
                registry,
                detail: format!("HTTP {code} from {url}: {message}"),
            },
        },
        OciDistributionError::RegistryError { envelope, url } => {
            let codes: Vec<String> = envelope
                .errors
                .iter()
                .map(|e| format!("{:?}", e.code))
                .collect();
            let text = codes.join(",");
            if text.contains("Unauthorized") || text.contains("Denied") {
                unauthorized(url)
            } else if text.contains("Unknown") {
                RegistryError::NotFound {
                    image: image.to_string(),
                }
            } else {
                RegistryError::Other {
                    registry,
                    detail: format!("{text} from {url}"),
                }
            }
        }
        other => RegistryError::Other {
            registry,
            detail: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(retry_after: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from_str(retry_after).unwrap(),
        );
        headers
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        assert_eq!(retry_after(&headers("7")), Some(Duration::from_secs(7)));
        let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(30);
        let date = jiff::fmt::rfc2822::to_string(&soon.to_zoned(jiff::tz::TimeZone::UTC)).unwrap();
        let wait = retry_after(&headers(&date)).unwrap();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        // A date in the past: retry at once.
        assert_eq!(
            retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers("soon")), None);
        assert_eq!(retry_after(&headers("-3")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let mut options = RegistryOptions::new(Duration::from_secs(1));
        options.retry_backoff = Duration::from_millis(100);
        let client = RegistryClient::with_options(RegistryPolicy::default(), options);
        assert_eq!(client.backoff(1), Duration::from_millis(100));
        assert_eq!(client.backoff(2), Duration::from_millis(200));
        assert_eq!(client.backoff(3), Duration::from_millis(400));
        assert_eq!(client.backoff(40), MAX_BACKOFF);
    }

    #[test]
    fn messages_never_carry_a_query_and_credentials_stay_home() {
        let signed =
            url::Url::parse("https://bucket.example:8443/blob/1?X-Amz-Signature=secret").unwrap();
        assert_eq!(redact(&signed), "https://bucket.example:8443/blob/1");
        let registry = url::Url::parse("https://registry.example/v2/a/blobs/x").unwrap();
        let same = url::Url::parse("https://registry.example:443/v2/other").unwrap();
        assert!(same_origin(&registry, &same));
        assert!(!same_origin(&registry, &signed));
        let plain = url::Url::parse("http://registry.example/v2/").unwrap();
        assert!(!same_origin(&registry, &plain));
    }
}
