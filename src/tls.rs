//! TLS for the webhook: TLS 1.2 and 1.3 only, ALPN `h2` and `http/1.1`, and
//! a certificate that is re-read when its files change (cert-manager
//! rotates them in place). A development certificate comes from rcgen.

use crate::model::ConfigDuration;
use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The serving certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain (`--tls-cert`).
    pub cert_file: Option<PathBuf>,
    /// PEM private key (`--tls-key`).
    pub key_file: Option<PathBuf>,
    /// How often the files are checked for a change.
    pub reload_interval: ConfigDuration,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert_file: None,
            key_file: None,
            reload_interval: ConfigDuration::secs(2),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: no PEM certificate found")]
    NoCertificate { path: PathBuf },
    #[error("{path}: {reason}")]
    Pem { path: PathBuf, reason: String },
    #[error("certificate {cert} and key {key} do not belong together or are unsupported: {reason}")]
    KeyMismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("TLS configuration: {0}")]
    Config(String),
    #[error("generating the development certificate: {0}")]
    Generate(String),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Reads a PEM chain and key and checks that they belong together.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<(CertifiedKey, Vec<u8>), TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|cause| TlsError::Read {
            path: path.to_path_buf(),
            cause,
        })
    };
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: cert.to_path_buf(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert.to_path_buf(),
        });
    }
    let private_key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Pem {
        path: key.to_path_buf(),
        reason: e.to_string(),
    })?;
    let certified = CertifiedKey::from_der(chain, private_key, &provider()).map_err(|e| {
        TlsError::KeyMismatch {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            reason: e.to_string(),
        }
    })?;
    let mut fingerprint = cert_pem;
    fingerprint.extend_from_slice(&key_pem);
    Ok((certified, fingerprint))
}

/// Serves the current certificate; [`ReloadingCert::reload`] swaps it when
/// the files' contents change.
#[derive(Debug)]
pub struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: ArcSwap<CertifiedKey>,
    fingerprint: std::sync::Mutex<Vec<u8>>,
}

impl ReloadingCert {
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Arc<ReloadingCert>, TlsError> {
        let (certified, fingerprint) = load_certified_key(cert_path, key_path)?;
        Ok(Arc::new(ReloadingCert {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            current: ArcSwap::from_pointee(certified),
            fingerprint: std::sync::Mutex::new(fingerprint),
        }))
    }

    /// Re-reads the files; swaps in the new certificate if they changed and
    /// are valid together. A half-written rotation (new cert, old key) is
    /// refused and the old certificate stays in service.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let (certified, fingerprint) = load_certified_key(&self.cert_path, &self.key_path)?;
        let mut current = self.fingerprint.lock().unwrap_or_else(|p| p.into_inner());
        if *current == fingerprint {
            return Ok(false);
        }
        self.current.store(Arc::new(certified));
        *current = fingerprint;
        Ok(true)
    }

    /// Checks the files every `interval` until the returned task is aborted.
    pub fn watch(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let this = this.clone();
                match tokio::task::spawn_blocking(move || this.reload()).await {
                    Ok(Ok(true)) => tracing::info!("serving certificate reloaded"),
                    Ok(Ok(false)) => {}
                    Ok(Err(err)) => {
                        tracing::warn!(error = %err, "certificate files unreadable; keeping the current certificate")
                    }
                    Err(err) => tracing::warn!(error = %err, "certificate reload task failed"),
                }
            }
        })
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// TLS 1.2 and 1.3 only; ALPN `h2` then `http/1.1`.
pub fn server_config(resolver: Arc<ReloadingCert>) -> Result<rustls::ServerConfig, TlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A CA and a serving certificate signed by it (PEM).
#[derive(Debug, Clone)]
pub struct GeneratedCertificates {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// A fresh CA and a serving certificate for `names` (DNS names or IPs).
pub fn generate(names: &[&str], ca_name: &str) -> Result<GeneratedCertificates, TlsError> {
    use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair};
    let err = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, ca_name);
    ca_params.distinguished_name = dn;
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).map_err(err)?;
    let leaf_key = KeyPair::generate().map_err(err)?;
    let leaf_params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .map_err(err)?;
    let leaf = leaf_params.signed_by(&leaf_key, &ca).map_err(err)?;
    Ok(GeneratedCertificates {
        ca_pem: ca.pem(),
        cert_pem: leaf.pem(),
        key_pem: leaf_key.serialize_pem(),
    })
}

/// Writes a development CA and certificate (for `scangate.scangate.svc`,
/// `localhost` and `127.0.0.1`) into `dir`: `ca.crt`, `tls.crt`, `tls.key`.
pub fn write_dev_certificates(dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf), TlsError> {
    let generated = generate(
        &[
            "scangate.scangate.svc",
            "scangate.scangate.svc.cluster.local",
            "localhost",
            "127.0.0.1",
        ],
        "scangate development CA",
    )?;
    let write = |name: &str, contents: &str| {
        let path = dir.join(name);
        std::fs::write(&path, contents)
            .map(|_| path.clone())
            .map_err(|cause| TlsError::Read { path, cause })
    };
    std::fs::create_dir_all(dir).map_err(|cause| TlsError::Read {
        path: dir.to_path_buf(),
        cause,
    })?;
    Ok((
        write("ca.crt", &generated.ca_pem)?,
        write("tls.crt", &generated.cert_pem)?,
        write("tls.key", &generated.key_pem)?,
    ))
}
