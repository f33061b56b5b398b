//! The `db:` section of the configuration: where the database comes from,
//! where it is cached, and how often it is refreshed.

use super::LoadOptions;
use crate::model::ConfigDuration;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The vulnerability database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
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
    pub fn loader(&self) -> LoadOptions {
        LoadOptions {
            snapshot_dir: Some(self.snapshot_dir()),
            ..LoadOptions::default()
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
