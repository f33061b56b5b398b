//! One advisory: the JSON value of key `<vulnerability id>` in bucket
//! `<source>/<package>` (trivy-db `types.Advisory` as stored, with `Status`
//! an integer). OS sources give `FixedVersion` (or none and a `Status`);
//! language sources give version constraint lists.

use super::TrivyError;
use super::data_source::TrivyDataSource;
use super::severity::{TrivySeverity, TrivyStatus};
use serde::Deserialize;

/// An advisory for one package from one source bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrivyAdvisory {
    /// The key: a CVE id or the vendor's own id.
    pub vulnerability_id: String,
    /// The vendor's advisory ids, e.g. `DSA-4535-1`, `RHSA-2019:2304`.
    pub vendor_ids: Vec<String>,
    pub oses: Vec<String>,
    pub arches: Vec<String>,
    pub status: TrivyStatus,
    /// A per-package severity, when the source rates packages differently;
    /// `None` when the value has none (the `vulnerability` bucket's counts).
    pub severity: Option<TrivySeverity>,
    /// Empty when not fixed.
    pub fixed_version: String,
    /// Only Arch Linux gives this.
    pub affected_version: String,
    pub vulnerable_versions: Vec<String>,
    pub patched_versions: Vec<String>,
    pub unaffected_versions: Vec<String>,
    /// From the `data-source` bucket entry of the source bucket.
    pub data_source: Option<TrivyDataSource>,
}

#[derive(Deserialize)]
struct Stored {
    #[serde(rename = "VendorIDs", default)]
    vendor_ids: Vec<String>,
    #[serde(rename = "OSes", default)]
    oses: Vec<String>,
    #[serde(rename = "Arches", default)]
    arches: Vec<String>,
    #[serde(rename = "Status", default)]
    status: i64,
    #[serde(rename = "Severity", default)]
    severity: i64,
    #[serde(rename = "FixedVersion", default)]
    fixed_version: String,
    #[serde(rename = "AffectedVersion", default)]
    affected_version: String,
    #[serde(rename = "VulnerableVersions", default)]
    vulnerable_versions: Vec<String>,
    #[serde(rename = "PatchedVersions", default)]
    patched_versions: Vec<String>,
    #[serde(rename = "UnaffectedVersions", default)]
    unaffected_versions: Vec<String>,
    #[serde(rename = "DataSource", default)]
    data_source: Option<TrivyDataSource>,
    /// Red Hat's CSAF/OVAL layout (per-CPE entries) is another shape.
    #[serde(rename = "Entries", default)]
    entries: Option<serde::de::IgnoredAny>,
}

impl TrivyAdvisory {
    /// Parses the stored value of advisory `id`; `data_source` is the
    /// source bucket's entry in `data-source`, used unless the value names
    /// its own.
    pub fn parse(
        id: &str,
        value: &[u8],
        data_source: Option<&TrivyDataSource>,
    ) -> Result<Self, TrivyError> {
        let stored: Stored = serde_json::from_slice(value).map_err(|source| TrivyError::Json {
            what: format!("advisory {id}"),
            source,
        })?;
        if stored.entries.is_some() {
            return Err(TrivyError::UnsupportedLayout {
                what: format!("advisory {id}"),
                why: "per-CPE \"Entries\" (Red Hat's layout) are not read yet",
            });
        }
        let severity = match stored.severity {
            0 => None,
            n => Some(TrivySeverity::from_number(n)?),
        };
        Ok(TrivyAdvisory {
            vulnerability_id: id.to_owned(),
            vendor_ids: stored.vendor_ids,
            oses: stored.oses,
            arches: stored.arches,
            status: TrivyStatus::from_number(stored.status)?,
            severity,
            fixed_version: stored.fixed_version,
            affected_version: stored.affected_version,
            vulnerable_versions: stored.vulnerable_versions,
            patched_versions: stored.patched_versions,
            unaffected_versions: stored.unaffected_versions,
            data_source: stored.data_source.or_else(|| data_source.cloned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_stored_shape() {
        let a = TrivyAdvisory::parse(
            "CVE-2019-5094",
            br#"{"FixedVersion":"1.43.4-2+deb9u1","VendorIDs":["DSA-4535-1"],"Status":3,"Severity":2,"Arches":["amd64"]}"#,
            None,
        )
        .expect("valid advisory");
        assert_eq!(a.fixed_version, "1.43.4-2+deb9u1");
        assert_eq!(a.vendor_ids, ["DSA-4535-1"]);
        assert_eq!(a.status, TrivyStatus::Fixed);
        assert_eq!(a.severity, Some(TrivySeverity::Medium));
        assert_eq!(a.arches, ["amd64"]);
        let b = TrivyAdvisory::parse("CVE-1", b"{}", None).expect("empty advisory");
        assert_eq!((b.status, b.severity), (TrivyStatus::Unknown, None));
    }

    #[test]
    fn refuses_what_it_cannot_read_faithfully() {
        for bad in [
            &br#"{"Status":9}"#[..],
            br#"{"Severity":7}"#,
            br#"{"Status":"fixed"}"#,
            br#"{"Entries":[{"Affected":[1]}]}"#,
            b"not json",
        ] {
            assert!(
                TrivyAdvisory::parse("CVE-1", bad, None).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
