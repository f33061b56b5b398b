//! The scanner's configuration: every limit and timeout, each a named
//! config key (camelCase) with a default.

use crate::inventory::LayerLimits;
use crate::model::{ConfigDuration, positive_duration};
use crate::registry::client::{
    DEFAULT_MAX_MANIFEST_BYTES, DEFAULT_MAX_RETRY_BACKOFF, DEFAULT_MAX_TOKEN_RESPONSE_BYTES,
    RegistryOptions,
};
use crate::registry::{Platform, RegistryPolicy};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Scanner configuration (`scanner:` in the config file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScannerConfig {
    /// Largest compressed layer blob (`maxLayerCompressedBytes`, 2 GiB).
    pub max_layer_compressed_bytes: u64,
    /// Largest sum of an image's compressed layers (`maxImageCompressedBytes`, 8 GiB).
    pub max_image_compressed_bytes: u64,
    /// Per-layer analysis limits: `maxUncompressedBytes`, `maxEntries`, `maxFileBytes`.
    #[serde(flatten)]
    pub layer: LayerLimits,
    /// Budget for one whole scan (`scanTimeout`, 120s).
    #[serde(deserialize_with = "positive_duration")]
    pub scan_timeout: ConfigDuration,
    /// Budget for one registry request: manifest, blob open (`registryRequestTimeout`, 15s).
    #[serde(deserialize_with = "positive_duration")]
    pub registry_request_timeout: ConfigDuration,
    /// A blob download that receives no bytes for this long fails (`stallTimeout`, 20s).
    #[serde(deserialize_with = "positive_duration")]
    pub stall_timeout: ConfigDuration,
    /// Retries of a registry request answered 429 or 5xx, or whose
    /// connection failed before an answer (`registryRetries`, 2).
    pub registry_retries: u32,
    /// First wait before a retry, doubled each time, when the registry sends
    /// no `Retry-After` (`registryRetryBackoff`, 500ms).
    #[serde(deserialize_with = "positive_duration")]
    pub registry_retry_backoff: ConfigDuration,
    /// Longest `Retry-After` honoured; a longer one fails the request at
    /// once (`maxRetryAfter`, 10s).
    #[serde(deserialize_with = "positive_duration")]
    pub max_retry_after: ConfigDuration,
    /// Redirects followed per registry request (`maxRegistryRedirects`, 5).
    pub max_registry_redirects: usize,
    /// Largest manifest or image index read (`maxManifestBytes`, 4 MiB).
    pub max_manifest_bytes: usize,
    /// Largest token-server answer read (`maxTokenResponseBytes`, 1 MiB).
    pub max_token_response_bytes: usize,
    /// Longest single wait between retries (`maxRetryBackoff`, 30s).
    #[serde(deserialize_with = "positive_duration")]
    pub max_retry_backoff: ConfigDuration,
    /// Layers downloaded at once, over all scans (`maxParallelLayerDownloads`, 4).
    pub max_parallel_layer_downloads: usize,
    /// Approximate memory for cached layer results (`layerCacheBytes`, 256 MiB).
    pub layer_cache_bytes: u64,
    /// Approximate memory for image manifests cached by digest
    /// (`manifestCacheBytes`, 16 MiB; 0 turns the cache off). A manifest
    /// named by its digest never changes, so a re-scan whose layers are
    /// cached needs no registry request. Bytes, not entries: one manifest
    /// may list thousands of layers (up to `maxManifestBytes`).
    pub manifest_cache_bytes: u64,
    /// Platform chosen from image indexes (`platform`, `linux/amd64`).
    pub platform: Platform,
    /// `insecureRegistries`, `allowRegistries`, `denyRegistries`.
    #[serde(flatten)]
    pub registries: RegistryPolicy,
}

impl Default for ScannerConfig {
    fn default() -> Self {
        ScannerConfig {
            max_layer_compressed_bytes: 2 << 30,
            max_image_compressed_bytes: 8 << 30,
            layer: LayerLimits::default(),
            scan_timeout: ConfigDuration::secs(120),
            registry_request_timeout: ConfigDuration::secs(15),
            stall_timeout: ConfigDuration::secs(20),
            registry_retries: 2,
            registry_retry_backoff: ConfigDuration(Duration::from_millis(500)),
            max_retry_after: ConfigDuration::secs(10),
            max_registry_redirects: 5,
            max_manifest_bytes: DEFAULT_MAX_MANIFEST_BYTES,
            max_token_response_bytes: DEFAULT_MAX_TOKEN_RESPONSE_BYTES,
            max_retry_backoff: ConfigDuration(DEFAULT_MAX_RETRY_BACKOFF),
            max_parallel_layer_downloads: 4,
            layer_cache_bytes: 256 << 20,
            manifest_cache_bytes: 16 << 20,
            platform: Platform::default(),
            registries: RegistryPolicy::default(),
        }
    }
}

impl ScannerConfig {
    pub fn scan_timeout(&self) -> Duration {
        self.scan_timeout.get()
    }
    pub fn registry_request_timeout(&self) -> Duration {
        self.registry_request_timeout.get()
    }
    pub fn stall_timeout(&self) -> Duration {
        self.stall_timeout.get()
    }
    /// How the registry client retries, waits and follows redirects.
    pub fn registry_options(&self) -> RegistryOptions {
        RegistryOptions {
            request_timeout: self.registry_request_timeout(),
            retries: self.registry_retries,
            retry_backoff: self.registry_retry_backoff.get(),
            max_retry_after: self.max_retry_after.get(),
            max_redirects: self.max_registry_redirects,
            max_manifest_bytes: self.max_manifest_bytes,
            max_token_response_bytes: self.max_token_response_bytes,
            max_retry_backoff: self.max_retry_backoff.get(),
        }
    }

    /// The keys of the `scanner:` section. Its struct flattens the layer,
    /// detector and registry settings, and serde's `deny_unknown_fields`
    /// does not work across `flatten`: the configuration checks the
    /// section's keys against these.
    pub fn keys() -> Vec<String> {
        match serde_yaml::to_value(ScannerConfig::default()) {
            Ok(serde_yaml::Value::Mapping(map)) => map
                .keys()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect(),
            _ => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_camel_case_keys_with_defaults() {
        let config: ScannerConfig = serde_yaml::from_str(
            "maxEntries: 10\nstallTimeout: 500ms\ninsecureRegistries: ['127.0.0.1:5000']\nplatform: linux/arm64\n",
        )
        .unwrap();
        assert_eq!(config.layer.max_entries, 10);
        assert_eq!(
            config.layer.max_file_bytes,
            LayerLimits::default().max_file_bytes
        );
        assert_eq!(config.stall_timeout(), Duration::from_millis(500));
        assert_eq!(config.registries.insecure_registries, ["127.0.0.1:5000"]);
        assert_eq!(config.platform.to_string(), "linux/arm64");
        for bad in ["stallTimeout: 0s", "stallTimeout: 0.5", "scanTimeout: -1s"] {
            assert!(serde_yaml::from_str::<ScannerConfig>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_cover_every_flattened_setting() {
        let keys = ScannerConfig::keys();
        for key in [
            "scanTimeout",
            "maxEntries",
            "maxGoBinaryBytes",
            "insecureRegistries",
            "platform",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key}: {keys:?}");
        }
        assert!(!keys.iter().any(|k| k.ends_with("Seconds")), "{keys:?}");
    }
}
