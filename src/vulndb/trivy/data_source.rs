//! The `data-source` bucket: for each advisory bucket, where its data comes
//! from (trivy-db `types.DataSource`), keyed by the bucket's name.

use serde::Deserialize;

/// Where a source bucket's advisories come from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TrivyDataSource {
    /// Short source id, e.g. `debian`, `ghsa`, `alpine`.
    #[serde(rename = "ID", default)]
    pub id: String,
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "URL", default)]
    pub url: String,
    /// The source this one is derived from (e.g. a vendor rebuilding
    /// Debian's advisories); empty when none.
    #[serde(rename = "BaseID", default)]
    pub base_id: String,
}
