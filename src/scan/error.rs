//! Why a scan failed. Each limit and timeout has its own variant, so the
//! cause can be named in a warning and counted in a metric.

/// A failed scan.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Reference(#[from] crate::registry::ReferenceError),
    /// The registry refused, failed or lied (message names the cause).
    #[error("registry: {0}")]
    Registry(String),
    /// A layer could not be read (corrupt, over a limit, hostile).
    #[error("layer {digest}: {reason}")]
    Layer { digest: String, reason: String },
    /// A named limit was exceeded (`limit` is the config key).
    #[error("limit {limit} exceeded: {detail}")]
    Limit { limit: &'static str, detail: String },
    /// A named timeout expired (`timeout` is the config key), waiting for
    /// `registry` when it was a registry that did not answer.
    #[error("{}timeout {timeout} expired after {seconds}s", registry_prefix(.registry))]
    Timeout {
        timeout: &'static str,
        seconds: f64,
        registry: Option<String>,
    },
    /// No vulnerability database is loaded, or it is too old.
    #[error("vulnerability database: {0}")]
    Database(String),
    /// The scan queue is full; load is shed instead of queued.
    #[error("scan queue full ({capacity} waiting); retry shortly")]
    QueueFull { capacity: usize },
    /// A blob or manifest did not hash to its digest; never a result.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    /// A blob ended before its declared size.
    #[error("blob {digest} truncated: {received} of {expected} bytes")]
    Truncated {
        digest: String,
        received: u64,
        expected: u64,
    },
    /// The registry address policy refused the registry (SSRF guard).
    #[error("registry refused: {0}")]
    Refused(String),
    /// The registry refused the credentials (or there were none).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// A manifest or layer format scangate does not read (schema 1, …).
    #[error("unsupported image: {0}")]
    Unsupported(String),
    /// The image index has no manifest for the wanted platform.
    #[error("platform {wanted} not in the image index; available: {available}")]
    PlatformMissing { wanted: String, available: String },
    /// A local image (`oci:`, `docker-archive:`) could not be read.
    #[error("local image: {0}")]
    Local(String),
}

/// `registry HOST: ` before a message about that registry.
fn registry_prefix(registry: &Option<String>) -> String {
    registry
        .as_ref()
        .map(|registry| format!("registry {registry}: "))
        .unwrap_or_default()
}

impl ScanError {
    /// A short, stable label for metrics (`reason="registry"`).
    pub fn metric_label(&self) -> &'static str {
        match self {
            ScanError::Reference(_) => "reference",
            ScanError::Registry(_) => "registry",
            ScanError::Layer { .. } => "layer",
            ScanError::Limit { .. } => "limit",
            ScanError::Timeout { .. } => "timeout",
            ScanError::Database(_) => "database",
            ScanError::QueueFull { .. } => "queue_full",
            ScanError::DigestMismatch { .. } => "digest_mismatch",
            ScanError::Truncated { .. } => "truncated",
            ScanError::Refused(_) => "refused",
            ScanError::Unauthorized(_) => "unauthorized",
            ScanError::NotFound(_) => "not_found",
            ScanError::Unsupported(_) => "unsupported",
            ScanError::PlatformMissing { .. } => "platform_missing",
            ScanError::Local(_) => "local",
        }
    }
}
