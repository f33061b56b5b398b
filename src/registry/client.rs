//! Pulls from registries over the OCI distribution API: anonymous, basic
//! and bearer-token auth (the `WWW-Authenticate` challenge answered with a
//! token request to the realm, scangate's own), credentials picked by
//! registry host, plain HTTP only for registries named insecure, and the
//! registry guard both before the pull and at connect time (see
//! [`super::transport`]): every request, including the ping, token requests
//! and redirected blob downloads, goes through the guarded client, whose DNS
//! resolver drops internal addresses. References are parsed with
//! `oci-client`; nothing else of it is used, so each blob is hashed once, by
//! the scanner, as it streams.
//!
//! A registry's faults are met with named limits: `429` and `5xx` answers
//! and connections that fail before an answer are retried
//! (`registryRetries`, backing off from `registryRetryBackoff`,
//! honouring `Retry-After` up to `maxRetryAfter`); redirects are
//! followed by hand, at most `maxRegistryRedirects`, each hop checked by
//! [`transport::check_redirect`] and sent no credentials when it leaves the
//! registry's origin; manifests, token answers and error bodies are read
//! with a size cap.

use super::auth::{Credentials, RegistryAuth};
use super::guard::{GuardError, RegistryPolicy};
use super::manifest::{self, ImageManifest, Manifest, ManifestError};
use super::platform::Platform;
use super::reference::ImageRef;
use super::transport;
use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use futures::stream::BoxStream;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use sha2::{Digest as _, Sha256};
use std::time::Duration;

/// Default of `maxManifestBytes`: real manifests are a few KiB.
pub const DEFAULT_MAX_MANIFEST_BYTES: usize = 4 << 20;
/// Default of `maxTokenResponseBytes`: real token answers are a few KiB.
pub const DEFAULT_MAX_TOKEN_RESPONSE_BYTES: usize = 1 << 20;
/// Default of `maxRetryBackoff`.
pub const DEFAULT_MAX_RETRY_BACKOFF: Duration = Duration::from_secs(30);
/// How much of an error answer's body is kept for the error message (a
/// truncation of text shown to people, not a limit on what is accepted).
const ERROR_BODY_EXCERPT_BYTES: usize = 4 << 10;

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
    #[error("registry {registry}: no answer within {seconds}s (registryRequestTimeout)")]
    Timeout { registry: String, seconds: f64 },
    /// An answer larger than its limit.
    #[error("registry {registry}: {what} of {size} bytes, above {limit} ({limit_bytes})")]
    TooLarge {
        registry: String,
        what: &'static str,
        size: String,
        limit: &'static str,
        limit_bytes: usize,
    },
    /// Still failing (429, 5xx, connection) after every retry.
    #[error("registry {registry}: {detail}, {attempts} attempts (registryRetries)")]
    RetriesExhausted {
        registry: String,
        detail: String,
        attempts: u32,
    },
    /// The registry asked to be retried later than scangate waits.
    #[error(
        "registry {registry}: {status} with Retry-After {retry_after_seconds}s, above maxRetryAfter ({limit_seconds}s)"
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
    /// manifest or error body (`registryRequestTimeout`).
    pub request_timeout: Duration,
    /// Retries after a 429, a 5xx or a failed connection (`registryRetries`).
    pub retries: u32,
    /// First backoff, doubled on each retry (`registryRetryBackoff`).
    pub retry_backoff: Duration,
    /// Longest `Retry-After` waited for; longer fails at once (`maxRetryAfter`).
    pub max_retry_after: Duration,
    /// Redirects followed per request (`maxRegistryRedirects`).
    pub max_redirects: usize,
    /// Largest manifest or index read (`maxManifestBytes`).
    pub max_manifest_bytes: usize,
    /// Largest token-server answer read (`maxTokenResponseBytes`).
    pub max_token_response_bytes: usize,
    /// Longest single wait between retries (`maxRetryBackoff`).
    pub max_retry_backoff: Duration,
}

impl RegistryOptions {
    pub fn new(request_timeout: Duration) -> RegistryOptions {
        RegistryOptions {
            request_timeout,
            retries: 2,
            retry_backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(10),
            max_redirects: 5,
            max_manifest_bytes: DEFAULT_MAX_MANIFEST_BYTES,
            max_token_response_bytes: DEFAULT_MAX_TOKEN_RESPONSE_BYTES,
            max_retry_backoff: DEFAULT_MAX_RETRY_BACKOFF,
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

/// A registry client; cheap to share. Keeps the `Authorization` value per
/// (registry, repository, credentials) so tokens are reused across scans
/// while each pull secret gets its own; a 401 refreshes it once.
pub struct RegistryClient {
    policy: RegistryPolicy,
    options: RegistryOptions,
    http: Result<reqwest::Client, String>,
    metrics: RegistryMetrics,
    authorizations: moka::future::Cache<(String, String, [u8; 32]), Option<HeaderValue>>,
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

impl From<RegistryError> for Attempt {
    fn from(error: RegistryError) -> Attempt {
        Attempt::Fail(error)
    }
}

/// A `WWW-Authenticate: Bearer` challenge.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BearerChallenge {
    pub realm: String,
    pub service: Option<String>,
    pub scope: Option<String>,
}

impl BearerChallenge {
    /// Parses `Bearer realm="…",service="…",scope="…"`; `None` for other schemes.
    pub fn parse(header: &str) -> Option<BearerChallenge> {
        let (scheme, params) = header.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let mut challenge = BearerChallenge::default();
        let mut rest = params.trim();
        while !rest.is_empty() {
            let (key, after) = rest.split_once('=')?;
            let key = key.trim().to_ascii_lowercase();
            let after = after.trim_start();
            let (value, remainder) = if let Some(quoted) = after.strip_prefix('"') {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            } else {
                match after.find(',') {
                    Some(end) => (&after[..end], &after[end..]),
                    None => (after, ""),
                }
            };
            match key.as_str() {
                "realm" => challenge.realm = value.to_string(),
                "service" => challenge.service = Some(value.to_string()),
                "scope" => challenge.scope = Some(value.to_string()),
                _ => {}
            }
            rest = remainder.trim_start().trim_start_matches(',').trim_start();
        }
        (!challenge.realm.is_empty()).then_some(challenge)
    }
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

impl RegistryClient {
    pub fn new(policy: RegistryPolicy, request_timeout: Duration) -> RegistryClient {
        RegistryClient::with_options(policy, RegistryOptions::new(request_timeout))
    }

    pub fn with_options(policy: RegistryPolicy, options: RegistryOptions) -> RegistryClient {
        let http = transport::guarded_client(&policy, options.request_timeout)
            .map_err(|e| error_chain(&e));
        RegistryClient {
            policy,
            options,
            http,
            metrics: RegistryMetrics::default(),
            authorizations: moka::future::Cache::builder()
                .max_capacity(1024)
                .time_to_idle(Duration::from_secs(600))
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

    fn http(&self, registry: &str) -> Result<&reqwest::Client, RegistryError> {
        self.http.as_ref().map_err(|e| RegistryError::Other {
            registry: registry.to_string(),
            detail: format!("HTTP client: {e}"),
        })
    }

    /// `scheme://host[:port]` of the registry's API.
    fn base_url(&self, image: &ImageRef) -> String {
        let registry = image.registry();
        let scheme = if self.policy.is_insecure(registry) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}", image.as_oci().resolve_registry())
    }

    fn timeout(&self, registry: &str) -> RegistryError {
        RegistryError::Timeout {
            registry: registry.to_string(),
            seconds: self.options.request_timeout.as_secs_f64(),
        }
    }

    /// The `Authorization` header for pulls from `image`'s repository: none
    /// (anonymous, or a registry that asks for nothing), basic, or a bearer
    /// token from the challenge's realm, requested with the credentials.
    async fn authorization(
        &self,
        image: &ImageRef,
        creds: &Credentials,
        refresh: bool,
    ) -> Result<Option<HeaderValue>, RegistryError> {
        let key = access_scope(image, creds);
        self.policy.check(&key.0).await?;
        let auth = creds.for_registry(&key.0);
        if refresh {
            self.authorizations.invalidate(&key).await;
        }
        self.authorizations
            .try_get_with(key, self.authorize(image, &auth))
            .await
            .map_err(|e| (*e).clone())
    }

    async fn authorize(
        &self,
        image: &ImageRef,
        auth: &RegistryAuth,
    ) -> Result<Option<HeaderValue>, RegistryError> {
        let registry = image.registry().to_string();
        let header = |value: String| {
            let mut value = HeaderValue::from_str(&value).map_err(|_| RegistryError::Other {
                registry: registry.clone(),
                detail: "credentials are not a valid header value".into(),
            })?;
            value.set_sensitive(true);
            Ok::<_, RegistryError>(value)
        };
        let basic = |username: &str, password: &str| {
            use base64::Engine as _;
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
            header(format!("Basic {encoded}"))
        };
        if let RegistryAuth::Bearer(token) = auth {
            return header(format!("Bearer {token}")).map(Some);
        }
        let ping_url = url::Url::parse(&format!("{}/v2/", self.base_url(image))).map_err(|e| {
            RegistryError::Other {
                registry: registry.clone(),
                detail: format!("bad URL: {e}"),
            }
        })?;
        let get = Method::GET;
        let ping = self
            .retrying(&registry, || {
                self.exchange_retryable(&registry, &get, &ping_url, &[], None)
            })
            .await?;
        if ping.status() != StatusCode::UNAUTHORIZED {
            return Ok(None);
        }
        let challenge = ping
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let Some(bearer) = BearerChallenge::parse(&challenge) else {
            // Basic (or unknown) challenge: send the credentials as they are.
            return match auth {
                RegistryAuth::Basic { username, password } => basic(username, password).map(Some),
                _ => Ok(None),
            };
        };
        // The registry may name the scope it wants; otherwise pull on this repository.
        let scope = bearer
            .scope
            .clone()
            .unwrap_or_else(|| format!("repository:{}:pull", image.repository()));
        let mut realm = url::Url::parse(&bearer.realm).map_err(|e| RegistryError::Other {
            registry: registry.clone(),
            detail: format!(
                "token realm {:?}: {e}",
                bearer.realm.chars().take(200).collect::<String>()
            ),
        })?;
        // The realm comes from the registry: it passes the same guard as a
        // redirect from the registry would (no https → http downgrade).
        transport::check_redirect(&self.policy, Some(&ping_url), &realm)?;
        let token_server = realm.clone();
        realm.query_pairs_mut().append_pair("scope", &scope);
        if let Some(service) = &bearer.service {
            realm.query_pairs_mut().append_pair("service", service);
        }
        let credentials = match auth {
            RegistryAuth::Basic { username, password } => Some(basic(username, password)?),
            _ => None,
        };
        let answer = match auth {
            RegistryAuth::IdentityToken(refresh_token) => {
                self.refresh_token_grant(
                    &registry,
                    &token_server,
                    &scope,
                    bearer.service.as_deref(),
                    refresh_token,
                )
                .await?
            }
            _ => {
                self.retrying(&registry, || {
                    self.exchange_retryable(&registry, &get, &realm, &[], credentials.clone())
                })
                .await?
            }
        };
        let status = answer.status();
        let cap = self.options.max_token_response_bytes;
        let body = match read_capped(answer, cap, self.options.request_timeout).await {
            Ok((_, true)) => {
                return Err(RegistryError::TooLarge {
                    registry,
                    what: "token answer",
                    size: "more than".into(),
                    limit: "maxTokenResponseBytes",
                    limit_bytes: cap,
                });
            }
            Ok((body, false)) => body,
            Err(ReadError::Timeout) => return Err(self.timeout(&registry)),
            Err(ReadError::Body(detail)) => {
                return Err(RegistryError::Other {
                    registry,
                    detail: format!("reading the token answer from {}: {detail}", redact(&realm)),
                });
            }
        };
        if !status.is_success() {
            let detail = format!(
                "token server {} answered {status} for scope {scope}{}",
                realm.origin().ascii_serialization(),
                match auth {
                    RegistryAuth::Basic { .. } =>
                        " (check the username and password in the Docker config)",
                    RegistryAuth::IdentityToken(_) =>
                        " (the identity token in the Docker config was refused: log in again)",
                    _ => "",
                }
            );
            return Err(if matches!(status.as_u16(), 401 | 403) {
                RegistryError::Unauthorized { registry, detail }
            } else {
                RegistryError::Other { registry, detail }
            });
        }
        let token: TokenAnswer =
            serde_json::from_slice(&body).map_err(|e| RegistryError::Other {
                registry: registry.clone(),
                detail: format!("token answer from {}: {e}", redact(&realm)),
            })?;
        match token.token.or(token.access_token) {
            Some(token) if !token.is_empty() => header(format!("Bearer {token}")).map(Some),
            _ => Err(RegistryError::Other {
                registry,
                detail: format!("token answer from {} holds no token", redact(&realm)),
            }),
        }
    }

    /// GET or HEAD `path` under the repository, authorised, retried and
    /// redirected; the answer is a 2xx. A 401 with a cached authorisation
    /// refreshes it once.
    async fn send(
        &self,
        image: &ImageRef,
        creds: &Credentials,
        method: Method,
        path: &str,
        accept: Option<&str>,
    ) -> Result<reqwest::Response, RegistryError> {
        let registry = image.registry().to_string();
        let url = url::Url::parse(&format!(
            "{}/v2/{}/{path}",
            self.base_url(image),
            image.repository()
        ))
        .map_err(|e| RegistryError::Other {
            registry: registry.clone(),
            detail: format!("bad URL: {e}"),
        })?;
        let accept: Vec<(header::HeaderName, HeaderValue)> = accept
            .and_then(|a| HeaderValue::from_str(a).ok())
            .map(|a| (header::ACCEPT, a))
            .into_iter()
            .collect();
        for refresh in [false, true] {
            let authorization = self.authorization(image, creds, refresh).await?;
            let result = self
                .retrying(&registry, || {
                    self.attempt(image, &method, &url, &accept, authorization.clone())
                })
                .await;
            match result {
                Err(RegistryError::Unauthorized { .. }) if !refresh => continue,
                Err(RegistryError::Unauthorized { registry, detail })
                    if authorization.is_none() =>
                {
                    return Err(RegistryError::Unauthorized {
                        registry,
                        detail: format!("{detail} (without credentials)"),
                    });
                }
                other => return other,
            }
        }
        Err(RegistryError::Unauthorized {
            registry,
            detail: format!("401 for {method} {path}"),
        })
    }

    /// Runs `once` until it succeeds, fails for good, or the retries
    /// (`registryRetries`, `maxRetryAfter`) are used up.
    async fn retrying<F, Fut>(
        &self,
        registry: &str,
        mut once: F,
    ) -> Result<reqwest::Response, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<reqwest::Response, Attempt>>,
    {
        let mut attempts: u32 = 0;
        loop {
            attempts += 1;
            let failure = match once().await {
                Ok(response) => return Ok(response),
                Err(failure) => failure,
            };
            match failure {
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
                            registry: registry.to_string(),
                            status,
                            retry_after_seconds: after.as_secs(),
                            limit_seconds: self.options.max_retry_after.as_secs_f64(),
                        });
                    }
                    if attempts > self.options.retries {
                        return Err(RegistryError::RetriesExhausted {
                            registry: registry.to_string(),
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

    /// `registryRetryBackoff` × 2^(attempt − 1), capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.options
            .retry_backoff
            .saturating_mul(factor)
            .min(self.options.max_retry_backoff)
    }

    /// The OAuth2 refresh-token grant of the distribution token spec: the
    /// way Docker spends an `identitytoken` (a POSTed form, never a query
    /// string, so the token stays out of logs). Not retried: a refused
    /// grant is an answer.
    async fn refresh_token_grant(
        &self,
        registry: &str,
        token_server: &url::Url,
        scope: &str,
        service: Option<&str>,
        refresh_token: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        let http = self.http(registry)?;
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "refresh_token")
                .append_pair("refresh_token", refresh_token)
                .append_pair("client_id", "scangate")
                .append_pair("scope", scope);
            if let Some(service) = service {
                form.append_pair("service", service);
            }
            form.finish()
        };
        let request = http
            .post(token_server.clone())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        match tokio::time::timeout(self.options.request_timeout, request.send()).await {
            Err(_) => Err(self.timeout(registry)),
            Ok(Err(error)) => Err(transport::guard_error(&error)
                .map(RegistryError::from)
                .unwrap_or_else(|| RegistryError::Other {
                    registry: registry.to_string(),
                    detail: format!(
                        "refresh-token grant at {} failed: {}",
                        redact(token_server),
                        error_chain(&error)
                    ),
                })),
            Ok(Ok(response)) => Ok(response),
        }
    }

    /// One request and the redirects it leads to, followed by hand: at most
    /// `maxRegistryRedirects`, each hop checked by the guard (the resolver
    /// checks names again when the hop connects), credentials only to the
    /// first URL's origin. The answer may have any status but a redirect.
    async fn exchange(
        &self,
        registry: &str,
        method: &Method,
        url: &url::Url,
        headers: &[(header::HeaderName, HeaderValue)],
        authorization: Option<HeaderValue>,
    ) -> Result<reqwest::Response, Attempt> {
        let http = self.http(registry)?;
        let other = |detail: String| {
            Attempt::Fail(RegistryError::Other {
                registry: registry.to_string(),
                detail,
            })
        };
        let origin = url.clone();
        let mut current = origin.clone();
        let mut redirects = 0usize;
        loop {
            let mut request = http.request(method.clone(), current.clone());
            for (name, value) in headers {
                request = request.header(name, value.clone());
            }
            // Credentials go to the registry itself, never to a redirect
            // target elsewhere (CVE-2020-15157).
            if same_origin(&current, &origin)
                && let Some(value) = &authorization
            {
                request = request.header(header::AUTHORIZATION, value.clone());
            }
            let response = match tokio::time::timeout(self.options.request_timeout, request.send())
                .await
            {
                Err(_) => return Err(Attempt::Fail(self.timeout(registry))),
                Ok(Err(error)) => {
                    // The resolver's refusal is the guard's, not a fault to retry.
                    if let Some(guard) = transport::guard_error(&error) {
                        return Err(Attempt::Fail(guard.into()));
                    }
                    if error.is_timeout() {
                        return Err(Attempt::Fail(self.timeout(registry)));
                    }
                    let detail = format!("{} failed: {}", redact(&current), error_chain(&error));
                    if error.is_connect() || error.is_request() {
                        return Err(Attempt::Retry {
                            reason: "connection".into(),
                            detail,
                            retry_after: None,
                            status: None,
                        });
                    }
                    return Err(other(detail));
                }
                Ok(Ok(response)) => response,
            };
            let status = response.status();
            if !(status.is_redirection() && status != StatusCode::NOT_MODIFIED) {
                return Ok(response);
            }
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
                    registry: registry.to_string(),
                    limit: self.options.max_redirects,
                    location: redact(&next),
                }));
            }
            self.metrics.redirects.inc();
            transport::check_redirect(&self.policy, Some(&current), &next)
                .map_err(|e| Attempt::Fail(e.into()))?;
            current = next;
        }
    }

    /// [`Self::exchange`], with a 429 or 5xx answer to be retried.
    async fn exchange_retryable(
        &self,
        registry: &str,
        method: &Method,
        url: &url::Url,
        headers: &[(header::HeaderName, HeaderValue)],
        authorization: Option<HeaderValue>,
    ) -> Result<reqwest::Response, Attempt> {
        let response = self
            .exchange(registry, method, url, headers, authorization)
            .await?;
        let status = response.status().as_u16();
        if retryable(status) {
            return Err(Attempt::Retry {
                reason: status.to_string(),
                detail: format!("HTTP {status} from {}", redact(response.url())),
                retry_after: retry_after(response.headers()),
                status: Some(status),
            });
        }
        Ok(response)
    }

    /// One attempt at a registry API request; the answer is a 2xx.
    async fn attempt(
        &self,
        image: &ImageRef,
        method: &Method,
        url: &url::Url,
        headers: &[(header::HeaderName, HeaderValue)],
        authorization: Option<HeaderValue>,
    ) -> Result<reqwest::Response, Attempt> {
        let registry = image.registry().to_string();
        let response = self
            .exchange(&registry, method, url, headers, authorization)
            .await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let current = response.url().clone();
        let retry_after = retry_after(response.headers());
        let body = read_capped(
            response,
            ERROR_BODY_EXCERPT_BYTES,
            self.options.request_timeout,
        )
        .await
        .map(|(bytes, _)| bytes)
        .unwrap_or_default();
        let text: String = String::from_utf8_lossy(&body)
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        let detail = format!(
            "HTTP {} for {method} {}: {text}",
            status.as_u16(),
            redact(&current)
        );
        Err(match status.as_u16() {
            code if retryable(code) => Attempt::Retry {
                reason: code.to_string(),
                detail: format!("HTTP {code} from {}", redact(&current)),
                retry_after,
                status: Some(code),
            },
            401 | 403 => Attempt::Fail(RegistryError::Unauthorized { registry, detail }),
            404 => Attempt::Fail(RegistryError::NotFound {
                image: image.to_string(),
            }),
            _ => Attempt::Fail(RegistryError::Other { registry, detail }),
        })
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
        let path = format!("manifests/{tag}");
        let accept = manifest::ACCEPTED.join(", ");
        let response = self
            .send(image, creds, Method::HEAD, &path, Some(&accept))
            .await?;
        let header_digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let digest = match header_digest {
            Some(digest) => digest,
            None => {
                let bytes = self.manifest_bytes(image, &path, creds).await?;
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

    /// A manifest's bytes, at most `maxManifestBytes`.
    async fn manifest_bytes(
        &self,
        image: &ImageRef,
        path: &str,
        creds: &Credentials,
    ) -> Result<Bytes, RegistryError> {
        let accept = manifest::ACCEPTED.join(", ");
        let response = self
            .send(image, creds, Method::GET, path, Some(&accept))
            .await?;
        let cap = self.options.max_manifest_bytes;
        let too_large = |size: String| RegistryError::TooLarge {
            registry: image.registry().to_string(),
            what: "manifest",
            size,
            limit: "maxManifestBytes",
            limit_bytes: cap,
        };
        if let Some(length) = response.content_length()
            && length > cap as u64
        {
            return Err(too_large(length.to_string()));
        }
        match read_capped(response, cap, self.options.request_timeout).await {
            Ok((_, true)) => Err(too_large("more than".into())),
            Ok((bytes, false)) => Ok(bytes),
            Err(ReadError::Timeout) => Err(self.timeout(image.registry())),
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
        let bytes = self
            .manifest_bytes(image, &format!("manifests/{digest}"), creds)
            .await?;
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

    /// Opens a blob (following redirects to storage, each hop guarded). The
    /// bytes are not verified here: the caller hashes them once, as they
    /// stream, and checks the digest at the end.
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
        let response = self
            .send(image, creds, Method::GET, &format!("blobs/{digest}"), None)
            .await?;
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
                let room = cap.saturating_sub(body.len());
                body.extend_from_slice(chunk.get(..room).unwrap_or_default());
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

/// Answers worth another attempt: too many requests, and server faults.
fn retryable(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
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

/// Who reads what from a registry: the repository and a fingerprint of
/// the credentials sent to its registry. A cache of registry answers keyed
/// by it never lends one pull secret's access to another (or to none).
pub fn access_scope(image: &ImageRef, creds: &Credentials) -> (String, String, [u8; 32]) {
    let registry = image.registry().to_string();
    let auth = creds.for_registry(&registry);
    (registry, image.repository().to_string(), fingerprint(&auth))
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
        RegistryAuth::IdentityToken(token) => {
            hasher.update(b"identity\0");
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
        assert_eq!(client.backoff(40), DEFAULT_MAX_RETRY_BACKOFF);
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

    #[test]
    fn parses_bearer_challenges() {
        let c = BearerChallenge::parse(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#,
        )
        .unwrap();
        assert_eq!(c.realm, "https://auth.example/token");
        assert_eq!(c.service.as_deref(), Some("registry.example"));
        assert_eq!(c.scope.as_deref(), Some("repository:a/b:pull"));
        let c = BearerChallenge::parse(r#"bearer realm="https://a/t", scope="x,y""#).unwrap();
        assert_eq!(c.scope.as_deref(), Some("x,y"));
        assert!(BearerChallenge::parse(r#"Basic realm="registry""#).is_none());
        assert!(BearerChallenge::parse("Bearer service=x").is_none());
        assert!(BearerChallenge::parse(r#"Bearer realm="unterminated"#).is_none());
    }
}
