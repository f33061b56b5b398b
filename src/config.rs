//! The one YAML configuration file (`--config`). Every key is documented in
//! README.md; each module owns the section it reads. Every section and key
//! has a default, so an empty file (or none) is a valid configuration.

use crate::admission::WebhookConfig;
use crate::scan::OrchestratorConfig;
use crate::server::ServerConfig;
use crate::telemetry::TelemetryConfig;
use crate::tls::TlsConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The whole configuration: one section per module, each defined beside the
/// code that reads it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Config {
    pub webhook: WebhookConfig,
    pub orchestrator: OrchestratorConfig,
    pub server: ServerConfig,
    pub tls: TlsConfig,
    pub telemetry: TelemetryConfig,
    /// Where the vulnerability database lives (`--db`).
    pub db: crate::vulndb::DbConfig,
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
        from_value(merged).map_err(|error| ConfigError::Parse {
            path: paths.last().cloned().unwrap_or_default(),
            error,
        })
    }

    pub fn parse(text: &str) -> Result<Config, serde_yaml::Error> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        from_value(serde_yaml::from_str(text)?)
    }
}

/// Reads the whole configuration; unknown keys are refused everywhere, and
/// an error names the key's path (`scanner.scanTimeout: …`).
fn from_value(value: serde_yaml::Value) -> Result<Config, serde_yaml::Error> {
    refuse_unknown_scanner_keys(&value)?;
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if path == "." {
            inner
        } else {
            <serde_yaml::Error as serde::de::Error>::custom(format!("{path}: {inner}"))
        }
    })
}

/// `scanner:` flattens other settings into one section, across which
/// serde's `deny_unknown_fields` does not work; its keys are checked here.
fn refuse_unknown_scanner_keys(value: &serde_yaml::Value) -> Result<(), serde_yaml::Error> {
    let Some(section) = value.get("scanner").and_then(|s| s.as_mapping()) else {
        return Ok(());
    };
    let known = crate::scan::ScannerConfig::keys();
    for key in section.keys() {
        let name = key.as_str().unwrap_or_default();
        if !known.iter().any(|k| k == name) {
            return Err(<serde_yaml::Error as serde::de::Error>::custom(format!(
                "scanner: unknown field `{}`, expected one of {}",
                serde_yaml::to_string(key).unwrap_or_default().trim(),
                known.join(", ")
            )));
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ConfigDuration;
    use std::time::Duration;

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

    /// Every section, nested ones too, refuses a key it does not know
    /// (typos and keys renamed away included).
    #[test]
    fn every_section_refuses_unknown_keys() {
        for (yaml, key) in [
            ("scanner:\n  insecureRegistry: [a]\n", "insecureRegistry"),
            (
                "scanner:\n  scanTimeoutSeconds: 120\n",
                "scanTimeoutSeconds",
            ),
            ("db:\n  refreshIntervall: 5m\n", "refreshIntervall"),
            (
                "kubernetes:\n  events:\n    flushIntervalSeconds: 5\n",
                "flushIntervalSeconds",
            ),
            (
                "kubernetes:\n  pullSecrets:\n    cacheTtlSeconds: 60\n",
                "cacheTtlSeconds",
            ),
            (
                "kubernetes:\n  leaderElection:\n    leaseDurationSeconds: 30\n",
                "leaseDurationSeconds",
            ),
            ("kubernetes:\n  reports:\n    enable: true\n", "enable"),
            ("rescan:\n  retention:\n    maxAgeDays: 180\n", "maxAgeDays"),
            (
                "rescan:\n  alertSinks:\n    - {name: a, url: 'http://x', requestTimeoutMillis: 5}\n",
                "requestTimeoutMillis",
            ),
            ("server:\n  listn: x\n", "listn"),
            ("tls:\n  certfile: x\n", "certfile"),
            ("telemetry:\n  logformat: json\n", "logformat"),
            ("orchestrator:\n  scanTimeOut: 8s\n", "scanTimeOut"),
            ("webhook:\n  pinDigest: true\n", "pinDigest"),
            ("nonsense: 1\n", "nonsense"),
        ] {
            let err = Config::parse(yaml).expect_err(yaml).to_string();
            assert!(
                err.contains(&format!("unknown field `{key}`")),
                "{yaml}: {err}"
            );
        }
    }

    /// Durations are written one way everywhere, and zero or unit-less
    /// values are refused, never replaced by a default.
    #[test]
    fn renamed_duration_keys_read_the_one_syntax() {
        let config = Config::parse(
            "scanner:\n  scanTimeout: 2m\n  registryRetryBackoff: 250ms\nkubernetes:\n  events:\n    flushInterval: 1s\n    aggregationWindow: 10m\n  pullSecrets:\n    cacheTtl: 30s\n  leaderElection:\n    leaseDuration: 15s\nrescan:\n  alertSinks:\n    - {name: a, url: 'http://x', initialBackoff: 100ms, maxBackoff: 5s, requestTimeout: 2s}\n",
        )
        .unwrap();
        assert_eq!(config.scanner.scan_timeout(), Duration::from_secs(120));
        assert_eq!(
            config.scanner.registry_options().retry_backoff,
            Duration::from_millis(250)
        );
        assert_eq!(
            config.kubernetes.events.flush_interval,
            ConfigDuration::secs(1)
        );
        assert_eq!(
            config.kubernetes.events.aggregation_window,
            ConfigDuration::secs(600)
        );
        assert_eq!(
            config.kubernetes.pull_secrets.cache_ttl,
            ConfigDuration::secs(30)
        );
        assert_eq!(
            config.kubernetes.leader_election.lease_duration,
            ConfigDuration::secs(15)
        );
        assert_eq!(
            config.rescan.alert_sinks[0].request_timeout,
            ConfigDuration::secs(2)
        );
        for bad in [
            "scanner:\n  scanTimeout: 120\n",
            "scanner:\n  stallTimeout: 0s\n",
            "kubernetes:\n  events:\n    flushInterval: 0s\n",
            "kubernetes:\n  leaderElection:\n    leaseDuration: 1.5s\n",
            "kubernetes:\n  leaderElection:\n    leaseDuration: 1500ms\n",
            "kubernetes:\n  leaderElection:\n    leaseDuration: 2s\n",
            "rescan:\n  alertSinks:\n    - {name: a, url: 'http://x', requestTimeout: 0ms}\n",
        ] {
            assert!(Config::parse(bad).is_err(), "{bad}");
        }
        // The whole default configuration reads back as itself.
        let text = serde_yaml::to_string(&Config::default()).unwrap();
        assert_eq!(Config::parse(&text).unwrap(), Config::default());
    }
}
