//! Trivy's vulnerability database (trivy-db schema 2): `trivy.db`, a bbolt
//! file, and `metadata.json` beside it, the layout of Trivy's own cache
//! directory. Top-level buckets are advisory sources (`debian 12`,
//! `amazon linux 2`, `pip::GitHub Security Advisory pip`, ...), each with
//! a bucket per package holding one JSON advisory per vulnerability id;
//! `vulnerability` holds each id's details and `data-source` each source
//! bucket's origin. This module reads them into typed values; matching
//! against an inventory is a later `vulndb` source's job.

pub mod advisory;
pub mod bbolt;
pub mod data_source;
pub mod metadata;
pub mod severity;
pub mod vulnerability;

pub use advisory::TrivyAdvisory;
pub use data_source::TrivyDataSource;
pub use metadata::{SCHEMA_VERSION, TrivyMetadata};
pub use severity::{TrivySeverity, TrivyStatus};
pub use vulnerability::{TrivyCvss, TrivyVulnerability};

use bbolt::{BboltError, Bucket, Db, Stats, Value};
use std::path::{Path, PathBuf};

/// The database file in a Trivy database directory.
pub const DB_FILE: &str = "trivy.db";
/// The metadata file in a Trivy database directory.
pub const METADATA_FILE: &str = "metadata.json";
/// Top-level bucket of vulnerability details.
pub const VULNERABILITY_BUCKET: &str = "vulnerability";
/// Top-level bucket naming each source bucket's origin.
pub const DATA_SOURCE_BUCKET: &str = "data-source";
/// Top-level buckets that hold no advisories: the two above and Red Hat's
/// CPE index (and trivy-db's build-time buckets, should one be left in).
const NOT_SOURCES: [&str; 5] = [
    VULNERABILITY_BUCKET,
    DATA_SOURCE_BUCKET,
    "Red Hat CPE",
    "vulnerability-detail",
    "advisory-detail",
];

/// Why a Trivy database cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TrivyError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("metadata.json: {source}")]
    Metadata {
        #[source]
        source: serde_json::Error,
    },
    #[error("metadata.json says schema version {found}; only {SCHEMA_VERSION} is read")]
    SchemaVersion { found: u32 },
    #[error("trivy.db: {0}")]
    Bbolt(#[from] BboltError),
    #[error("{what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{what}: {why}")]
    UnsupportedLayout { what: String, why: &'static str },
    #[error("{what} is a value where a bucket was expected")]
    NotABucket { what: String },
    #[error("{what} is a bucket where a value was expected")]
    NotAValue { what: String },
    #[error("{what} is not UTF-8")]
    NotUtf8 { what: String },
    #[error("severity {value:?} is not one of trivy-db's")]
    UnknownSeverity { value: String },
    #[error("status {value} is not one of trivy-db's")]
    UnknownStatus { value: i64 },
}

/// A top-level advisory bucket and where its data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrivySource {
    /// The bucket name, e.g. `debian 12` or `pip::GitHub Security Advisory pip`.
    pub bucket: String,
    pub data_source: Option<TrivyDataSource>,
}

/// An opened, verified Trivy database.
#[derive(Debug)]
pub struct TrivyDb {
    db: Db,
    metadata: TrivyMetadata,
    stats: Stats,
}

impl TrivyDb {
    /// Opens `dir/trivy.db` and `dir/metadata.json` and verifies every page
    /// of the database once (it is a downloaded file; a corrupt one is
    /// refused here rather than half-read later).
    pub fn open_dir(dir: &Path) -> Result<TrivyDb, TrivyError> {
        let metadata = TrivyMetadata::read(&dir.join(METADATA_FILE))?;
        let db = Db::open(&dir.join(DB_FILE))?;
        let stats = db.verify()?;
        Ok(TrivyDb {
            db,
            metadata,
            stats,
        })
    }

    pub fn metadata(&self) -> &TrivyMetadata {
        &self.metadata
    }

    /// Page and key counts found by the verification at open.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Every advisory source bucket with its data source, in name order.
    pub fn sources(&self) -> Result<Vec<TrivySource>, TrivyError> {
        let data_sources = self.db.root().bucket(DATA_SOURCE_BUCKET.as_bytes())?;
        let mut out = Vec::new();
        for entry in self.db.root().iter() {
            let (name, value) = entry?;
            let name = utf8(name, "top-level bucket name")?;
            if NOT_SOURCES.contains(&name) {
                continue;
            }
            if value.bucket().is_none() {
                return Err(TrivyError::NotABucket {
                    what: format!("top-level key {name:?}"),
                });
            }
            out.push(TrivySource {
                bucket: name.to_owned(),
                data_source: data_source_in(data_sources, name)?,
            });
        }
        Ok(out)
    }

    /// The data source recorded for source bucket `bucket`.
    pub fn data_source(&self, bucket: &str) -> Result<Option<TrivyDataSource>, TrivyError> {
        let data_sources = self.db.root().bucket(DATA_SOURCE_BUCKET.as_bytes())?;
        data_source_in(data_sources, bucket)
    }

    /// The advisories for `package` in source bucket `source`, in
    /// vulnerability id order; none when the source or package is absent.
    pub fn advisories(
        &self,
        source: &str,
        package: &str,
    ) -> Result<Vec<TrivyAdvisory>, TrivyError> {
        let Some(bucket) = self.bucket_at(self.db.root(), source, "source")? else {
            return Ok(Vec::new());
        };
        let context = || format!("{source:?}/{package:?}");
        let Some(pkg) = self.bucket_at(bucket, package, &context())? else {
            return Ok(Vec::new());
        };
        let data_source = self.data_source(source)?;
        let mut out = Vec::new();
        for entry in pkg.iter() {
            let (key, value) = entry?;
            let id = utf8(key, "advisory key")?;
            let Value::Data(value) = value else {
                return Err(TrivyError::NotAValue {
                    what: format!("advisory {id} in {}", context()),
                });
            };
            out.push(TrivyAdvisory::parse(id, value, data_source.as_ref())?);
        }
        Ok(out)
    }

    /// Like trivy-db's lookup by a source name containing `::` (e.g.
    /// `pip::`): the advisories for `package` in every source bucket whose
    /// name starts with `prefix`, in bucket then id order.
    pub fn advisories_by_prefix(
        &self,
        prefix: &str,
        package: &str,
    ) -> Result<Vec<TrivyAdvisory>, TrivyError> {
        let mut out = Vec::new();
        for source in self.sources()? {
            if source.bucket.starts_with(prefix) {
                out.extend(self.advisories(&source.bucket, package)?);
            }
        }
        Ok(out)
    }

    /// The details of vulnerability `id`, if the database has them.
    pub fn vulnerability(&self, id: &str) -> Result<Option<TrivyVulnerability>, TrivyError> {
        let Some(bucket) = self.bucket_at(self.db.root(), VULNERABILITY_BUCKET, "bucket")? else {
            return Ok(None);
        };
        match bucket.entry(id.as_bytes())? {
            None => Ok(None),
            Some(Value::Data(value)) => TrivyVulnerability::parse(id, value).map(Some),
            Some(Value::Bucket(_)) => Err(TrivyError::NotAValue {
                what: format!("vulnerability {id}"),
            }),
        }
    }

    /// Nested bucket `name` of `parent`; a plain value there is an error.
    fn bucket_at<'a>(
        &self,
        parent: Bucket<'a>,
        name: &str,
        what: &str,
    ) -> Result<Option<Bucket<'a>>, TrivyError> {
        match parent.entry(name.as_bytes())? {
            None => Ok(None),
            Some(Value::Bucket(b)) => Ok(Some(b)),
            Some(Value::Data(_)) => Err(TrivyError::NotABucket {
                what: format!("{what} {name:?}"),
            }),
        }
    }
}

fn data_source_in(
    data_sources: Option<Bucket<'_>>,
    bucket: &str,
) -> Result<Option<TrivyDataSource>, TrivyError> {
    let Some(value) = data_sources
        .map(|b| b.get(bucket.as_bytes()))
        .transpose()?
        .flatten()
    else {
        return Ok(None);
    };
    serde_json::from_slice(value)
        .map(Some)
        .map_err(|source| TrivyError::Json {
            what: format!("data source of {bucket:?}"),
            source,
        })
}

fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, TrivyError> {
    std::str::from_utf8(bytes).map_err(|_| TrivyError::NotUtf8 {
        what: format!("{what} {}", String::from_utf8_lossy(bytes)),
    })
}
