//! .NET applications: `*.deps.json`, whose `libraries` map
//! (`"Name/Version": {"type": "package", ...}`) lists the NuGet packages the
//! application was built with. `project` and `reference` entries are the
//! application's own assemblies and are skipped.

use super::common::{error, package};
use crate::inventory::detectors::{DetectError, Detected, Detector, DetectorLimits, FileMeta};
use crate::inventory::purl::purl;
use crate::model::PackageKind;

pub struct DotnetDeps;

/// Largest `*.deps.json` read.
pub const MAX_DEPS_JSON_BYTES: u64 = 32 << 20;

impl Detector for DotnetDeps {
    fn name(&self) -> &'static str {
        "dotnet"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.path.ends_with(".deps.json")
    }

    fn size_limit(&self, limits: &DetectorLimits) -> Option<(&'static str, u64)> {
        Some(("maxDotnetDepsBytes", limits.max_dotnet_deps_bytes))
    }

    fn detect(&self, file: &FileMeta<'_>, data: &[u8]) -> Result<Detected, DetectError> {
        let doc: serde_json::Value =
            serde_json::from_slice(data).map_err(|e| error(self.name(), file.path, e))?;
        let Some(libraries) = doc.get("libraries").and_then(|l| l.as_object()) else {
            return Ok(Detected::Nothing);
        };
        let packages = libraries
            .iter()
            .filter(|(_, lib)| lib.get("type").and_then(|t| t.as_str()) == Some("package"))
            .filter_map(|(key, _)| {
                let (name, version) = key.split_once('/')?;
                if name.is_empty() || version.is_empty() {
                    return None;
                }
                let purl = purl("nuget", None, name, version, &[]);
                Some(package(name, version, PackageKind::Nuget, purl, file.path))
            })
            .collect::<Vec<_>>();
        Ok(if packages.is_empty() {
            Detected::Nothing
        } else {
            Detected::Packages(packages)
        })
    }
}
