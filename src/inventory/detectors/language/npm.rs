//! Node packages: `node_modules/NAME/package.json` and
//! `node_modules/@SCOPE/NAME/package.json`. Only manifests directly in a
//! package directory under `node_modules` count; a project's own
//! `package.json`, files deeper in a package and private packages do not.

use super::common::{error, package};
use crate::inventory::detectors::{DetectError, Detected, Detector, DetectorLimits, FileMeta};
use crate::inventory::purl::purl;
use crate::model::PackageKind;

pub struct NodePackage;

/// Largest `package.json` read.
pub const MAX_PACKAGE_JSON_BYTES: u64 = 4 << 20;

/// Whether `path` is the manifest of a package installed in `node_modules`.
fn is_installed_manifest(path: &str) -> bool {
    let Some(dir) = path.strip_suffix("/package.json") else {
        return false;
    };
    let mut parts = dir.rsplit('/');
    let (Some(name), Some(parent)) = (parts.next(), parts.next()) else {
        return false;
    };
    if name.is_empty() || name.starts_with('@') {
        return false;
    }
    if parent == "node_modules" {
        return true;
    }
    parent.starts_with('@') && parent.len() > 1 && parts.next() == Some("node_modules")
}

impl Detector for NodePackage {
    fn name(&self) -> &'static str {
        "npm"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        is_installed_manifest(file.path)
    }

    fn size_limit(&self, limits: &DetectorLimits) -> Option<(&'static str, u64)> {
        Some(("maxPackageJsonBytes", limits.max_package_json_bytes))
    }

    fn detect(&self, file: &FileMeta<'_>, data: &[u8]) -> Result<Detected, DetectError> {
        let manifest: serde_json::Value =
            serde_json::from_slice(data).map_err(|e| error(self.name(), file.path, e))?;
        let name = manifest.get("name").and_then(|v| v.as_str()).unwrap_or("");
        let version = manifest
            .get("version")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let private = manifest.get("private").and_then(|v| v.as_bool()) == Some(true);
        if name.is_empty() || version.is_empty() || private {
            return Ok(Detected::Nothing);
        }
        let (namespace, short) = match name.split_once('/') {
            Some((scope, short)) if scope.starts_with('@') => (Some(scope), short),
            _ => (None, name),
        };
        let purl = purl("npm", namespace, short, version, &[]);
        Ok(Detected::Packages(vec![package(
            name,
            version,
            PackageKind::Npm,
            purl,
            file.path,
        )]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_installed_manifests() {
        assert!(is_installed_manifest(
            "app/node_modules/lodash/package.json"
        ));
        assert!(is_installed_manifest(
            "node_modules/@babel/core/package.json"
        ));
        assert!(is_installed_manifest(
            "node_modules/a/node_modules/b/package.json"
        ));
        assert!(!is_installed_manifest("app/package.json"));
        assert!(!is_installed_manifest(
            "node_modules/lodash/fp/package.json"
        ));
        assert!(!is_installed_manifest("node_modules/@babel/package.json"));
        assert!(!is_installed_manifest("node_modules/package.json"));
    }

    #[test]
    fn scoped_private_and_broken() {
        let meta = FileMeta {
            path: "node_modules/@babel/core/package.json",
            size: 0,
            mode: 0o644,
        };
        let Detected::Packages(p) = NodePackage
            .detect(&meta, br#"{"name":"@babel/core","version":"7.0.0"}"#)
            .unwrap()
        else {
            panic!("no package")
        };
        assert_eq!(p[0].purl, "pkg:npm/%40babel/core@7.0.0");
        let private = br#"{"name":"ws","version":"1.0.0","private":true}"#;
        assert_eq!(
            NodePackage.detect(&meta, private).unwrap(),
            Detected::Nothing
        );
        assert_eq!(
            NodePackage.detect(&meta, br#"{"name":"x"}"#).unwrap(),
            Detected::Nothing
        );
        assert!(NodePackage.detect(&meta, b"{\"name\":").is_err());
    }
}
