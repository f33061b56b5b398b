//! Mirroring an OSV export (`<mirror>/<Ecosystem>/all.zip`) into a local
//! directory: conditional requests, each zip verified before it replaces
//! the previous one, and an atomic rename so a reader never sees half a
//! file. A failed or corrupt download keeps the previous zip.

use super::load::{self, DEFAULT_MAX_RECORD_BYTES};
use super::metrics::DbMetrics;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// How syncing behaves (`database.sync` in the config).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SyncConfig {
    /// Base ecosystems to fetch; empty means the mirror's `ecosystems.txt`
    /// (or, failing that, those already in the directory).
    pub ecosystems: Vec<String>,
    /// Timeout of one whole download (`timeoutSeconds`).
    pub timeout_seconds: u64,
    /// Largest zip accepted, in bytes (`maxZipBytes`).
    pub max_zip_bytes: u64,
}

/// Default for [`SyncConfig::timeout_seconds`].
pub const DEFAULT_SYNC_TIMEOUT_SECONDS: u64 = 600;
/// Default for [`SyncConfig::max_zip_bytes`]: the largest real export
/// zips are a few hundred MiB.
pub const DEFAULT_MAX_ZIP_BYTES: u64 = 2 << 30;

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            ecosystems: Vec::new(),
            timeout_seconds: DEFAULT_SYNC_TIMEOUT_SECONDS,
            max_zip_bytes: DEFAULT_MAX_ZIP_BYTES,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("mirror URL {0}: only file://, http:// and https:// are supported")]
    Scheme(String),
    #[error("mirror URL {url}: {cause}")]
    BadUrl { url: String, cause: url::ParseError },
    #[error("no ecosystems to sync: none configured, the mirror lists none and {0} holds none")]
    NoEcosystems(PathBuf),
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("HTTP client: {0}")]
    Client(reqwest::Error),
}

/// Why one ecosystem could not be updated.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("request failed: {0}")]
    Http(reqwest::Error),
    #[error("server answered {0}")]
    Status(reqwest::StatusCode),
    #[error("larger than the limit of {0} bytes")]
    TooLarge(u64),
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("downloaded zip is unusable: {0}")]
    Corrupt(String),
}

/// What happened to one ecosystem.
#[derive(Debug)]
pub enum EcosystemSync {
    Updated { records: usize },
    Unchanged,
    Failed(FetchError),
}

/// The outcome of one sync, per ecosystem (sorted by name).
#[derive(Debug, Default)]
pub struct SyncReport {
    pub ecosystems: Vec<(String, EcosystemSync)>,
}

impl SyncReport {
    pub fn failed(&self) -> usize {
        self.ecosystems
            .iter()
            .filter(|(_, s)| matches!(s, EcosystemSync::Failed(_)))
            .count()
    }
}

/// Validators remembered from the last download, beside the zip.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Validators {
    etag: Option<String>,
    last_modified: Option<String>,
}

fn meta_path(zip: &Path) -> PathBuf {
    zip.with_file_name("all.zip.meta.json")
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |cause| FetchError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

/// Parses a mirror location; a bare path is taken as a directory.
pub fn parse_mirror(mirror: &str) -> Result<Url, SyncError> {
    let mut url = match Url::parse(mirror) {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            let path = std::path::absolute(mirror).map_err(|cause| SyncError::Io {
                path: mirror.into(),
                cause,
            })?;
            Url::from_directory_path(&path).map_err(|()| SyncError::Scheme(mirror.into()))?
        }
        Err(cause) => {
            return Err(SyncError::BadUrl {
                url: mirror.into(),
                cause,
            });
        }
    };
    if !matches!(url.scheme(), "file" | "http" | "https") {
        return Err(SyncError::Scheme(mirror.into()));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn local_ecosystems(dir: &Path) -> Vec<String> {
    load::zips_in(dir)
        .map(|z| z.into_iter().map(|(eco, _)| eco).collect())
        .unwrap_or_default()
}

async fn mirror_ecosystems(client: &reqwest::Client, mirror: &Url) -> Vec<String> {
    if mirror.scheme() == "file" {
        return mirror
            .to_file_path()
            .map(|p| local_ecosystems(&p))
            .unwrap_or_default();
    }
    let Ok(url) = mirror.join("ecosystems.txt") else {
        return Vec::new();
    };
    let text = match client.get(url).send().await {
        Ok(resp) if resp.status().is_success() => resp.text().await.unwrap_or_default(),
        _ => return Vec::new(),
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains('/') && !l.contains(".."))
        .map(String::from)
        .collect()
}

/// Syncs every wanted ecosystem of `mirror` into `dir`. Per-ecosystem
/// failures are reported (and counted), not returned as errors.
pub async fn sync_mirror(
    mirror: &str,
    dir: &Path,
    config: &SyncConfig,
    metrics: &DbMetrics,
) -> Result<SyncReport, SyncError> {
    let mirror = parse_mirror(mirror)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(config.timeout_seconds))
        .build()
        .map_err(SyncError::Client)?;
    let mut wanted = config.ecosystems.clone();
    if wanted.is_empty() {
        wanted = mirror_ecosystems(&client, &mirror).await;
    }
    if wanted.is_empty() {
        wanted = local_ecosystems(dir);
    }
    if wanted.is_empty() {
        return Err(SyncError::NoEcosystems(dir.to_path_buf()));
    }
    wanted.sort();
    wanted.dedup();
    let mut report = SyncReport::default();
    for eco in wanted {
        let outcome = sync_one(&client, &mirror, dir, &eco, config).await;
        let label = match &outcome {
            Ok(EcosystemSync::Updated { records }) => {
                tracing::info!(ecosystem = %eco, records, "database ecosystem updated");
                "updated"
            }
            Ok(_) => "unchanged",
            Err(error) => {
                tracing::warn!(ecosystem = %eco, %error, "database sync failed; keeping the previous zip");
                "failed"
            }
        };
        metrics.sync(&eco, label);
        report
            .ecosystems
            .push((eco, outcome.unwrap_or_else(EcosystemSync::Failed)));
    }
    Ok(report)
}

/// The new zip's bytes and validators, or `None` when unchanged.
struct Fetched {
    bytes: Vec<u8>,
    validators: Validators,
}

async fn fetch_http(
    client: &reqwest::Client,
    url: Url,
    previous: &Validators,
    max: u64,
) -> Result<Option<Fetched>, FetchError> {
    let mut request = client.get(url);
    if let Some(etag) = &previous.etag {
        request = request.header(reqwest::header::IF_NONE_MATCH, etag);
    }
    if let Some(date) = &previous.last_modified {
        request = request.header(reqwest::header::IF_MODIFIED_SINCE, date);
    }
    let mut resp = request.send().await.map_err(FetchError::Http)?;
    if resp.status() == reqwest::StatusCode::NOT_MODIFIED {
        return Ok(None);
    }
    if !resp.status().is_success() {
        return Err(FetchError::Status(resp.status()));
    }
    let header = |name| {
        resp.headers()
            .get(name)
            .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
            .map(String::from)
    };
    let validators = Validators {
        etag: header(reqwest::header::ETAG),
        last_modified: header(reqwest::header::LAST_MODIFIED),
    };
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(FetchError::Http)? {
        if (bytes.len() + chunk.len()) as u64 > max {
            return Err(FetchError::TooLarge(max));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some(Fetched { bytes, validators }))
}

fn fetch_file(cause: &Path, current: &Path, max: u64) -> Result<Option<Fetched>, FetchError> {
    let len = std::fs::metadata(cause).map_err(io_err(cause))?.len();
    if len > max {
        return Err(FetchError::TooLarge(max));
    }
    let bytes = std::fs::read(cause).map_err(io_err(cause))?;
    if std::fs::read(current).is_ok_and(|old| old == bytes) {
        return Ok(None);
    }
    Ok(Some(Fetched {
        bytes,
        validators: Validators::default(),
    }))
}

async fn sync_one(
    client: &reqwest::Client,
    mirror: &Url,
    dir: &Path,
    eco: &str,
    config: &SyncConfig,
) -> Result<EcosystemSync, FetchError> {
    let eco_dir = dir.join(eco);
    let target = eco_dir.join("all.zip");
    let previous: Validators = if target.is_file() {
        std::fs::read(meta_path(&target))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    } else {
        Validators::default()
    };
    let url = mirror
        .join(&format!("{eco}/all.zip"))
        .map_err(|e| FetchError::Corrupt(format!("cannot form the URL: {e}")))?;
    let fetched = if url.scheme() == "file" {
        let cause = url
            .to_file_path()
            .map_err(|()| FetchError::Corrupt(format!("not a local path: {url}")))?;
        fetch_file(&cause, &target, config.max_zip_bytes)?
    } else {
        fetch_http(client, url, &previous, config.max_zip_bytes).await?
    };
    let Some(fetched) = fetched else {
        return Ok(EcosystemSync::Unchanged);
    };
    std::fs::create_dir_all(&eco_dir).map_err(io_err(&eco_dir))?;
    let records = tokio::task::spawn_blocking({
        let eco_dir = eco_dir.clone();
        move || install(&eco_dir, &target, fetched)
    })
    .await
    .map_err(|e| FetchError::Corrupt(format!("verification task failed: {e}")))??;
    Ok(EcosystemSync::Updated { records })
}

/// Writes the zip beside its target, verifies it, then renames it over the
/// target (atomic on one filesystem); the validators follow the zip.
fn install(eco_dir: &Path, target: &Path, fetched: Fetched) -> Result<usize, FetchError> {
    use std::io::Write;
    let mut tmp = tempfile::Builder::new()
        .prefix(".all.zip.")
        .tempfile_in(eco_dir)
        .map_err(io_err(eco_dir))?;
    tmp.write_all(&fetched.bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(io_err(tmp.path()))?;
    let records = verify(tmp.path())?;
    tmp.persist(target).map_err(|e| FetchError::Io {
        path: target.to_path_buf(),
        cause: e.error,
    })?;
    let meta = meta_path(target);
    let json = serde_json::to_vec(&fetched.validators)
        .map_err(|e| FetchError::Corrupt(format!("validators: {e}")))?;
    let mut tmp_meta = tempfile::Builder::new()
        .prefix(".meta.")
        .tempfile_in(eco_dir)
        .map_err(io_err(eco_dir))?;
    tmp_meta.write_all(&json).map_err(io_err(&meta))?;
    tmp_meta.persist(&meta).map_err(|e| FetchError::Io {
        path: meta.clone(),
        cause: e.error,
    })?;
    Ok(records)
}

/// A zip is usable when it opens and most of its records parse: a newer
/// export may hold a record we cannot read, but a zip where nothing (or
/// mostly nothing) parses is damaged.
fn verify(path: &Path) -> Result<usize, FetchError> {
    let (records, skipped, _) = load::count_records(path, DEFAULT_MAX_RECORD_BYTES)
        .map_err(|e| FetchError::Corrupt(e.to_string()))?;
    if records == 0 && skipped > 0 || skipped > records {
        return Err(FetchError::Corrupt(format!(
            "{skipped} of {} records do not parse",
            records + skipped
        )));
    }
    Ok(records)
}
