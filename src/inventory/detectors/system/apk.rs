//! apk: `lib/apk/db/installed` (Alpine, Wolfi, Chainguard).

use super::purl::os_purl;
use crate::inventory::detectors::{DetectError, Detected, Detector, FileMeta};
use crate::model::{Location, Package, PackageKind};

/// apk v2 keeps it in `lib/`, apk v3 (Alpine ≥ 3.22 layouts) in `usr/lib/`.
const INSTALLED: &[&str] = &["lib/apk/db/installed", "usr/lib/apk/db/installed"];
/// Default purl namespace until `assemble` knows the distribution.
const DEFAULT_NAMESPACE: &str = "alpine";

pub struct ApkDetector;

impl Detector for ApkDetector {
    fn name(&self) -> &'static str {
        "apk"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        INSTALLED.contains(&file.path)
    }

    fn detect(&self, file: &FileMeta<'_>, data: &[u8]) -> Result<Detected, DetectError> {
        // Free-text fields (Maintainer, Description) of old databases may be
        // Latin-1; the fields read here are ASCII, so decode leniently.
        let text = String::from_utf8_lossy(data);
        let packages = parse_installed(&text, file.path);
        Ok(if packages.is_empty() {
            Detected::Nothing
        } else {
            Detected::Packages(packages)
        })
    }
}

/// Parses apk's installed database: `K:value` lines, a blank line between
/// packages. `P` name, `V` version, `A` arch, `o` origin (source package).
pub fn parse_installed(text: &str, path: &str) -> Vec<Package> {
    let mut packages = Vec::new();
    let mut current = Fields::default();
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if let Some(package) = current.take_package(path) {
                packages.push(package);
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().to_string();
        match key {
            "P" => current.name = Some(value),
            "V" => current.version = Some(value),
            "A" => current.arch = Some(value),
            "o" => current.origin = Some(value),
            _ => {}
        }
    }
    packages
}

#[derive(Default)]
struct Fields {
    name: Option<String>,
    version: Option<String>,
    arch: Option<String>,
    origin: Option<String>,
}

impl Fields {
    fn take_package(&mut self, path: &str) -> Option<Package> {
        let fields = std::mem::take(self);
        let name = fields.name.filter(|n| !n.is_empty())?;
        let version = fields.version.filter(|v| !v.is_empty())?;
        let arch = fields.arch.filter(|a| !a.is_empty());
        Some(Package {
            purl: os_purl(
                PackageKind::Apk,
                DEFAULT_NAMESPACE,
                &name,
                &version,
                arch.as_deref(),
                None,
            ),
            source_name: Some(
                fields
                    .origin
                    .filter(|o| !o.is_empty())
                    .unwrap_or_else(|| name.clone()),
            ),
            source_version: None,
            arch,
            kind: PackageKind::Apk,
            location: Location {
                layer: None,
                path: path.into(),
            },
            name,
            version,
        })
    }
}
