//! dpkg: `var/lib/dpkg/status` and distroless `var/lib/dpkg/status.d/*`.

use super::purl::os_purl;
use crate::inventory::detectors::{DetectError, Detected, Detector, FileMeta};
use crate::model::{Location, Package, PackageKind};

const STATUS: &str = "var/lib/dpkg/status";
const STATUS_DIR: &str = "var/lib/dpkg/status.d/";
/// Default purl namespace until `assemble` knows the distribution.
const DEFAULT_NAMESPACE: &str = "debian";

pub struct DpkgDetector;

impl Detector for DpkgDetector {
    fn name(&self) -> &'static str {
        "dpkg"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.path == STATUS
            || file.path.strip_prefix(STATUS_DIR).is_some_and(|name| {
                // Distroless keeps `<pkg>` and `<pkg>.md5sums` side by side.
                !name.is_empty() && !name.contains('/') && !name.ends_with(".md5sums")
            })
    }

    fn detect(&self, file: &FileMeta<'_>, data: &[u8]) -> Result<Detected, DetectError> {
        // Free-text fields (Maintainer, Description) of old databases may be
        // Latin-1; the fields read here are ASCII, so decode leniently.
        let text = String::from_utf8_lossy(data);
        let packages = parse_status(&text, file.path);
        Ok(if packages.is_empty() {
            Detected::Nothing
        } else {
            Detected::Packages(packages)
        })
    }
}

/// Parses a dpkg status file into its installed packages. A stanza without
/// `Status` (distroless `status.d`) counts as installed; otherwise the state
/// (third word) must be `installed`, whatever the selection (`install`, `hold`).
pub fn parse_status(text: &str, path: &str) -> Vec<Package> {
    text.split("\n\n")
        .filter_map(|stanza| parse_stanza(stanza, path))
        .collect()
}

fn parse_stanza(stanza: &str, path: &str) -> Option<Package> {
    let (mut name, mut version, mut status, mut arch, mut source) = (None, None, None, None, None);
    for line in stanza.lines() {
        if line.starts_with([' ', '\t']) {
            continue; // continuation of a multi-line field
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "Package" => name = Some(value),
            "Version" => version = Some(value),
            "Status" => status = Some(value),
            "Architecture" => arch = Some(value),
            "Source" => source = Some(value),
            _ => {}
        }
    }
    if status.is_some_and(|s| s.split_whitespace().nth(2) != Some("installed")) {
        return None;
    }
    let name = name.filter(|n| !n.is_empty())?;
    let version = version.filter(|v| !v.is_empty())?;
    // `Source: name` or `Source: name (version)` when the versions differ.
    let (source_name, source_version) = match source {
        Some(source) => match source.split_once('(') {
            Some((n, v)) => (n.trim(), Some(v.trim_end_matches(')').trim())),
            None => (source, None),
        },
        None => (name, None),
    };
    let source_version = source_version.filter(|v| *v != version).map(str::to_string);
    let arch = arch.filter(|a| !a.is_empty());
    Some(Package {
        name: name.to_string(),
        version: version.to_string(),
        kind: PackageKind::Deb,
        purl: os_purl(
            PackageKind::Deb,
            DEFAULT_NAMESPACE,
            name,
            version,
            arch,
            None,
        ),
        source_name: Some(source_name.to_string()),
        source_version,
        arch: arch.map(str::to_string),
        location: Location {
            layer: None,
            path: path.into(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_installed_packages_with_source() {
        let text = "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u4\nDescription: x\n more\n\n\
Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n\
Package: libgcc-s1\nStatus: hold ok installed\nArchitecture: amd64\nSource: gcc-12 (12.2.0-14)\nVersion: 12.2.0-14+b1\n";
        let packages = parse_status(text, STATUS);
        let summary: Vec<_> = packages
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.version.as_str(),
                    p.source_name.as_deref(),
                    p.source_version.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("libc6", "2.36-9+deb12u4", Some("glibc"), None),
                (
                    "libgcc-s1",
                    "12.2.0-14+b1",
                    Some("gcc-12"),
                    Some("12.2.0-14")
                ),
            ]
        );
        assert_eq!(
            packages[0].purl,
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64"
        );
    }

    #[test]
    fn wants_status_and_distroless_files() {
        let meta = |path| FileMeta {
            path,
            size: 10,
            mode: 0o644,
        };
        assert!(DpkgDetector.wants(&meta("var/lib/dpkg/status")));
        assert!(DpkgDetector.wants(&meta("var/lib/dpkg/status.d/base")));
        assert!(!DpkgDetector.wants(&meta("var/lib/dpkg/status.d/base.md5sums")));
        assert!(!DpkgDetector.wants(&meta("var/lib/dpkg/status-old")));
    }
}
