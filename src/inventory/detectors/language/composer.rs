//! PHP packages installed by Composer: `vendor/composer/installed.json`, a
//! plain array (Composer 1) or `{"packages": [...]}` (Composer 2).

use super::common::{error, package};
use crate::inventory::detectors::{DetectError, Detected, Detector, DetectorLimits, FileMeta};
use crate::inventory::purl::purl;
use crate::model::PackageKind;

pub struct ComposerInstalled;

/// Largest `installed.json` read.
pub const MAX_INSTALLED_JSON_BYTES: u64 = 32 << 20;

impl Detector for ComposerInstalled {
    fn name(&self) -> &'static str {
        "composer"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.path == "vendor/composer/installed.json"
            || file.path.ends_with("/vendor/composer/installed.json")
    }

    fn size_limit(&self, limits: &DetectorLimits) -> Option<(&'static str, u64)> {
        Some((
            "maxComposerInstalledBytes",
            limits.max_composer_installed_bytes,
        ))
    }

    fn detect(&self, file: &FileMeta<'_>, data: &[u8]) -> Result<Detected, DetectError> {
        let doc: serde_json::Value =
            serde_json::from_slice(data).map_err(|e| error(self.name(), file.path, e))?;
        let list = match &doc {
            serde_json::Value::Array(list) => list,
            serde_json::Value::Object(map) => match map.get("packages") {
                Some(serde_json::Value::Array(list)) => list,
                _ => return Err(error(self.name(), file.path, "no \"packages\" array")),
            },
            _ => return Err(error(self.name(), file.path, "neither array nor object")),
        };
        let packages = list
            .iter()
            .filter_map(|entry| {
                let name = entry.get("name")?.as_str()?;
                let version = entry.get("version")?.as_str()?;
                if name.is_empty() || version.is_empty() {
                    return None;
                }
                let (vendor, short) = match name.split_once('/') {
                    Some((vendor, short)) => (Some(vendor), short),
                    None => (None, name),
                };
                let purl = purl("composer", vendor, short, version, &[]);
                Some(package(
                    name,
                    version,
                    PackageKind::Composer,
                    purl,
                    file.path,
                ))
            })
            .collect::<Vec<_>>();
        Ok(if packages.is_empty() {
            Detected::Nothing
        } else {
            Detected::Packages(packages)
        })
    }
}
