//! `metadata.json` beside `trivy.db`: the schema version (only 2 is read)
//! and when the database was built, is next due, and was downloaded.

use super::TrivyError;
use jiff::Timestamp;
use serde::Deserialize;
use std::path::Path;

/// The only database schema this reader understands.
pub const SCHEMA_VERSION: u32 = 2;

/// The contents of `metadata.json` (trivy-db `metadata.Metadata`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TrivyMetadata {
    #[serde(rename = "Version")]
    pub version: u32,
    #[serde(rename = "NextUpdate")]
    pub next_update: Timestamp,
    #[serde(rename = "UpdatedAt")]
    pub updated_at: Timestamp,
    /// Filled in by the client that downloaded it; Go's zero time if never.
    #[serde(rename = "DownloadedAt", default)]
    pub downloaded_at: Option<Timestamp>,
}

impl TrivyMetadata {
    /// Parses `metadata.json` text; refuses any schema but version 2.
    pub fn parse(text: &[u8]) -> Result<Self, TrivyError> {
        let meta: TrivyMetadata =
            serde_json::from_slice(text).map_err(|source| TrivyError::Metadata { source })?;
        if meta.version != SCHEMA_VERSION {
            return Err(TrivyError::SchemaVersion {
                found: meta.version,
            });
        }
        Ok(meta)
    }

    pub fn read(path: &Path) -> Result<Self, TrivyError> {
        let text = std::fs::read(path).map_err(|source| TrivyError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_version_two_and_refuses_others() {
        let text = br#"{"Version":2,"NextUpdate":"2024-05-02T06:00:00Z","UpdatedAt":"2024-05-01T06:00:00.123456789Z","DownloadedAt":"0001-01-01T00:00:00Z"}"#;
        let meta = TrivyMetadata::parse(text).expect("valid metadata");
        assert_eq!(
            meta.updated_at.to_string(),
            "2024-05-01T06:00:00.123456789Z"
        );
        assert_eq!(meta.next_update.to_string(), "2024-05-02T06:00:00Z");
        let v1 = br#"{"Version":1,"NextUpdate":"2024-05-02T06:00:00Z","UpdatedAt":"2024-05-01T06:00:00Z"}"#;
        assert!(matches!(
            TrivyMetadata::parse(v1),
            Err(TrivyError::SchemaVersion { found: 1 })
        ));
        assert!(matches!(
            TrivyMetadata::parse(b"{\"Version\":2}"),
            Err(TrivyError::Metadata { .. })
        ));
    }
}
