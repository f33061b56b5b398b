//! A record in the form the loader hands over from its worker threads and
//! the snapshot stores: the record without its index entries.

use super::VulnRecord;
use crate::model::{ArcStr, Severity, SeveritySource};
use serde::{Deserialize, Serialize};

/// Where a severity came from, as stored: [`SeveritySource`] is an
/// internally tagged enum, which postcard cannot read back.
#[derive(Serialize, Deserialize)]
enum StoredSource {
    Cvss(ArcStr),
    DatabaseSpecific,
    Distro(ArcStr),
    Alias(ArcStr),
    None,
}

impl From<&SeveritySource> for StoredSource {
    fn from(source: &SeveritySource) -> StoredSource {
        match source {
            SeveritySource::Cvss { version } => StoredSource::Cvss(version.clone()),
            SeveritySource::DatabaseSpecific => StoredSource::DatabaseSpecific,
            SeveritySource::Distro { name } => StoredSource::Distro(name.clone()),
            SeveritySource::Alias { id } => StoredSource::Alias(id.clone()),
            SeveritySource::None => StoredSource::None,
        }
    }
}

impl From<StoredSource> for SeveritySource {
    fn from(source: StoredSource) -> SeveritySource {
        match source {
            StoredSource::Cvss(version) => SeveritySource::Cvss { version },
            StoredSource::DatabaseSpecific => SeveritySource::DatabaseSpecific,
            StoredSource::Distro(name) => SeveritySource::Distro { name },
            StoredSource::Alias(id) => SeveritySource::Alias { id },
            StoredSource::None => SeveritySource::None,
        }
    }
}

/// A record as stored (also the loader's hand-over from its worker
/// threads, see `load::UnitResult`).
#[derive(Serialize, Deserialize)]
pub(super) struct StoredRecord {
    id: ArcStr,
    aliases: Vec<ArcStr>,
    upstream: Vec<ArcStr>,
    summary: Option<ArcStr>,
    published: Option<ArcStr>,
    severity: Severity,
    severity_source: StoredSource,
    cvss_score: Option<f64>,
    cvss_vector: Option<ArcStr>,
}

impl From<&VulnRecord> for StoredRecord {
    fn from(r: &VulnRecord) -> StoredRecord {
        StoredRecord {
            id: r.id.clone(),
            aliases: r.aliases.clone(),
            upstream: r.upstream.clone(),
            summary: r.summary.clone(),
            published: r.published.clone(),
            severity: r.severity,
            severity_source: StoredSource::from(&r.severity_source),
            cvss_score: r.cvss_score,
            cvss_vector: r.cvss_vector.clone(),
        }
    }
}

impl From<StoredRecord> for VulnRecord {
    fn from(r: StoredRecord) -> VulnRecord {
        VulnRecord {
            id: r.id,
            aliases: r.aliases,
            upstream: r.upstream,
            summary: r.summary,
            published: r.published,
            severity: r.severity,
            severity_source: r.severity_source.into(),
            cvss_score: r.cvss_score,
            cvss_vector: r.cvss_vector,
        }
    }
}
