//! rpm databases: SQLite (`rpmdb.sqlite`), Berkeley DB hash (`Packages`) and
//! NDB (`Packages.db`). The format is recognized from the file's first bytes,
//! not its name; each backend yields header blobs, read by [`header`].

pub mod bdb;
pub mod header;
pub mod ndb;
pub mod sqlite;

use super::purl::os_purl;
use crate::inventory::detectors::{DetectError, Detected, Detector, FileMeta};
use crate::model::{Location, Package, PackageKind};
use header::RpmHeader;

/// Where rpm keeps its database: the classic and the `sysimage` location
/// (Fedora ≥ 36, SUSE), each as SQLite, BDB or NDB.
const DATABASE_PATHS: &[&str] = &[
    "var/lib/rpm/rpmdb.sqlite",
    "var/lib/rpm/Packages",
    "var/lib/rpm/Packages.db",
    "usr/lib/sysimage/rpm/rpmdb.sqlite",
    "usr/lib/sysimage/rpm/Packages",
    "usr/lib/sysimage/rpm/Packages.db",
];
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";
/// Default purl namespace until `assemble` knows the distribution.
const DEFAULT_NAMESPACE: &str = "redhat";
/// Imported signing keys appear as packages named `gpg-pubkey`; they are
/// not software and have no advisories.
const PUBKEY_PSEUDO_PACKAGE: &str = "gpg-pubkey";

#[derive(Debug, thiserror::Error)]
pub enum RpmDbError {
    #[error("sqlite rpmdb: {0}")]
    Sqlite(String),
    #[error("Berkeley DB rpmdb: {0}")]
    Bdb(String),
    #[error("NDB rpmdb: {0}")]
    Ndb(String),
    #[error("not a known rpm database format")]
    UnknownFormat,
    #[error("{bad} of {total} package headers are unreadable; first: {first}")]
    BadHeaders {
        bad: usize,
        total: usize,
        first: header::HeaderError,
    },
}

/// Reads the installed packages' headers from a database of any format.
pub fn read_headers(db: &[u8]) -> Result<Vec<RpmHeader>, RpmDbError> {
    let blobs: Vec<Vec<u8>> = if db.starts_with(SQLITE_MAGIC) {
        sqlite::blobs(db)?
    } else if ndb::is_ndb(db) {
        ndb::blobs(db)?.into_iter().map(<[u8]>::to_vec).collect()
    } else if bdb::is_bdb_hash(db) {
        bdb::blobs(db)?
    } else {
        return Err(RpmDbError::UnknownFormat);
    };
    let total = blobs.len();
    let mut headers = Vec::with_capacity(total);
    let mut failures = Vec::new();
    for blob in &blobs {
        match header::parse(blob) {
            Ok(header) => headers.push(header),
            Err(e) => failures.push(e),
        }
    }
    // A partly unreadable database is reported, never silently shortened.
    match failures.into_iter().next() {
        Some(first) => Err(RpmDbError::BadHeaders {
            bad: total - headers.len(),
            total,
            first,
        }),
        None => Ok(headers),
    }
}

pub struct RpmDetector;

impl Detector for RpmDetector {
    fn name(&self) -> &'static str {
        "rpm"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        DATABASE_PATHS.contains(&file.path)
    }

    fn detect(&self, file: &FileMeta<'_>, data: &[u8]) -> Result<Detected, DetectError> {
        let headers = read_headers(data).map_err(|e| DetectError {
            detector: self.name(),
            path: file.path.to_string(),
            reason: e.to_string(),
        })?;
        let packages: Vec<Package> = headers
            .iter()
            .filter(|h| h.name != PUBKEY_PSEUDO_PACKAGE)
            .map(|h| package(h, file.path))
            .collect();
        Ok(if packages.is_empty() {
            Detected::Nothing
        } else {
            Detected::Packages(packages)
        })
    }
}

fn package(header: &RpmHeader, path: &str) -> Package {
    let version = header.evr();
    let (source_name, source_version) = match header.source() {
        Some((name, source_evr)) => {
            // Source RPM file names carry no epoch; the binary's applies.
            let source_version = match header.epoch {
                Some(epoch) => format!("{epoch}:{source_evr}"),
                None => source_evr.to_string(),
            };
            (
                Some(name.to_string()),
                (source_version != version).then_some(source_version),
            )
        }
        None => (None, None),
    };
    let arch = header.arch.clone().filter(|a| !a.is_empty());
    Package {
        purl: os_purl(
            PackageKind::Rpm,
            DEFAULT_NAMESPACE,
            &header.name,
            &version,
            arch.as_deref(),
            None,
        ),
        name: header.name.clone(),
        version,
        kind: PackageKind::Rpm,
        source_name,
        source_version,
        arch,
        location: Location {
            layer: None,
            path: path.into(),
        },
    }
}
