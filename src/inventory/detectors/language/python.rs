//! Python distributions: `*.dist-info/METADATA` (wheels, pip) and
//! `*.egg-info/PKG-INFO` or an `*.egg-info` file (setuptools, distro
//! packages). Both are RFC 822 headers with `Name:` and `Version:`.

use super::common::{header_value, package};
use crate::inventory::detectors::{DetectError, Detected, Detector, DetectorLimits, FileMeta};
use crate::inventory::purl::purl;
use crate::model::PackageKind;

pub struct PythonMetadata;

/// Largest metadata file read; real ones (long descriptions included) are
/// well under a megabyte.
pub const MAX_METADATA_BYTES: u64 = 4 << 20;

/// The purl spec's PyPI name: lowercase, `_` written as `-`.
fn purl_name(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

impl Detector for PythonMetadata {
    fn name(&self) -> &'static str {
        "python"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.path.ends_with(".dist-info/METADATA")
            || file.path.ends_with(".egg-info/PKG-INFO")
            || file.path.ends_with(".egg-info")
    }

    fn size_limit(&self, limits: &DetectorLimits) -> Option<(&'static str, u64)> {
        Some(("maxPythonMetadataBytes", limits.max_python_metadata_bytes))
    }

    fn detect(&self, file: &FileMeta<'_>, data: &[u8]) -> Result<Detected, DetectError> {
        let text = String::from_utf8_lossy(data);
        let (Some(name), Some(version)) =
            (header_value(&text, "Name"), header_value(&text, "Version"))
        else {
            return Ok(Detected::Nothing);
        };
        if name.is_empty() || version.is_empty() {
            return Ok(Detected::Nothing);
        }
        let purl = purl("pypi", None, &purl_name(name), version, &[]);
        Ok(Detected::Packages(vec![package(
            name,
            version,
            PackageKind::Pypi,
            purl,
            file.path,
        )]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_stops_at_blank_line() {
        let meta = FileMeta {
            path: "x.dist-info/METADATA",
            size: 0,
            mode: 0o644,
        };
        let data = b"Metadata-Version: 2.1\nName: Foo_Bar\n\nVersion: 9\n";
        assert_eq!(
            PythonMetadata.detect(&meta, data).unwrap(),
            Detected::Nothing
        );
        let data = b"Metadata-Version: 2.1\r\nName: Foo_Bar\r\nVersion: 1.0\r\n\r\nbody";
        let Detected::Packages(p) = PythonMetadata.detect(&meta, data).unwrap() else {
            panic!("no package")
        };
        assert_eq!(p[0].name, "Foo_Bar");
        assert_eq!(p[0].purl, "pkg:pypi/foo-bar@1.0");
    }
}
