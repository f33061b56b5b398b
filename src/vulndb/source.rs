//! Where the database comes from (`--db`): a local directory, or a
//! `file://` / `http(s)://` mirror synced into a local cache first; and the
//! server's refresher that reloads it on an interval.

use super::load::{self, LoadError, LoadOptions};
use super::metrics::DbMetrics;
use super::snapshot;
use super::sync::{self, SyncConfig, SyncError};
use super::{Database, DbHandle};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A database root as `--db` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbSource {
    Dir(PathBuf),
    /// A mirror URL and the local directory it is synced into.
    Mirror {
        url: String,
        cache_dir: PathBuf,
    },
}

/// Default cache directory for mirrored databases.
pub const DEFAULT_DB_CACHE_DIR: &str = ".cache/scangate-db";

impl DbSource {
    /// `file://…`, `http://…`, `https://…` are mirrors; anything else a directory.
    pub fn parse(db: &str, cache_dir: &Path) -> DbSource {
        if ["file://", "http://", "https://"]
            .iter()
            .any(|p| db.starts_with(p))
        {
            DbSource::Mirror {
                url: db.to_string(),
                cache_dir: cache_dir.to_path_buf(),
            }
        } else {
            DbSource::Dir(PathBuf::from(db))
        }
    }

    /// The local root that is loaded.
    pub fn root(&self) -> &Path {
        match self {
            DbSource::Dir(dir) => dir,
            DbSource::Mirror { cache_dir, .. } => cache_dir,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("loading task failed: {0}")]
    Task(String),
}

/// Syncs the mirror (if any) and loads the root. A mirror that fails still
/// loads whatever the cache holds from earlier syncs.
pub async fn open(
    source: &DbSource,
    config: &LoadOptions,
    metrics: &DbMetrics,
) -> Result<Database, OpenError> {
    if let DbSource::Mirror { url, cache_dir } = source {
        std::fs::create_dir_all(cache_dir).map_err(|cause| LoadError::Io {
            path: cache_dir.clone(),
            cause,
        })?;
        let sync_config = SyncConfig {
            ecosystems: config.ecosystems.clone(),
            ..SyncConfig::default()
        };
        if let Err(error) = sync::sync_mirror(url, cache_dir, &sync_config, metrics).await {
            tracing::warn!(%error, mirror = %url, "mirror sync failed; using the cached copy");
        }
    }
    let root = source.root().to_path_buf();
    let config = config.clone();
    let db = tokio::task::spawn_blocking(move || load_root(&root, &config))
        .await
        .map_err(|e| OpenError::Task(e.to_string()))??;
    metrics.records.set(db.records().len() as i64);
    Ok(db)
}

/// Loads a local root: from its snapshot when `config.snapshot_dir` holds
/// one of the zips' revision, otherwise from the zips (then writing the
/// snapshot).
pub fn load_root(root: &Path, config: &LoadOptions) -> Result<Database, LoadError> {
    match &config.snapshot_dir {
        Some(dir) => snapshot::load_with_snapshot(root, config, dir),
        None => load::load_dir(root, config),
    }
}

/// One refresh: sync, and reload only when the revision changed. Returns
/// whether a new database was swapped in.
pub async fn refresh_once(
    handle: &DbHandle,
    source: &DbSource,
    config: &LoadOptions,
    metrics: &DbMetrics,
) -> Result<bool, OpenError> {
    if let DbSource::Mirror { url, cache_dir } = source {
        let sync_config = SyncConfig {
            ecosystems: config.ecosystems.clone(),
            ..SyncConfig::default()
        };
        sync::sync_mirror(url, cache_dir, &sync_config, metrics).await?;
    }
    let root = source.root().to_path_buf();
    let revision = {
        let (root, config) = (root.clone(), config.clone());
        tokio::task::spawn_blocking(move || load::revision_of(&root, &config))
            .await
            .map_err(|e| OpenError::Task(e.to_string()))??
    };
    if handle.current().is_some_and(|db| db.revision() == revision) {
        return Ok(false);
    }
    let config = config.clone();
    let db = tokio::task::spawn_blocking(move || load_root(&root, &config))
        .await
        .map_err(|e| OpenError::Task(e.to_string()))??;
    metrics.records.set(db.records().len() as i64);
    tracing::info!(
        revision = db.revision(),
        records = db.records().len(),
        "database swapped"
    );
    handle.replace(db);
    Ok(true)
}

/// Refreshes the database every `interval`, starting one interval from
/// now; readers keep the old one
/// until the new one is fully loaded, and keep it for good if loading fails.
pub fn spawn_refresher(
    handle: DbHandle,
    source: DbSource,
    config: LoadOptions,
    interval: Duration,
    metrics: DbMetrics,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // The caller has just opened the database: the first refresh is one
        // interval away, not an immediate second sync and hash of every zip.
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match refresh_once(&handle, &source, &config, &metrics).await {
                Ok(true) => metrics.reload("swapped"),
                Ok(false) => metrics.reload("unchanged"),
                Err(error) => {
                    tracing::warn!(%error, "database refresh failed; the previous database stays in service");
                    metrics.reload("failed");
                }
            }
        }
    })
}
