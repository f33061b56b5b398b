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
    /// A named timeout expired (`timeout` is the config key).
    #[error("timeout {timeout} expired after {seconds}s")]
    Timeout { timeout: &'static str, seconds: f64 },
    /// No vulnerability database is loaded, or it is too old.
    #[error("vulnerability database: {0}")]
    Database(String),
    /// The scan queue is full; load is shed instead of queued.
    #[error("scan queue full ({capacity} waiting); retry shortly")]
    QueueFull { capacity: usize },
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
        }
    }
}
