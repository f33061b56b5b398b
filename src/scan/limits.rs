//! The scanner's configuration: every limit and timeout, each a named
//! config key (camelCase) with a default.

use crate::inventory::LayerLimits;
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
    /// Budget for one whole scan (`scanTimeoutSeconds`, 120).
    pub scan_timeout_seconds: f64,
    /// Budget for one registry request: manifest, blob open (`registryRequestTimeoutSeconds`, 15).
    pub registry_request_timeout_seconds: f64,
    /// A blob download that receives no bytes for this long fails (`stallTimeoutSeconds`, 20).
    pub stall_timeout_seconds: f64,
    /// Retries of a registry request answered 429 or 5xx, or whose
    /// connection failed before an answer (`registryRetries`, 2).
    pub registry_retries: u32,
    /// First wait before a retry, doubled each time, when the registry sends
    /// no `Retry-After` (`registryRetryBackoffSeconds`, 0.5).
    pub registry_retry_backoff_seconds: f64,
    /// Longest `Retry-After` honoured; a longer one fails the request at
    /// once (`maxRetryAfterSeconds`, 10).
    pub max_retry_after_seconds: f64,
    /// Redirects followed per registry request (`maxRegistryRedirects`, 5).
    pub max_registry_redirects: usize,
    /// Largest manifest or image index read (`maxManifestBytes`, 4 MiB).
    pub max_manifest_bytes: usize,
    /// Largest token-server answer read (`maxTokenResponseBytes`, 1 MiB).
    pub max_token_response_bytes: usize,
    /// Longest single wait between retries (`maxRetryBackoffSeconds`, 30).
    pub max_retry_backoff_seconds: f64,
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
            scan_timeout_seconds: 120.0,
            registry_request_timeout_seconds: 15.0,
            stall_timeout_seconds: 20.0,
            registry_retries: 2,
            registry_retry_backoff_seconds: 0.5,
            max_retry_after_seconds: 10.0,
            max_registry_redirects: 5,
            max_manifest_bytes: DEFAULT_MAX_MANIFEST_BYTES,
            max_token_response_bytes: DEFAULT_MAX_TOKEN_RESPONSE_BYTES,
            max_retry_backoff_seconds: DEFAULT_MAX_RETRY_BACKOFF.as_secs_f64(),
            max_parallel_layer_downloads: 4,
            layer_cache_bytes: 256 << 20,
            manifest_cache_bytes: 16 << 20,
            platform: Platform::default(),
            registries: RegistryPolicy::default(),
        }
    }
}

/// Seconds from config as a duration; nonsense (negative, NaN, huge) falls
/// back to `fallback` rather than panicking.
pub fn seconds(value: f64, fallback: f64) -> Duration {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero() && d.as_secs() < 86_400)
        .unwrap_or_else(|| Duration::from_secs_f64(fallback))
}

impl ScannerConfig {
    pub fn scan_timeout(&self) -> Duration {
        seconds(self.scan_timeout_seconds, 120.0)
    }
    pub fn registry_request_timeout(&self) -> Duration {
        seconds(self.registry_request_timeout_seconds, 15.0)
    }
    pub fn stall_timeout(&self) -> Duration {
        seconds(self.stall_timeout_seconds, 20.0)
    }
    /// How the registry client retries, waits and follows redirects.
    pub fn registry_options(&self) -> RegistryOptions {
        RegistryOptions {
            request_timeout: self.registry_request_timeout(),
            retries: self.registry_retries,
            retry_backoff: seconds(self.registry_retry_backoff_seconds, 0.5),
            max_retry_after: seconds(self.max_retry_after_seconds, 10.0),
            max_redirects: self.max_registry_redirects,
            max_manifest_bytes: self.max_manifest_bytes,
            max_token_response_bytes: self.max_token_response_bytes,
            max_retry_backoff: seconds(
                self.max_retry_backoff_seconds,
                DEFAULT_MAX_RETRY_BACKOFF.as_secs_f64(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_camel_case_keys_with_defaults() {
        let config: ScannerConfig = serde_yaml::from_str(
            "maxEntries: 10\nstallTimeoutSeconds: 0.5\ninsecureRegistries: ['127.0.0.1:5000']\nplatform: linux/arm64\n",
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
        assert_eq!(seconds(-1.0, 3.0), Duration::from_secs(3));
        assert_eq!(seconds(f64::NAN, 3.0), Duration::from_secs(3));
    }
}
