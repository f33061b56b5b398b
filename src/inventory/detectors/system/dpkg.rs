//! dpkg: `var/lib/dpkg/status` and the one-package-per-file
//! `var/lib/dpkg/status.d/*` of distroless images. Only installed packages
//! count (`Status: install ok installed`).

use crate::inventory::detectors::{DetectError, Detected, Detector, FileMeta};
use crate::inventory::purl::purl;
use crate::model::{Location, Package, PackageKind};

pub struct Dpkg;

/// The fields of one stanza, continuation lines folded away.
fn stanzas(text: &str) -> impl Iterator<Item = Vec<(&str, &str)>> {
    text.split("\n\n").map(|stanza| {
        stanza
            .lines()
            .filter(|l| !l.starts_with(' ') && !l.starts_with('\t'))
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect()
    })
}

fn package_of(fields: &[(&str, &str)], path: &str) -> Option<Package> {
    let get = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    };
    let name = get("Package")?;
    let version = get("Version")?;
    if let Some(status) = get("Status")
        && !status.ends_with(" installed")
    {
        return None;
    }
    // `Source: name` or `Source: name (version)`.
    let (source_name, source_version) = match get("Source") {
        Some(source) => match source.split_once('(') {
            Some((n, v)) => (
                Some(n.trim().to_string()),
                Some(v.trim_end_matches(')').trim().to_string()),
            ),
            None => (Some(source.to_string()), None),
        },
        None => (None, None),
    };
    let arch = get("Architecture").map(String::from);
    Some(Package {
        name: name.to_string(),
        version: version.to_string(),
        kind: PackageKind::Deb,
        purl: purl(
            "deb",
            Some("debian"),
            name,
            version,
            &[("arch", arch.as_deref().unwrap_or(""))],
        ),
        source_name,
        source_version,
        arch,
        location: Location {
            layer: None,
            path: path.to_string(),
        },
    })
}

/// Every installed package in a status file's text.
pub fn parse_status(text: &str, path: &str) -> Vec<Package> {
    stanzas(text)
        .filter_map(|fields| package_of(&fields, path))
        .collect()
}

impl Detector for Dpkg {
    fn name(&self) -> &'static str {
        "dpkg"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.path == "var/lib/dpkg/status"
            || file
                .path
                .strip_prefix("var/lib/dpkg/status.d/")
                .is_some_and(|name| !name.contains('/') && !name.ends_with(".md5sums"))
    }

    fn detect(&self, file: &FileMeta<'_>, data: &[u8]) -> Result<Detected, DetectError> {
        let text = String::from_utf8_lossy(data).replace("\r\n", "\n");
        Ok(Detected::Packages(parse_status(&text, file.path)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_packages_with_sources() {
        let text = "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl (3.0.11-1~deb12u2)\nVersion: 3.0.11-1~deb12u2+b1\nDescription: x\n more\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\nPackage: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\n";
        let p = parse_status(text, "var/lib/dpkg/status");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].source_name.as_deref(), Some("openssl"));
        assert_eq!(p[0].source_version.as_deref(), Some("3.0.11-1~deb12u2"));
        assert_eq!(
            p[0].purl,
            "pkg:deb/debian/libssl3@3.0.11-1~deb12u2%2Bb1?arch=amd64"
        );
        assert_eq!(p[1].source_name, None);
    }
}
