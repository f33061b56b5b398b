//! Which OSV ecosystem a package is checked against, and under which name.

use crate::model::{OsInfo, Package, PackageKind};

/// The OSV ecosystem (with release) for the OS packages of `os`, or `None`
/// if scangate does not know how the export names that distribution.
pub fn os_ecosystem(os: &OsInfo) -> Option<String> {
    let version = os.version.trim();
    let major = version.split(['.', ' ']).next().unwrap_or("");
    let numeric_major = !major.is_empty() && major.bytes().all(|b| b.is_ascii_digit());
    let family = os.family.as_str();
    Some(match family {
        "debian" if numeric_major => format!("Debian:{major}"),
        "ubuntu" => {
            let mut parts = version.split('.');
            let (year, month) = (parts.next()?, parts.next()?);
            let lts = month == "04" && year.parse::<u32>().is_ok_and(|y| y.is_multiple_of(2));
            if lts {
                format!("Ubuntu:{year}.{month}:LTS")
            } else {
                format!("Ubuntu:{year}.{month}")
            }
        }
        "alpine" => {
            let mut parts = version.split('.');
            let (major, minor) = (parts.next()?, parts.next()?);
            format!("Alpine:v{major}.{minor}")
        }
        "almalinux" if numeric_major => format!("AlmaLinux:{major}"),
        "rocky" if numeric_major => format!("Rocky Linux:{major}"),
        "wolfi" => "Wolfi".into(),
        "chainguard" => "Chainguard".into(),
        "mariner" if version.starts_with("2.") => "CBL-Mariner:2.0".into(),
        "azurelinux" if numeric_major => format!("Azure Linux:{major}"),
        "opensuse-leap" => format!("openSUSE:Leap {version}"),
        _ => return None,
    })
}

/// The base name of an ecosystem (`Debian:12` → `Debian`): the folder of
/// the export it comes from.
pub fn base(ecosystem: &str) -> &str {
    ecosystem.split(':').next().unwrap_or(ecosystem)
}

/// PEP 503 normalization: lowercase, runs of `-`, `_`, `.` become `-`.
pub fn normalize_pypi(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator {
                out.push('-');
            }
            in_separator = true;
        } else {
            out.extend(c.to_lowercase());
            in_separator = false;
        }
    }
    out
}

/// The name a record of `ecosystem` uses for a package.
pub fn record_name(ecosystem: &str, name: &str) -> String {
    if base(ecosystem) == "PyPI" {
        normalize_pypi(name)
    } else {
        name.to_string()
    }
}

/// Where a package is looked up: `(ecosystem, name)`. OS packages need the
/// OS ecosystem; `None` when it is not known.
pub fn lookup_key(package: &Package, os_ecosystem: Option<&str>) -> Option<(String, String)> {
    let language = |eco: &str| Some((eco.to_string(), record_name(eco, &package.name)));
    match package.kind {
        // Debian and Ubuntu advisories name source packages, Alpine's name
        // origins; rpm distributions name binary packages.
        PackageKind::Deb | PackageKind::Apk => Some((
            os_ecosystem?.to_string(),
            package
                .source_name
                .clone()
                .unwrap_or_else(|| package.name.clone()),
        )),
        PackageKind::Rpm => Some((os_ecosystem?.to_string(), package.name.clone())),
        PackageKind::Pypi => language("PyPI"),
        PackageKind::Npm => language("npm"),
        PackageKind::Golang => language("Go"),
        // Maven records name `groupId:artifactId`; an archive whose group
        // is unknown has no key any record could match.
        PackageKind::Maven if !package.name.contains(':') => None,
        PackageKind::Maven => language("Maven"),
        PackageKind::Cargo => language("crates.io"),
        PackageKind::Gem => language("RubyGems"),
        PackageKind::Composer => language("Packagist"),
        PackageKind::Nuget => language("NuGet"),
    }
}

/// Why a package without a [`lookup_key`] is not checked, as listed under
/// "not checked".
pub fn unchecked_reason(package: &Package, os: Option<&OsInfo>) -> String {
    match package.kind {
        PackageKind::Maven => {
            "Maven archives without a groupId (no pom.properties to name them)".into()
        }
        kind => {
            let os = os
                .map(|o| format!("{} {}", o.family, o.version))
                .unwrap_or_else(|| "an unknown OS".into());
            format!("{} packages of {os}", kind.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(family: &str, version: &str) -> OsInfo {
        OsInfo {
            family: family.into(),
            version: version.into(),
            ..OsInfo::default()
        }
    }

    #[test]
    fn releases_map_to_export_names() {
        assert_eq!(
            os_ecosystem(&os("debian", "12.5")).as_deref(),
            Some("Debian:12")
        );
        assert_eq!(
            os_ecosystem(&os("debian", "12")).as_deref(),
            Some("Debian:12")
        );
        assert_eq!(
            os_ecosystem(&os("ubuntu", "22.04")).as_deref(),
            Some("Ubuntu:22.04:LTS")
        );
        assert_eq!(
            os_ecosystem(&os("ubuntu", "23.10")).as_deref(),
            Some("Ubuntu:23.10")
        );
        assert_eq!(
            os_ecosystem(&os("alpine", "3.20.3")).as_deref(),
            Some("Alpine:v3.20")
        );
        assert_eq!(
            os_ecosystem(&os("almalinux", "9.3")).as_deref(),
            Some("AlmaLinux:9")
        );
        assert_eq!(
            os_ecosystem(&os("rocky", "8.9")).as_deref(),
            Some("Rocky Linux:8")
        );
        assert_eq!(os_ecosystem(&os("debian", "bookworm/sid")), None);
        assert_eq!(os_ecosystem(&os("plan9", "4")), None);
    }

    #[test]
    fn pypi_names_normalize() {
        assert_eq!(
            normalize_pypi("Django_REST.framework"),
            "django-rest-framework"
        );
        assert_eq!(normalize_pypi("a--b"), "a-b");
    }
}
