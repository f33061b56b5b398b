//! The one YAML configuration file (`--config`). Every key is documented in
//! README.md; each module owns the section it reads. Every section and key
//! has a default, so an empty file (or none) is a valid configuration.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The whole configuration. Sections of other modules are added here as
/// `#[serde(default)]` fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Config {
    pub webhook: WebhookConfig,
    pub orchestrator: OrchestratorConfig,
    pub server: ServerConfig,
    pub tls: TlsConfig,
    pub telemetry: TelemetryConfig,
    /// Where the vulnerability database lives (`--db`).
    pub db: DbConfig,
    /// The image scanner: limits, timeouts, platform, registries (`scanner:`).
    pub scanner: crate::scan::ScannerConfig,
    /// Images read from local OCI image layouts instead of their registry,
    /// reference → layout directory (`localImages:`). For air-gapped
    /// demos and tests; `serve --dev` maps the bundled sample images here.
    pub local_images: std::collections::BTreeMap<String, PathBuf>,
    /// The cluster: watches, pull secrets, events, reports, leader election
    /// (`kubernetes:`).
    pub kubernetes: crate::k8s::config::KubernetesConfig,
    /// The routine re-scan loop of the elected leader (`rescan:`).
    pub rescan: crate::rescan::rescanner::RescanConfig,
}

/// What the webhook reviews and how it answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Review the pod templates of Deployment, ReplicaSet, StatefulSet,
    /// DaemonSet, Job, CronJob and ReplicationController too.
    pub review_workloads: bool,
    /// Answer `/mutate` with a JSONPatch pinning tags to scanned digests.
    pub pin_digests: bool,
    /// Namespaces whose ScanExceptions apply in every namespace (default:
    /// scangate's own namespace).
    pub cluster_wide_exception_namespaces: Vec<String>,
    /// How many finding IDs a denial message lists per image.
    pub max_findings_in_message: usize,
    /// How many distinct images one review may name; more is refused.
    pub max_images_per_review: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            review_workloads: true,
            pin_digests: false,
            cluster_wide_exception_namespaces: vec!["scangate".into()],
            max_findings_in_message: 5,
            max_images_per_review: 64,
        }
    }
}

/// The scan orchestrator: caches, concurrency and the budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct OrchestratorConfig {
    /// How long a cache miss may wait for its scan before `onScanPending`
    /// applies; keep it below the webhook's `timeoutSeconds`.
    pub scan_timeout: ConfigDuration,
    /// How long cached findings live.
    pub verdict_ttl: ConfigDuration,
    /// Total estimated bytes of cached findings.
    pub verdict_cache_max_bytes: u64,
    /// How long a tag → digest resolution is trusted.
    pub tag_ttl: ConfigDuration,
    /// How many tag resolutions are cached.
    pub tag_cache_max_entries: u64,
    /// How long a failed scan or resolution is remembered: the reviews in
    /// that time get `onScanError` without a new registry call.
    pub error_ttl: ConfigDuration,
    /// Scans running at once.
    pub max_concurrent_scans: usize,
    /// Scans waiting for a slot; more are shed with `QueueFull`.
    pub max_queued_scans: usize,
}

impl Default for OrchestratorConfig {
    fn default() -> Self {
        OrchestratorConfig {
            scan_timeout: ConfigDuration::secs(8),
            verdict_ttl: ConfigDuration::secs(3600),
            verdict_cache_max_bytes: 256 * 1024 * 1024,
            tag_ttl: ConfigDuration::secs(60),
            tag_cache_max_entries: 10_000,
            error_ttl: ConfigDuration::secs(30),
            max_concurrent_scans: 4,
            max_queued_scans: 64,
        }
    }
}

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

/// Logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// `json` (for clusters) or `pretty`.
    pub log_format: LogFormat,
    /// A tracing filter, e.g. `info` or `scangate=debug`.
    pub log_level: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            log_format: LogFormat::Json,
            log_level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// The vulnerability database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DbConfig {
    /// Folder holding `<Ecosystem>/all.zip`, or a `file://` / `https://`
    /// mirror of that layout (`--db`).
    pub root: Option<PathBuf>,
    /// Where a mirror is synced to (`cacheDir`).
    pub cache_dir: PathBuf,
    /// Where the loaded index is kept, so a restart skips unzipping and
    /// parsing (`snapshotDir`) [default: `<cacheDir>/snapshots`].
    pub snapshot_dir: Option<PathBuf>,
    /// How often the database is synced and, if it changed, swapped
    /// (`refreshInterval`).
    pub refresh_interval: ConfigDuration,
}

impl DbConfig {
    /// Where snapshots are kept: `snapshotDir`, or `<cacheDir>/snapshots`
    /// (no `all.zip` there, so the folder is never taken for an ecosystem).
    pub fn snapshot_dir(&self) -> PathBuf {
        self.snapshot_dir
            .clone()
            .unwrap_or_else(|| self.cache_dir.join("snapshots"))
    }

    /// The loader's settings: load through the snapshot.
    pub fn loader(&self) -> crate::vulndb::DbConfig {
        crate::vulndb::DbConfig {
            snapshot_dir: Some(self.snapshot_dir()),
            ..crate::vulndb::DbConfig::default()
        }
    }
}

impl Default for DbConfig {
    fn default() -> Self {
        DbConfig {
            root: None,
            cache_dir: PathBuf::from(".cache/scangate-db"),
            snapshot_dir: None,
            refresh_interval: ConfigDuration::secs(3600),
        }
    }
}

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {error}")]
    Parse {
        path: PathBuf,
        error: serde_yaml::Error,
    },
}

impl Config {
    /// Reads a YAML file; an empty file is the default configuration.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Config::parse(&text).map_err(|error| ConfigError::Parse {
            path: path.to_path_buf(),
            error,
        })
    }

    /// Reads several files, each overriding the ones before it key by key
    /// (mappings merge; any other value replaces). None is the default.
    pub fn load_all(paths: &[PathBuf]) -> Result<Config, ConfigError> {
        let mut merged = serde_yaml::Value::Null;
        for path in paths {
            let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
                path: path.clone(),
                error,
            })?;
            let value: serde_yaml::Value =
                serde_yaml::from_str(&text).map_err(|error| ConfigError::Parse {
                    path: path.clone(),
                    error,
                })?;
            merge_yaml(&mut merged, value);
        }
        if merged.is_null() {
            return Ok(Config::default());
        }
        serde_yaml::from_value(merged).map_err(|error| ConfigError::Parse {
            path: paths.last().cloned().unwrap_or_default(),
            error,
        })
    }

    pub fn parse(text: &str) -> Result<Config, serde_yaml::Error> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        serde_yaml::from_str(text)
    }
}

/// Merges `over` into `base`: mappings key by key, anything else replaced;
/// a null (an empty file) changes nothing.
fn merge_yaml(base: &mut serde_yaml::Value, over: serde_yaml::Value) {
    use serde_yaml::Value;
    match (base, over) {
        (_, Value::Null) => {}
        (Value::Mapping(base), Value::Mapping(over)) => {
            for (key, value) in over {
                match base.get_mut(&key) {
                    Some(slot) => merge_yaml(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, over) => *base = over,
    }
}

/// A duration written `500ms`, `8s`, `5m`, `1h`, `2d` or `1w`: the one
/// duration syntax of the configuration and of policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigDuration(pub Duration);

impl ConfigDuration {
    pub const fn secs(secs: u64) -> ConfigDuration {
        ConfigDuration(Duration::from_secs(secs))
    }

    pub fn get(self) -> Duration {
        self.0
    }

    pub fn parse(text: &str) -> Option<ConfigDuration> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit())?;
        let (number, unit) = text.split_at(split);
        let number: u64 = number.parse().ok()?;
        let millis_per_unit: u64 = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            _ => return None,
        };
        number
            .checked_mul(millis_per_unit)
            .map(|ms| ConfigDuration(Duration::from_millis(ms)))
    }
}

impl fmt::Display for ConfigDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl Serialize for ConfigDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ConfigDuration::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid duration {text:?}: expected a number and a unit (ms, s, m, h, d, w), e.g. 8s"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn keys_are_camel_case_and_durations_have_units() {
        let config = Config::parse(
            "orchestrator:\n  scanTimeout: 1500ms\n  maxConcurrentScans: 2\nwebhook:\n  pinDigests: true\n",
        )
        .unwrap();
        assert_eq!(
            config.orchestrator.scan_timeout.get(),
            Duration::from_millis(1500)
        );
        assert_eq!(config.orchestrator.max_concurrent_scans, 2);
        assert!(config.webhook.pin_digests);
        assert_eq!(config.orchestrator.tag_ttl, ConfigDuration::secs(60));
    }

    #[test]
    fn later_files_override_earlier_ones_key_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base.yaml");
        let extra = dir.path().join("extra.yaml");
        let empty = dir.path().join("empty.yaml");
        std::fs::write(&base, "server:\n  listen: 0.0.0.0:8443\norchestrator:\n  scanTimeout: 8s\n  maxConcurrentScans: 2\n").unwrap();
        std::fs::write(&extra, "orchestrator:\n  maxConcurrentScans: 6\n").unwrap();
        std::fs::write(&empty, "").unwrap();
        let config = Config::load_all(&[base, extra.clone(), empty]).unwrap();
        assert_eq!(config.server.listen, "0.0.0.0:8443");
        assert_eq!(config.orchestrator.scan_timeout, ConfigDuration::secs(8));
        assert_eq!(config.orchestrator.max_concurrent_scans, 6);
        std::fs::write(&extra, "orchestrator:\n  maxConcurentScans: 6\n").unwrap();
        let err = Config::load_all(&[extra]).unwrap_err().to_string();
        assert!(err.contains("maxConcurentScans"), "{err}");
        assert_eq!(Config::load_all(&[]).unwrap(), Config::default());
    }

    #[test]
    fn unknown_keys_and_bad_durations_are_errors() {
        assert!(Config::parse("webhook:\n  pinDigest: true\n").is_err());
        assert!(Config::parse("orchestrator:\n  scanTimeout: soon\n").is_err());
    }
}
