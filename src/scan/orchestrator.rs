//! The scan orchestrator in front of a [`Scanner`]: tag → digest (cached
//! briefly), findings cached by `(digest, database revision)`, one scan per
//! digest however many requests want it, bounded concurrency with a bounded
//! queue, failures remembered for `errorTtl` only, and the request budget.
//! After a database swap, an image scanned under the previous revision is
//! matched again from its cached inventory instead of scanned again, so a
//! swap is not a miss storm against the registries.

use super::{ScanError, Scanner};
use crate::model::ScanReport;
use crate::registry::{Credentials, ImageRef};
use crate::scan::OrchestratorConfig;
use crate::telemetry::Metrics;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use moka::future::Cache;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// `(manifest digest, database revision)`; shared strings, so that a warm
/// lookup builds its key without allocating.
type ScanKey = (Arc<str>, Arc<str>);
type SharedScan = Shared<BoxFuture<'static, Result<Arc<ScanReport>, ScanError>>>;
type SharedResolution = Shared<BoxFuture<'static, Result<Arc<str>, ScanError>>>;

/// What is known about one image within the request's budget.
#[derive(Debug, Clone)]
pub enum Lookup {
    Scanned(Arc<ScanReport>),
    /// Still scanning when the budget ran out; the scan (or the tag
    /// resolution before it) is in flight and continues.
    Pending,
    Failed(ScanError),
}

#[derive(Debug, Clone)]
pub struct ImageLookup {
    /// The resolved digest, if resolution finished.
    pub digest: Option<String>,
    pub outcome: Lookup,
}

/// Registry credentials for a lookup, asked for only when a registry is
/// contacted: a warm review (every answer cached) needs none, and finding a
/// pod's pull secrets costs cache lookups and copies.
#[async_trait]
pub trait CredentialSource: Send + Sync {
    async fn credentials(&self) -> &Credentials;
}

#[async_trait]
impl CredentialSource for Credentials {
    async fn credentials(&self) -> &Credentials {
        self
    }
}

/// Shared by every request; cheap to clone.
#[derive(Clone)]
pub struct Orchestrator {
    inner: Arc<Inner>,
}

struct Inner {
    scanner: Arc<dyn Scanner>,
    config: OrchestratorConfig,
    metrics: Metrics,
    reports: Cache<ScanKey, Arc<ScanReport>>,
    /// digest → the database revision of its newest cached report.
    latest_revision: Cache<Arc<str>, Arc<str>>,
    scan_errors: Cache<ScanKey, ScanError>,
    /// Normalized reference → digest.
    tags: Cache<Arc<str>, Arc<str>>,
    tag_errors: Cache<Arc<str>, ScanError>,
    /// The database revision last seen, so that keys share one string.
    revision: ArcSwap<Arc<str>>,
    in_flight: Mutex<HashMap<ScanKey, SharedScan>>,
    /// Normalised reference → its resolution, running in its own task.
    resolving: Mutex<HashMap<Arc<str>, SharedResolution>>,
    permits: Arc<Semaphore>,
    queued: AtomicUsize,
    scans_started: AtomicU64,
}

/// A rough size in bytes of a cached report, for the weight bound.
fn report_weight(report: &ScanReport) -> u32 {
    let findings: usize = report
        .findings
        .iter()
        .map(|f| 200 + f.id.len() + f.package.len() + f.summary.as_ref().map_or(0, |s| s.len()))
        .sum();
    let packages: usize = report
        .inventory
        .packages
        .iter()
        .map(|p| 150 + p.name.len() + p.version.len() + p.purl.len() + p.location.path.len())
        .sum();
    u32::try_from(512 + findings + packages).unwrap_or(u32::MAX)
}

impl Orchestrator {
    pub fn new(
        scanner: Arc<dyn Scanner>,
        config: OrchestratorConfig,
        metrics: Metrics,
    ) -> Orchestrator {
        let reports = Cache::builder()
            .weigher(|_: &ScanKey, report: &Arc<ScanReport>| report_weight(report))
            .max_capacity(config.verdict_cache_max_bytes)
            .time_to_live(config.verdict_ttl.get())
            .build();
        let latest_revision = Cache::builder()
            .max_capacity(100_000)
            .time_to_live(config.verdict_ttl.get())
            .build();
        let scan_errors = Cache::builder()
            .max_capacity(10_000)
            .time_to_live(config.error_ttl.get())
            .build();
        let tags = Cache::builder()
            .max_capacity(config.tag_cache_max_entries)
            .time_to_live(config.tag_ttl.get())
            .build();
        let tag_errors = Cache::builder()
            .max_capacity(10_000)
            .time_to_live(config.error_ttl.get())
            .build();
        let permits = Arc::new(Semaphore::new(config.max_concurrent_scans.max(1)));
        Orchestrator {
            inner: Arc::new(Inner {
                scanner,
                config,
                metrics,
                reports,
                latest_revision,
                scan_errors,
                tags,
                tag_errors,
                in_flight: Mutex::new(HashMap::new()),
                resolving: Mutex::new(HashMap::new()),
                revision: ArcSwap::from_pointee(Arc::from("")),
                permits,
                queued: AtomicUsize::new(0),
                scans_started: AtomicU64::new(0),
            }),
        }
    }

    pub fn scanner(&self) -> &Arc<dyn Scanner> {
        &self.inner.scanner
    }

    /// How many scans were started since this orchestrator was created.
    pub fn scans_started(&self) -> u64 {
        self.inner.scans_started.load(Ordering::Relaxed)
    }

    /// The deadline of a request starting now (`scanTimeout`).
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.inner.config.scan_timeout.get()
    }

    /// The digest of `image`: its own if it names one, else a cached or fresh
    /// resolution of its tag. Concurrent resolutions of one tag share one.
    pub async fn resolve(
        &self,
        image: &ImageRef,
        creds: &dyn CredentialSource,
    ) -> Result<String, ScanError> {
        self.resolve_shared(image, creds)
            .await
            .map(|digest| digest.to_string())
    }

    async fn resolve_shared(
        &self,
        image: &ImageRef,
        creds: &dyn CredentialSource,
    ) -> Result<Arc<str>, ScanError> {
        if let Some(digest) = image.digest() {
            return Ok(digest.into());
        }
        let inner = &self.inner;
        let key = image.normalized();
        if let Some(digest) = inner.tags.get(key).await {
            inner.metrics.cache_lookup("tag", true);
            return Ok(digest);
        }
        if let Some(err) = inner.tag_errors.get(key).await {
            inner.metrics.cache_lookup("tag_error", true);
            return Err(err);
        }
        inner.metrics.cache_lookup("tag", false);
        let creds = creds.credentials().await;
        self.start_or_join_resolution(image, creds, key.clone())
            .await
    }

    /// The one resolution of `key`, started now if none is running. Like a
    /// scan, it runs in its own task: a review that stops waiting at its
    /// budget does not abandon it, so a registry that never answers ends in
    /// `registryRequestTimeout` and a cached error (`errorTtl`), not
    /// in an endless "being scanned". Once resolved with nobody waiting, the
    /// task starts the digest's scan too.
    fn start_or_join_resolution(
        &self,
        image: &ImageRef,
        creds: &Credentials,
        key: Arc<str>,
    ) -> SharedResolution {
        let mut resolving = lock(&self.inner.resolving);
        if let Some(resolution) = resolving.get(&key) {
            return resolution.clone();
        }
        let this = self.clone();
        let task_key = key.clone();
        let image = image.clone();
        let creds = creds.clone();
        self.inner.metrics.scans_in_flight().inc();
        let task = tokio::spawn(async move {
            let inner = &this.inner;
            let result: Result<Arc<str>, ScanError> =
                inner.scanner.resolve(&image, &creds).await.map(Arc::from);
            match &result {
                Ok(digest) => inner.tags.insert(task_key.clone(), digest.clone()).await,
                Err(error) => {
                    tracing::warn!(image = %image, %error, "tag resolution failed");
                    inner
                        .tag_errors
                        .insert(task_key.clone(), error.clone())
                        .await;
                }
            }
            // A review still waiting starts (and counts) the scan itself;
            // with none left (the map holds the only handle) it is started
            // here, so that a review that gave up finds it done or running.
            let waiting = lock(&inner.resolving)
                .get(&task_key)
                .and_then(Shared::strong_count)
                .unwrap_or(0);
            if let (Ok(digest), 0..=1) = (&result, waiting) {
                this.scan_in_background(&image, &creds, digest.clone())
                    .await;
            }
            lock(&inner.resolving).remove(&task_key);
            inner.metrics.scans_in_flight().dec();
            result
        });
        let resolution = async move {
            task.await.unwrap_or_else(|err| {
                Err(ScanError::Registry(format!(
                    "internal: the resolution task ended abnormally: {err}"
                )))
            })
        }
        .boxed()
        .shared();
        resolving.insert(key, resolution.clone());
        resolution
    }

    /// Starts the scan of `digest` unless its findings are known (cached,
    /// failed, or matched again from an earlier revision's report).
    async fn scan_in_background(&self, image: &ImageRef, creds: &Credentials, digest: Arc<str>) {
        let inner = &self.inner;
        let Some(database) = inner.scanner.database() else {
            return;
        };
        let key = (digest, self.shared_revision(&database.revision));
        if inner.reports.contains_key(&key)
            || inner.scan_errors.contains_key(&key)
            || inner.rematch(&key).await.is_some()
        {
            return;
        }
        drop(self.start_or_join(image, creds, key));
    }

    /// `revision` as the shared string the cache keys hold.
    fn shared_revision(&self, revision: &str) -> Arc<str> {
        let last = self.inner.revision.load();
        if &***last == revision {
            return (**last).clone();
        }
        let shared: Arc<str> = revision.into();
        self.inner.revision.store(Arc::new(shared.clone()));
        shared
    }

    /// Findings for `image`, waiting at most until `deadline`.
    pub async fn lookup(
        &self,
        image: &ImageRef,
        creds: &dyn CredentialSource,
        deadline: Instant,
    ) -> ImageLookup {
        let inner = &self.inner;
        let Some(database) = inner.scanner.database() else {
            return ImageLookup {
                digest: image.digest().map(str::to_string),
                outcome: Lookup::Failed(ScanError::Database(
                    "no vulnerability database is loaded yet".into(),
                )),
            };
        };
        let digest =
            match tokio::time::timeout_at(deadline, self.resolve_shared(image, creds)).await {
                Ok(Ok(digest)) => digest,
                Ok(Err(err)) => {
                    return ImageLookup {
                        digest: None,
                        outcome: Lookup::Failed(err),
                    };
                }
                Err(_) => {
                    inner.metrics.limit_hit("scanTimeout");
                    return ImageLookup {
                        digest: None,
                        outcome: Lookup::Pending,
                    };
                }
            };
        let key = (digest.clone(), self.shared_revision(&database.revision));
        let outcome = self.findings(image, creds, key, deadline).await;
        ImageLookup {
            digest: Some(digest.to_string()),
            outcome,
        }
    }

    async fn findings(
        &self,
        image: &ImageRef,
        creds: &dyn CredentialSource,
        key: ScanKey,
        deadline: Instant,
    ) -> Lookup {
        let inner = &self.inner;
        if let Some(report) = inner.reports.get(&key).await {
            inner.metrics.cache_lookup("verdict", true);
            return Lookup::Scanned(report);
        }
        if let Some(err) = inner.scan_errors.get(&key).await {
            inner.metrics.cache_lookup("scan_error", true);
            return Lookup::Failed(err);
        }
        inner.metrics.cache_lookup("verdict", false);
        if let Some(report) = inner.rematch(&key).await {
            return Lookup::Scanned(report);
        }
        // Finding credentials has its own budget (the caller's); the scan
        // is started with whatever it found.
        let creds = creds.credentials().await;
        let scan = self.start_or_join(image, creds, key);
        match tokio::time::timeout_at(deadline, scan).await {
            Ok(Ok(report)) => Lookup::Scanned(report),
            Ok(Err(err)) => Lookup::Failed(err),
            Err(_) => {
                inner.metrics.limit_hit("scanTimeout");
                Lookup::Pending
            }
        }
    }

    /// The one scan of `key`, started now if none is running. The scan runs
    /// in its own task, so it finishes (and fills the cache) even when every
    /// request waiting for it has given up.
    fn start_or_join(&self, image: &ImageRef, creds: &Credentials, key: ScanKey) -> SharedScan {
        let mut in_flight = lock(&self.inner.in_flight);
        if let Some(scan) = in_flight.get(&key) {
            return scan.clone();
        }
        self.inner.metrics.scans_in_flight().inc();
        let inner = self.inner.clone();
        let task_key = key.clone();
        let image = image.clone();
        let creds = creds.clone();
        let task = tokio::spawn(async move { inner.run_scan(task_key, image, creds).await });
        let scan = async move {
            task.await.unwrap_or_else(|err| {
                Err(ScanError::Registry(format!(
                    "internal: the scan task ended abnormally: {err}"
                )))
            })
        }
        .boxed()
        .shared();
        in_flight.insert(key, scan.clone());
        scan
    }
}

/// A map's lock; a panic elsewhere does not make the map unusable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Inner {
    /// Caches a report under its key, and its revision as the digest's newest.
    async fn remember(&self, key: &ScanKey, report: Arc<ScanReport>) {
        self.reports.insert(key.clone(), report).await;
        self.latest_revision
            .insert(key.0.clone(), key.1.clone())
            .await;
    }

    /// The findings of `key` from the digest's report under an earlier
    /// database revision, matched again against the current database.
    async fn rematch(&self, key: &ScanKey) -> Option<Arc<ScanReport>> {
        let (digest, revision) = key;
        let earlier = self.latest_revision.get(digest).await?;
        if &earlier == revision {
            return None;
        }
        let report = self.reports.get(&(digest.clone(), earlier)).await?;
        let rematched = self.scanner.rematch(&report)?;
        // The database may have been swapped again meanwhile: only a match
        // against the revision asked for answers this key.
        if *rematched.db_revision != **revision {
            return None;
        }
        self.metrics.cache_lookup("rematch", true);
        let rematched = Arc::new(rematched);
        self.remember(key, rematched.clone()).await;
        Some(rematched)
    }

    async fn run_scan(
        &self,
        key: ScanKey,
        image: ImageRef,
        creds: Credentials,
    ) -> Result<Arc<ScanReport>, ScanError> {
        let result = self.scan_once(&key, &image, &creds).await;
        match &result {
            Ok(report) => self.remember(&key, report.clone()).await,
            // Shedding is about this moment's load, not about the image.
            Err(ScanError::QueueFull { .. }) => {}
            Err(err) => self.scan_errors.insert(key.clone(), err.clone()).await,
        }
        lock(&self.in_flight).remove(&key);
        self.metrics.scans_in_flight().dec();
        result
    }

    async fn scan_once(
        &self,
        key: &ScanKey,
        image: &ImageRef,
        creds: &Credentials,
    ) -> Result<Arc<ScanReport>, ScanError> {
        // A scan of this key may have finished between the caller's cache
        // lookup and its registration as in flight.
        if let Some(report) = self.reports.get(key).await {
            return Ok(report);
        }
        let _permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let capacity = self.config.max_queued_scans;
                if self.queued.fetch_add(1, Ordering::SeqCst) >= capacity {
                    self.queued.fetch_sub(1, Ordering::SeqCst);
                    self.metrics.limit_hit("maxQueuedScans");
                    return Err(ScanError::QueueFull { capacity });
                }
                self.metrics.scans_queued().inc();
                let permit = self.permits.clone().acquire_owned().await;
                self.queued.fetch_sub(1, Ordering::SeqCst);
                self.metrics.scans_queued().dec();
                permit.map_err(|_| {
                    ScanError::Registry("internal: the scan semaphore is closed".into())
                })?
            }
        };
        self.scans_started.fetch_add(1, Ordering::Relaxed);
        self.metrics.scans_running().inc();
        let started = std::time::Instant::now();
        let result = self.scanner.scan(image, &key.0, creds).await;
        self.metrics.scans_running().dec();
        let outcome = match &result {
            Ok(_) => "ok",
            Err(err) => err.metric_label(),
        };
        self.metrics
            .scan_finished(outcome, started.elapsed().as_secs_f64());
        match &result {
            Ok(_) => {
                tracing::info!(image = %image, digest = %key.0, seconds = started.elapsed().as_secs_f64(), "scanned")
            }
            Err(err) => {
                tracing::warn!(image = %image, digest = %key.0, error = %err, "scan failed")
            }
        }
        result.map(Arc::new)
    }
}
