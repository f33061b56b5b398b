//! Pulls from registries over the OCI distribution API through `oci-client`:
//! anonymous, basic and bearer-token auth (oci-client answers the
//! `WWW-Authenticate` challenge), credentials picked by registry host, plain
//! HTTP only for registries named insecure, and the address guard before
//! any request.

use super::auth::{Credentials, RegistryAuth};
use super::guard::{GuardError, RegistryPolicy};
use super::manifest::{self, ImageManifest, Manifest, ManifestError};
use super::platform::Platform;
use super::reference::ImageRef;
use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use oci_client::errors::OciDistributionError;
use sha2::{Digest as _, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// Largest manifest accepted; real ones are a few KiB.
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

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
    #[error("registry {registry}: {detail}")]
    Other { registry: String, detail: String },
}

/// A registry client; cheap to share. Keeps one `oci_client::Client` per
/// (registry, credentials) so tokens are reused across scans while each
/// pull secret gets its own authentication state.
pub struct RegistryClient {
    policy: RegistryPolicy,
    request_timeout: Duration,
    clients: moka::future::Cache<(String, [u8; 32]), Arc<oci_client::Client>>,
}

/// A stream of one blob's bytes as the registry sends them (not yet verified).
pub type BlobStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

impl RegistryClient {
    pub fn new(policy: RegistryPolicy, request_timeout: Duration) -> RegistryClient {
        RegistryClient {
            policy,
            request_timeout,
            clients: moka::future::Cache::builder()
                .max_capacity(256)
                .time_to_idle(Duration::from_secs(600))
                .build(),
        }
    }

    pub fn policy(&self) -> &RegistryPolicy {
        &self.policy
    }

    async fn client_for(
        &self,
        image: &ImageRef,
        creds: &Credentials,
    ) -> Result<(Arc<oci_client::Client>, oci_client::secrets::RegistryAuth), RegistryError> {
        let registry = image.registry().to_string();
        self.policy.check(&registry).await?;
        let auth = creds.for_registry(&registry);
        let key = (registry.clone(), fingerprint(&auth));
        let insecure = self.policy.insecure_registries.clone();
        let connect_timeout = self.request_timeout;
        let client = self
            .clients
            .get_with(key, async move {
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
                oci_client::secrets::RegistryAuth::Basic(username, password)
            }
            RegistryAuth::Bearer(token) => oci_client::secrets::RegistryAuth::Bearer(token),
        };
        Ok((client, oci_auth))
    }

    async fn timed<T>(
        &self,
        future: impl Future<Output = Result<T, OciDistributionError>>,
        image: &ImageRef,
    ) -> Result<T, RegistryError> {
        match tokio::time::timeout(self.request_timeout, future).await {
            Ok(result) => result.map_err(|e| classify(e, image)),
            Err(_) => Err(RegistryError::Timeout {
                seconds: self.request_timeout.as_secs_f64(),
            }),
        }
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
        let (client, auth) = self.client_for(image, creds).await?;
        let digest = self
            .timed(client.fetch_manifest_digest(image.as_oci(), &auth), image)
            .await?;
        if !manifest::valid_digest(&digest) {
            return Err(RegistryError::Other {
                registry: image.registry().to_string(),
                detail: format!("unusable manifest digest {digest:?}"),
            });
        }
        Ok(digest)
    }

    /// The raw manifest at `digest`, its bytes checked against the digest.
    async fn manifest_at(
        &self,
        image: &ImageRef,
        digest: &str,
        creds: &Credentials,
    ) -> Result<Bytes, RegistryError> {
        let pinned = image.with_digest(digest);
        let (client, auth) = self.client_for(&pinned, creds).await?;
        let (bytes, _) = self
            .timed(
                client.pull_manifest_raw(pinned.as_oci(), &auth, manifest::ACCEPTED),
                image,
            )
            .await?;
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::Invalid(format!(
                "{} bytes, above {MAX_MANIFEST_BYTES}",
                bytes.len()
            ))
            .into());
        }
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
        let (client, auth) = self.client_for(image, creds).await?;
        // Authenticates if needed (stores the credentials for this client).
        client
            .store_auth_if_needed(image.as_oci().resolve_registry(), &auth)
            .await;
        let sized = self
            .timed(client.pull_blob_stream(image.as_oci(), digest), image)
            .await?;
        Ok(sized.stream.boxed())
    }
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
