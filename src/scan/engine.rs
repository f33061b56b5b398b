//! The real [`Scanner`]: manifest → platform → layers (downloaded in
//! parallel, digest-verified while they stream, analyzed without touching
//! disk, cached by digest) → inventory → matches → [`ScanReport`].

use super::cpu;
use super::layer_cache::{LayerCache, LayerCacheStats};
use super::limits::ScannerConfig;
use super::metrics::ScanMetrics;
use super::{DatabaseStatus, ScanError, Scanner};
use crate::inventory::{self, Detector, LayerAnalysis, LayerError};
use crate::model::{Inventory, ScanReport};
use crate::registry::client::{self, BlobStream};
use crate::registry::local::{self, LocalError, LocalLayer};
use crate::registry::manifest::{ImageManifest, ManifestError};
use crate::registry::{Credentials, ImageRef, ImageSource, RegistryClient, RegistryError};
use crate::vulndb::DbHandle;
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt as _;
use sha2::{Digest as _, Sha256};
use std::io::{self, BufRead, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{Semaphore, mpsc};

/// Chunks buffered between a download and its analysis; bounds memory.
const BRIDGE_CHUNKS: usize = 16;
/// Read size for local blobs.
const LOCAL_CHUNK: usize = 256 << 10;

/// The built-in image scanner. Share it (`Arc`): the layer cache, download
/// bound and registry clients are per scanner.
pub struct ImageScanner {
    config: ScannerConfig,
    registry: RegistryClient,
    detectors: Arc<Vec<Box<dyn Detector>>>,
    cache: LayerCache,
    /// (manifest digest, who read it) → the platform's manifest.
    manifests: moka::future::Cache<ManifestKey, Arc<ImageManifest>>,
    downloads: Arc<Semaphore>,
    db: DbHandle,
    metrics: ScanMetrics,
}

/// A cached manifest: its digest, and the repository and credentials it
/// was read with ([`client::access_scope`]), so that the cache never
/// answers a scan whose credentials the registry has not accepted.
type ManifestKey = (String, (String, String, [u8; 32]));

/// Approximate bytes a cached manifest and its key hold.
fn manifest_weight(key: &ManifestKey, manifest: &Arc<ImageManifest>) -> u32 {
    let (digest, (registry, repository, _)) = key;
    let descriptors: usize = std::iter::once(&manifest.config)
        .chain(&manifest.layers)
        .map(|d| 64 + d.media_type.len() + d.digest.len())
        .sum();
    let bytes = 128 + digest.len() + registry.len() + repository.len() + descriptors;
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

/// One layer to analyze, whatever its source.
enum LayerSource {
    Registry { image: ImageRef, creds: Credentials },
    Local(LocalLayer),
}

impl ImageScanner {
    pub fn new(config: ScannerConfig, db: DbHandle) -> ImageScanner {
        let registry =
            RegistryClient::with_options(config.registries.clone(), config.registry_options());
        ImageScanner {
            cache: LayerCache::new(config.layer_cache_bytes),
            manifests: moka::future::Cache::builder()
                .max_capacity(config.manifest_cache_bytes)
                .weigher(manifest_weight)
                .build(),
            downloads: Arc::new(Semaphore::new(config.max_parallel_layer_downloads.max(1))),
            detectors: Arc::new(inventory::detectors::all()),
            registry,
            config,
            db,
            metrics: ScanMetrics::default(),
        }
    }

    pub fn config(&self) -> &ScannerConfig {
        &self.config
    }

    pub fn cache_stats(&self) -> LayerCacheStats {
        self.cache.stats()
    }

    /// Drops every cached layer result and manifest (benchmarks: a cold scan).
    pub fn clear_cache(&self) {
        self.cache.clear();
        self.manifests.invalidate_all();
    }

    /// Registers the scanner's metrics (`scangate_scan_*`, `scangate_layer_*`).
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.metrics.register(registry);
        self.registry.metrics().register(registry);
    }

    /// The inventory of a registry image at `digest` (no matching).
    pub async fn inventory(
        &self,
        image: &ImageRef,
        digest: &str,
        creds: &Credentials,
    ) -> Result<Inventory, ScanError> {
        self.within_budget(self.registry_inventory(image, digest, creds))
            .await
    }

    /// Scans any source: a registry reference, `oci:DIR[:TAG]` or
    /// `docker-archive:FILE` (see [`ImageSource::parse`]).
    pub async fn scan_source(
        &self,
        source: &ImageSource,
        creds: &Credentials,
    ) -> Result<ScanReport, ScanError> {
        match source {
            ImageSource::Registry(image) => {
                let digest = self.resolve(image, creds).await?;
                self.scan(image, &digest, creds).await
            }
            ImageSource::OciLayout { dir, tag } => {
                let name = match tag {
                    Some(tag) => format!("oci:{}:{tag}", dir.display()),
                    None => format!("oci:{}", dir.display()),
                };
                let (dir, tag, platform) = (dir.clone(), tag.clone(), self.config.platform.clone());
                let loaded = self
                    .blocking(move || local::load_oci_layout(&dir, tag.as_deref(), &platform))
                    .await;
                self.report_local(name, loaded).await
            }
            ImageSource::DockerArchive(file) => {
                let name = format!("docker-archive:{}", file.display());
                let file = file.clone();
                let loaded = self
                    .blocking(move || local::load_docker_archive(&file))
                    .await;
                self.report_local(name, loaded).await
            }
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, LocalError> + Send + 'static,
    ) -> Result<T, ScanError> {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ScanError::Local(format!("reader task failed: {e}")))?
            .map_err(local_error)
    }

    async fn report_local(
        &self,
        name: String,
        loaded: Result<local::LocalImage, ScanError>,
    ) -> Result<ScanReport, ScanError> {
        let result = async {
            let image = loaded?;
            let inventory = self
                .within_budget(async {
                    let sizes: Vec<u64> = image.layers.iter().map(|l| l.size).collect();
                    self.check_sizes(&sizes)?;
                    let sources = image
                        .layers
                        .iter()
                        .map(|layer| {
                            (
                                layer.digest.clone(),
                                layer.size,
                                LayerSource::Local(layer.clone()),
                            )
                        })
                        .collect();
                    self.analyse_layers(sources).await
                })
                .await?;
            self.report(name, image.digest, inventory).await
        }
        .await;
        self.finish(result)
    }

    fn finish(&self, result: Result<ScanReport, ScanError>) -> Result<ScanReport, ScanError> {
        match &result {
            Ok(_) => {
                self.metrics.scans.inc();
            }
            Err(error) => {
                tracing::warn!(%error, "scan failed");
                self.metrics.record_failure(error);
            }
        };
        result
    }

    async fn within_budget<T>(
        &self,
        work: impl Future<Output = Result<T, ScanError>>,
    ) -> Result<T, ScanError> {
        let budget = self.config.scan_timeout();
        tokio::time::timeout(budget, work)
            .await
            .unwrap_or(Err(ScanError::Timeout {
                timeout: "scanTimeout",
                seconds: budget.as_secs_f64(),
                registry: None,
            }))
    }

    fn check_sizes(&self, sizes: &[u64]) -> Result<(), ScanError> {
        let limit = self.config.max_layer_compressed_bytes;
        if let Some(size) = sizes.iter().find(|size| **size > limit) {
            return Err(ScanError::Limit {
                limit: "maxLayerCompressedBytes",
                detail: format!("a layer of {size} bytes, limit {limit}"),
            });
        }
        let total = sizes
            .iter()
            .fold(0u64, |sum, size| sum.saturating_add(*size));
        if total > self.config.max_image_compressed_bytes {
            return Err(ScanError::Limit {
                limit: "maxImageCompressedBytes",
                detail: format!(
                    "{total} bytes of layers, limit {}",
                    self.config.max_image_compressed_bytes
                ),
            });
        }
        Ok(())
    }

    async fn registry_inventory(
        &self,
        image: &ImageRef,
        digest: &str,
        creds: &Credentials,
    ) -> Result<Inventory, ScanError> {
        let manifest = self.manifest(image, digest, creds).await?;
        let sizes: Vec<u64> = manifest
            .layers
            .iter()
            .map(|l| u64::try_from(l.size).unwrap_or(u64::MAX))
            .collect();
        self.check_sizes(&sizes)?;
        let sources = manifest
            .layers
            .iter()
            .zip(sizes)
            .map(|(layer, size)| {
                let source = LayerSource::Registry {
                    image: image.clone(),
                    creds: creds.clone(),
                };
                (layer.digest.clone(), size, source)
            })
            .collect();
        self.analyse_layers(sources).await
    }

    /// The image manifest at `digest` (the platform's, for an index). A
    /// manifest named by its digest never changes (the client verifies the
    /// bytes against it), so it is cached: re-scanning a running digest
    /// after a database change, with its layers cached too, sends no
    /// request to its registry and spends none of its pull quota. Keyed by
    /// repository and credentials too: other credentials are checked by the
    /// registry again.
    async fn manifest(
        &self,
        image: &ImageRef,
        digest: &str,
        creds: &Credentials,
    ) -> Result<Arc<ImageManifest>, ScanError> {
        let fetched = AtomicBool::new(false);
        let manifest = self
            .manifests
            .try_get_with(
                (digest.to_string(), client::access_scope(image, creds)),
                async {
                    fetched.store(true, Ordering::Relaxed);
                    self.registry
                        .image_manifest(image, digest, creds, &self.config.platform)
                        .await
                        .map(|(_, manifest)| Arc::new(manifest))
                        .map_err(registry_error)
                },
            )
            .await
            .map_err(|e| (*e).clone())?;
        if !fetched.load(Ordering::Relaxed) {
            self.metrics.manifest_cache_hits.inc();
        }
        Ok(manifest)
    }

    /// Analyses every layer (in parallel, bounded, cached) and stacks them.
    async fn analyse_layers(
        &self,
        layers: Vec<(String, u64, LayerSource)>,
    ) -> Result<Inventory, ScanError> {
        let work = layers.into_iter().map(|(digest, size, source)| async move {
            let (analysis, hit) = self
                .cache
                .get_or_analyze(&digest, self.analyse_one(&digest, size, source))
                .await?;
            if hit {
                self.metrics.layer_cache_hits.inc();
            }
            Ok::<_, ScanError>(analysis)
        });
        let analyses: Vec<Arc<LayerAnalysis>> = futures::future::try_join_all(work).await?;
        // Stacking a large image's layers is milliseconds of CPU: off the
        // async workers, as matching is.
        cpu::offload(move || inventory::assemble(&analyses))
            .await
            .map_err(|e| ScanError::Local(format!("inventory task failed: {e}")))
    }

    async fn analyse_one(
        &self,
        digest: &str,
        size: u64,
        source: LayerSource,
    ) -> Result<LayerAnalysis, ScanError> {
        let _permit = self
            .downloads
            .acquire()
            .await
            .map_err(|_| ScanError::Registry("scanner shutting down".into()))?;
        self.metrics.layer_analyses.inc();
        let stream: BlobStream = match source {
            LayerSource::Registry { image, creds } => self
                .registry
                .blob(&image, digest, &creds)
                .await
                .map_err(registry_error)?,
            LayerSource::Local(layer) => local_stream(layer),
        };
        let analysis = self.analyse_stream(digest, size, stream).await?;
        for problem in &analysis.problems {
            if let inventory::LayerProblem::FileTooLarge { key, .. } = problem {
                self.metrics
                    .file_limits
                    .get_or_create(&super::metrics::LimitLabel {
                        limit: key.to_string(),
                    })
                    .inc();
            }
        }
        Ok(analysis)
    }

    /// Feeds a blob stream to the layer walker through a bounded channel,
    /// hashing as it goes. The walker runs on a blocking thread; the bytes
    /// never touch disk.
    async fn analyse_stream(
        &self,
        digest: &str,
        declared_size: u64,
        mut stream: BlobStream,
    ) -> Result<LayerAnalysis, ScanError> {
        let (sender, receiver) = mpsc::channel::<io::Result<Bytes>>(BRIDGE_CHUNKS);
        let detectors = Arc::clone(&self.detectors);
        let limits = self.config.layer.clone();
        let owned_digest = digest.to_string();
        // Not `cpu::offload`: an admission scan may wait on this layer
        // through the cache, so it runs at the normal priority always.
        let walker = tokio::task::spawn_blocking(move || {
            let reader = ChannelReader {
                receiver,
                current: Bytes::new(),
            };
            inventory::analyze_buffered_layer(reader, &owned_digest, &detectors, &limits)
        });
        let stall = self.config.stall_timeout();
        let max_bytes = self.config.max_layer_compressed_bytes;
        let metrics = self.metrics.clone();
        let pump = async move {
            let mut hasher = Sha256::new();
            let mut received: u64 = 0;
            let failure = loop {
                let next = match tokio::time::timeout(stall, stream.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        break Some(ScanError::Timeout {
                            timeout: "stallTimeout",
                            seconds: stall.as_secs_f64(),
                            registry: None,
                        });
                    }
                };
                match next {
                    Some(Ok(chunk)) => {
                        received = received.saturating_add(chunk.len() as u64);
                        metrics.blob_bytes.inc_by(chunk.len() as u64);
                        if received > max_bytes || received > declared_size {
                            break Some(if received > max_bytes {
                                ScanError::Limit {
                                    limit: "maxLayerCompressedBytes",
                                    detail: format!("layer {digest} above {max_bytes} bytes"),
                                }
                            } else {
                                ScanError::DigestMismatch {
                                    what: format!("layer {digest}"),
                                    expected: format!("{declared_size} bytes"),
                                    actual: format!("more than {declared_size} bytes"),
                                }
                            });
                        }
                        hasher.update(&chunk);
                        if sender.send(Ok(chunk)).await.is_err() {
                            // The walker stopped early (it failed); its error is the answer.
                            break Some(ScanError::Layer {
                                digest: digest.to_string(),
                                reason: "analysis stopped before the end of the blob".into(),
                            });
                        }
                    }
                    // The end, or a transport error: the byte count and this,
                    // the blob's only hash, decide.
                    None | Some(Err(_)) => {
                        if received < declared_size {
                            break Some(ScanError::Truncated {
                                digest: digest.to_string(),
                                received,
                                expected: declared_size,
                            });
                        }
                        let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
                        if actual != digest {
                            break Some(ScanError::DigestMismatch {
                                what: format!("layer {digest}"),
                                expected: digest.to_string(),
                                actual,
                            });
                        }
                        break None;
                    }
                }
            };
            match failure {
                Some(error) => {
                    // Make the walker stop with an error rather than a result.
                    let _ = sender.send(Err(io::Error::other(error.to_string()))).await;
                    Err(error)
                }
                None => Ok(()),
            }
        };
        let (pumped, walked) = tokio::join!(pump, walker);
        let walked = walked.map_err(|e| ScanError::Layer {
            digest: digest.to_string(),
            reason: format!("analysis task failed: {e}"),
        })?;
        match (pumped, walked) {
            (Ok(()), Ok(analysis)) => Ok(analysis),
            // Bytes that are not the blob explain whatever the walker made
            // of them (a corrupt gzip trailer, say): the mismatch is the cause.
            (Err(error @ ScanError::DigestMismatch { .. }), _) => Err(error),
            // The walker's own error (a limit, corruption) is the cause when
            // it stopped first; otherwise the download's.
            (_, Err(error)) if !matches!(error, LayerError::Source { .. }) => {
                Err(layer_error(error))
            }
            (Err(error), _) => Err(error),
            (Ok(()), Err(error)) => Err(layer_error(error)),
        }
    }

    /// Matches `inventory` against the database in service, on a blocking
    /// thread: a match of a large image takes milliseconds of CPU, which on
    /// an async worker would delay every admission review queued behind it.
    async fn report(
        &self,
        image: String,
        digest: String,
        inventory: Inventory,
    ) -> Result<ScanReport, ScanError> {
        let db = self
            .db
            .current()
            .ok_or_else(|| ScanError::Database("no vulnerability database loaded".into()))?;
        cpu::offload(move || {
            let outcome = db.match_inventory(&inventory);
            ScanReport {
                image,
                digest,
                db_revision: db.revision().to_string(),
                scanned_at: jiff::Timestamp::now().to_string(),
                inventory,
                findings: outcome.findings,
                unchecked: outcome.unchecked,
            }
        })
        .await
        .map_err(|e| ScanError::Database(format!("matching task failed: {e}")))
    }
}

#[async_trait]
impl Scanner for ImageScanner {
    async fn resolve(&self, image: &ImageRef, creds: &Credentials) -> Result<String, ScanError> {
        let result = self
            .registry
            .resolve_digest(image, creds)
            .await
            .map_err(registry_error);
        if let Err(error) = &result {
            self.metrics.record_failure(error);
        }
        result
    }

    async fn scan(
        &self,
        image: &ImageRef,
        digest: &str,
        creds: &Credentials,
    ) -> Result<ScanReport, ScanError> {
        if !crate::registry::manifest::valid_digest(digest) {
            return self.finish(Err(ScanError::Registry(format!(
                "invalid digest {:?}",
                digest.chars().take(80).collect::<String>()
            ))));
        }
        let result = async {
            let inventory = self.inventory(image, digest, creds).await?;
            self.report(image.to_string(), digest.to_string(), inventory)
                .await
        }
        .await;
        self.finish(result)
    }

    fn rematch(&self, report: &ScanReport) -> Option<ScanReport> {
        let db = self.db.current()?;
        let outcome = db.match_inventory(&report.inventory);
        Some(ScanReport {
            db_revision: db.revision().to_string(),
            findings: outcome.findings,
            unchecked: outcome.unchecked,
            ..report.clone()
        })
    }

    fn database(&self) -> Option<DatabaseStatus> {
        self.db.current().map(|db| DatabaseStatus {
            revision: db.revision().to_string(),
            updated_at: db.updated_at(),
        })
    }
}

/// The blocking side of the bridge: chunks from the channel as a `BufRead`,
/// so the decompressor reads each received chunk in place.
struct ChannelReader {
    receiver: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = buf.len().min(available.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ChannelReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.current.is_empty() {
            match self.receiver.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(error)) => return Err(error),
                None => break,
            }
        }
        Ok(&self.current)
    }

    fn consume(&mut self, amount: usize) {
        let amount = amount.min(self.current.len());
        bytes::Buf::advance(&mut self.current, amount);
    }
}

/// A local blob as a stream of chunks read on blocking threads.
fn local_stream(layer: LocalLayer) -> BlobStream {
    let opened = std::sync::Arc::new(std::sync::Mutex::new(None::<Box<dyn Read + Send>>));
    let state = (layer, opened, false);
    futures::stream::unfold(state, |(layer, reader, done)| async move {
        if done {
            return None;
        }
        let handle = Arc::clone(&reader);
        let layer_for_task = layer.clone();
        let read = tokio::task::spawn_blocking(move || -> io::Result<Bytes> {
            let mut guard = handle
                .lock()
                .map_err(|_| io::Error::other("reader lock poisoned"))?;
            if guard.is_none() {
                *guard = Some(Box::new(layer_for_task.open()?));
            }
            let mut buf = vec![0u8; LOCAL_CHUNK];
            let n = match guard.as_mut() {
                Some(reader) => reader.read(&mut buf)?,
                None => 0,
            };
            buf.truncate(n);
            Ok(Bytes::from(buf))
        })
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
        match read {
            Ok(bytes) if bytes.is_empty() => None,
            Ok(bytes) => Some((Ok(bytes), (layer, reader, false))),
            Err(error) => Some((Err(error), (layer, reader, true))),
        }
    })
    .boxed()
}

fn registry_error(error: RegistryError) -> ScanError {
    match error {
        RegistryError::Guard(e) => ScanError::Refused(e.to_string()),
        RegistryError::Unauthorized { .. } => ScanError::Unauthorized(error.to_string()),
        RegistryError::NotFound { .. } => ScanError::NotFound(error.to_string()),
        RegistryError::Manifest(e) => manifest_error(e),
        RegistryError::DigestMismatch {
            what,
            expected,
            actual,
        } => ScanError::DigestMismatch {
            what,
            expected,
            actual,
        },
        RegistryError::Timeout { registry, seconds } => ScanError::Timeout {
            timeout: "registryRequestTimeout",
            seconds,
            registry: Some(registry),
        },
        RegistryError::RetriesExhausted { .. } => ScanError::Limit {
            limit: "registryRetries",
            detail: error.to_string(),
        },
        RegistryError::RetryAfterTooLong { .. } => ScanError::Limit {
            limit: "maxRetryAfter",
            detail: error.to_string(),
        },
        RegistryError::TooLarge { limit, .. } => ScanError::Limit {
            limit,
            detail: error.to_string(),
        },
        RegistryError::TooManyRedirects { .. } => ScanError::Limit {
            limit: "maxRegistryRedirects",
            detail: error.to_string(),
        },
        RegistryError::Other { .. } => ScanError::Registry(error.to_string()),
    }
}

fn manifest_error(error: ManifestError) -> ScanError {
    match error {
        ManifestError::PlatformMissing { wanted, available } => {
            ScanError::PlatformMissing { wanted, available }
        }
        other => ScanError::Unsupported(other.to_string()),
    }
}

fn local_error(error: LocalError) -> ScanError {
    match error {
        LocalError::Manifest(e) => manifest_error(e),
        LocalError::DigestMismatch {
            what,
            expected,
            actual,
        } => ScanError::DigestMismatch {
            what,
            expected,
            actual,
        },
        other => ScanError::Local(other.to_string()),
    }
}

fn layer_error(error: LayerError) -> ScanError {
    match error {
        LayerError::UncompressedTooLarge { digest, limit } => ScanError::Limit {
            limit: "maxUncompressedBytes",
            detail: format!("layer {digest} above {limit} uncompressed bytes"),
        },
        LayerError::TooManyEntries { digest, limit } => ScanError::Limit {
            limit: "maxEntries",
            detail: format!("layer {digest} above {limit} entries"),
        },
        other => {
            let digest = match &other {
                LayerError::UnsupportedCompression { digest, .. }
                | LayerError::Truncated { digest, .. }
                | LayerError::Corrupt { digest, .. }
                | LayerError::Source { digest, .. } => digest.clone(),
                _ => String::new(),
            };
            // The walker's message names the layer already.
            let text = other.to_string();
            let reason = text
                .strip_prefix(&format!("layer {digest}: "))
                .map(str::to_string)
                .unwrap_or(text);
            ScanError::Layer { digest, reason }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::manifest::Descriptor;

    fn layer(n: usize) -> Descriptor {
        Descriptor {
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            digest: format!("sha256:{n:064x}"),
            size: 1,
            platform: None,
        }
    }

    #[test]
    fn a_manifest_weighs_what_its_layers_hold() {
        let key: ManifestKey = (
            format!("sha256:{:064x}", 0),
            ("r.example".into(), "team/app".into(), [0; 32]),
        );
        let weigh = |layers: usize| {
            let manifest = ImageManifest {
                config: layer(0),
                layers: (1..=layers).map(layer).collect(),
            };
            manifest_weight(&key, &Arc::new(manifest))
        };
        // A hostile manifest of many layers must cost its size against
        // manifestCacheBytes, not count as one entry.
        assert!(weigh(1) < 1024, "{}", weigh(1));
        assert!(weigh(20_000) > 20_000 * 100, "{}", weigh(20_000));
        assert!(weigh(20_000) > weigh(10_000));
    }
}
