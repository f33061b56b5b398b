//! Pulls from registries over the OCI distribution API: anonymous, basic
//! and bearer-token auth (the `WWW-Authenticate` challenge answered with a
//! token request to the realm), credentials picked by registry host, plain
//! HTTP only for registries named insecure, and the registry guard both
//! before the pull and at connect time (see [`super::transport`]): every
//! request, including token requests and redirected blob downloads, goes
//! through the guarded client. References are parsed with `oci-client`.

use super::auth::{Credentials, RegistryAuth};
use super::guard::{GuardError, RegistryPolicy};
use super::manifest::{self, ImageManifest, Manifest, ManifestError};
use super::platform::Platform;
use super::reference::ImageRef;
use super::transport;
use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use http::header::{ACCEPT, AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use reqwest::StatusCode;
use sha2::{Digest as _, Sha256};
use std::time::Duration;

/// Largest manifest accepted; real ones are a few KiB.
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;
/// Largest token-server or error answer read.
const MAX_SMALL_BODY_BYTES: usize = 1 << 20;

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
    #[error("registry request timed out after {seconds}s (registryRequestTimeoutSeconds)")]
    Timeout { seconds: f64 },
    #[error("registry {registry}: {detail}")]
    Other { registry: String, detail: String },
}

/// A registry client; cheap to share. Keeps the `Authorization` value per
/// (registry, repository, credentials) so tokens are reused across scans
/// while each pull secret gets its own; a 401 refreshes it once.
pub struct RegistryClient {
    policy: RegistryPolicy,
    request_timeout: Duration,
    http: Result<reqwest::Client, String>,
    authorizations: moka::future::Cache<(String, String, [u8; 32]), Option<HeaderValue>>,
}

/// A stream of one blob's bytes as the registry sends them (not yet verified).
pub type BlobStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

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
        let http = transport::guarded_client(&policy, request_timeout).map_err(|e| e.to_string());
        RegistryClient {
            policy,
            request_timeout,
            http,
            authorizations: moka::future::Cache::builder()
                .max_capacity(1024)
                .time_to_idle(Duration::from_secs(600))
                .build(),
        }
    }

    pub fn policy(&self) -> &RegistryPolicy {
        &self.policy
    }

    fn http(&self, image: &ImageRef) -> Result<&reqwest::Client, RegistryError> {
        self.http.as_ref().map_err(|e| RegistryError::Other {
            registry: image.registry().to_string(),
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

    async fn timed<T>(
        &self,
        future: impl Future<Output = Result<T, RegistryError>>,
    ) -> Result<T, RegistryError> {
        tokio::time::timeout(self.request_timeout, future)
            .await
            .unwrap_or(Err(RegistryError::Timeout {
                seconds: self.request_timeout.as_secs_f64(),
            }))
    }

    fn transport_error(&self, image: &ImageRef, error: reqwest::Error) -> RegistryError {
        if let Some(guard) = transport::guard_error(&error) {
            return RegistryError::Guard(guard);
        }
        if error.is_timeout() {
            return RegistryError::Timeout {
                seconds: self.request_timeout.as_secs_f64(),
            };
        }
        let mut detail = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(e) = source {
            detail.push_str(": ");
            detail.push_str(&e.to_string());
            source = e.source();
        }
        RegistryError::Other {
            registry: image.registry().to_string(),
            detail,
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
        let registry = image.registry().to_string();
        self.policy.check(&registry).await?;
        let auth = creds.for_registry(&registry);
        let key = (registry, image.repository().to_string(), fingerprint(&auth));
        if refresh {
            self.authorizations.invalidate(&key).await;
        }
        self.authorizations
            .try_get_with(key, self.timed(self.authorize(image, &auth)))
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
            HeaderValue::from_str(&value).map_err(|_| RegistryError::Other {
                registry: registry.clone(),
                detail: "credentials are not a valid header value".into(),
            })
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
        let http = self.http(image)?;
        let ping = http
            .get(format!("{}/v2/", self.base_url(image)))
            .send()
            .await
            .map_err(|e| self.transport_error(image, e))?;
        if ping.status() != StatusCode::UNAUTHORIZED {
            return Ok(None);
        }
        let challenge = ping
            .headers()
            .get(WWW_AUTHENTICATE)
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
        let realm = url::Url::parse(&bearer.realm).map_err(|e| RegistryError::Other {
            registry: registry.clone(),
            detail: format!("token realm {:?}: {e}", bearer.realm),
        })?;
        // The realm comes from the registry: it passes the same guard as a
        // redirect from the registry would (no https → http downgrade).
        let base = url::Url::parse(&self.base_url(image)).ok();
        transport::check_redirect(&self.policy, base.as_ref(), &realm)?;
        let mut request = http.get(realm.clone()).query(&[("scope", scope.as_str())]);
        if let Some(service) = &bearer.service {
            request = request.query(&[("service", service.as_str())]);
        }
        if let RegistryAuth::Basic { username, password } = auth {
            request = request.header(AUTHORIZATION, basic(username, password)?);
        }
        let answer = request
            .send()
            .await
            .map_err(|e| self.transport_error(image, e))?;
        let status = answer.status();
        let body = read_limited(answer, MAX_SMALL_BODY_BYTES)
            .await
            .map_err(|e| self.transport_error(image, e))?;
        if !status.is_success() {
            let detail = format!(
                "token server {} answered {status} for scope {scope}{}",
                realm.origin().ascii_serialization(),
                if matches!(auth, RegistryAuth::Basic { .. }) {
                    " (check the username and password in the Docker config)"
                } else {
                    ""
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
                detail: format!("token answer from {realm}: {e}"),
            })?;
        match token.token.or(token.access_token) {
            Some(token) if !token.is_empty() => header(format!("Bearer {token}")).map(Some),
            _ => Err(RegistryError::Other {
                registry,
                detail: format!("token answer from {realm} holds no token"),
            }),
        }
    }

    /// GET or HEAD `path` under the repository, authorised; a 401 with a
    /// cached authorisation refreshes it once.
    async fn send(
        &self,
        image: &ImageRef,
        creds: &Credentials,
        method: http::Method,
        path: &str,
        accept: Option<&str>,
    ) -> Result<reqwest::Response, RegistryError> {
        let http = self.http(image)?;
        let url = format!("{}/v2/{}/{path}", self.base_url(image), image.repository());
        for refresh in [false, true] {
            let authorization = self.authorization(image, creds, refresh).await?;
            let mut request = http.request(method.clone(), &url);
            if let Some(accept) = accept {
                request = request.header(ACCEPT, accept);
            }
            if let Some(value) = &authorization {
                request = request.header(AUTHORIZATION, value.clone());
            }
            let response = self
                .timed(async {
                    request
                        .send()
                        .await
                        .map_err(|e| self.transport_error(image, e))
                })
                .await?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !refresh {
                continue;
            }
            if status.is_success() {
                return Ok(response);
            }
            let registry = image.registry().to_string();
            return Err(match status.as_u16() {
                401 | 403 => RegistryError::Unauthorized {
                    registry,
                    detail: format!(
                        "{status} for {method} {path}{}",
                        if authorization.is_none() {
                            " without credentials"
                        } else {
                            ""
                        }
                    ),
                },
                404 => RegistryError::NotFound {
                    image: image.to_string(),
                },
                _ => {
                    let body = read_limited(response, 4096).await.unwrap_or_default();
                    RegistryError::Other {
                        registry,
                        detail: format!(
                            "HTTP {status} for {method} {path}: {}",
                            String::from_utf8_lossy(&body)
                        ),
                    }
                }
            });
        }
        Err(RegistryError::Unauthorized {
            registry: image.registry().to_string(),
            detail: format!("401 for {method} {path}"),
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
        let reference = image.tag().unwrap_or("latest").to_string();
        let accept = manifest::ACCEPTED.join(", ");
        let path = format!("manifests/{reference}");
        let head = self
            .send(image, creds, http::Method::HEAD, &path, Some(&accept))
            .await?;
        let header = head
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let digest = match header {
            Some(digest) => digest,
            None => {
                let response = self
                    .send(image, creds, http::Method::GET, &path, Some(&accept))
                    .await?;
                let bytes = self.manifest_body(image, response).await?;
                format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
            }
        };
        if !manifest::valid_digest(&digest) {
            return Err(RegistryError::Other {
                registry: image.registry().to_string(),
                detail: format!("unusable manifest digest {digest:?}"),
            });
        }
        Ok(digest)
    }

    async fn manifest_body(
        &self,
        image: &ImageRef,
        response: reqwest::Response,
    ) -> Result<Bytes, RegistryError> {
        let bytes = self
            .timed(async {
                read_limited(response, MAX_MANIFEST_BYTES + 1)
                    .await
                    .map_err(|e| self.transport_error(image, e))
            })
            .await?;
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(
                ManifestError::Invalid(format!("more than {MAX_MANIFEST_BYTES} bytes")).into(),
            );
        }
        Ok(bytes)
    }

    /// The raw manifest at `digest`, its bytes checked against the digest.
    async fn manifest_at(
        &self,
        image: &ImageRef,
        digest: &str,
        creds: &Credentials,
    ) -> Result<Bytes, RegistryError> {
        let accept = manifest::ACCEPTED.join(", ");
        let response = self
            .send(
                image,
                creds,
                http::Method::GET,
                &format!("manifests/{digest}"),
                Some(&accept),
            )
            .await?;
        let bytes = self.manifest_body(image, response).await?;
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
            return Err(ManifestError::Invalid(format!("digest {digest:?}")).into());
        }
        let response = self
            .send(
                image,
                creds,
                http::Method::GET,
                &format!("blobs/{digest}"),
                None,
            )
            .await?;
        Ok(response
            .bytes_stream()
            .map(|chunk| chunk.map_err(std::io::Error::other))
            .boxed())
    }
}

/// Reads at most `limit` bytes of a body (more is cut off).
async fn read_limited(response: reqwest::Response, limit: usize) -> Result<Bytes, reqwest::Error> {
    let mut stream = response.bytes_stream();
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let room = limit.saturating_sub(body.len());
        body.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
        if body.len() >= limit {
            break;
        }
    }
    Ok(body.freeze())
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

#[cfg(test)]
mod tests {
    use super::*;

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
