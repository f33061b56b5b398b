//! One version ordering per ecosystem: dpkg, rpm, apk, PEP 440, semver
//! (npm, Go, crates.io), Maven, RubyGems, NuGet, Packagist.

pub(crate) mod apk;
pub(crate) mod dpkg;
pub(crate) mod maven;
pub(crate) mod nuget;
mod numeric;
pub(crate) mod packagist;
pub(crate) mod pep440;
pub(crate) mod rpm;
pub(crate) mod rubygems;
pub(crate) mod semver;

use std::cmp::Ordering;

/// The version ordering rules of one ecosystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionScheme {
    Dpkg,
    Rpm,
    Apk,
    Pep440,
    /// npm's node-semver.
    Npm,
    /// Go module versions (`v1.2.3`, `+incompatible`), and the toolchain (`1.21.4`).
    Go,
    /// crates.io semver.
    Cargo,
    Maven,
    RubyGems,
    NuGet,
    Packagist,
}

impl VersionScheme {
    /// Whether the order is total on every string. Maven's
    /// `ComparableVersion` and PHP's `version_compare` are not transitive
    /// on odd strings (`""` < `"pl"` < `"0cr2"` < `""` for Maven), and
    /// scangate follows them.
    pub fn is_total_order(self) -> bool {
        !matches!(self, VersionScheme::Maven | VersionScheme::Packagist)
    }
}

/// Why two versions could not be compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("invalid {scheme:?} version {version:?}: {reason}")]
    Invalid {
        scheme: VersionScheme,
        version: String,
        reason: String,
    },
}

impl VersionScheme {
    /// The ordering an OSV ecosystem name uses (`Debian:12` → dpkg,
    /// `AlmaLinux:9` → rpm, `PyPI` → PEP 440); `None` for ecosystems
    /// scangate does not order.
    pub fn for_osv_ecosystem(ecosystem: &str) -> Option<VersionScheme> {
        let base = ecosystem.split(':').next().unwrap_or(ecosystem);
        Some(match base {
            "Debian" | "Ubuntu" => VersionScheme::Dpkg,
            "Alpine" | "Wolfi" | "Chainguard" | "Alpaquita" | "BellSoft Hardened Containers" => {
                VersionScheme::Apk
            }
            "Red Hat" | "AlmaLinux" | "Rocky Linux" | "SUSE" | "openSUSE" | "Mageia"
            | "openEuler" | "Azure Linux" | "CBL-Mariner" | "Amazon Linux" | "Oracle Linux" => {
                VersionScheme::Rpm
            }
            "PyPI" => VersionScheme::Pep440,
            "npm" => VersionScheme::Npm,
            "Go" => VersionScheme::Go,
            "crates.io" => VersionScheme::Cargo,
            "Maven" => VersionScheme::Maven,
            "RubyGems" => VersionScheme::RubyGems,
            "NuGet" => VersionScheme::NuGet,
            "Packagist" => VersionScheme::Packagist,
            _ => return None,
        })
    }
}

/// Compares two versions under `scheme`.
///
/// dpkg, rpm, Maven and Packagist order any string (as their tools do); the other schemes
/// refuse what their tools refuse, with an error naming the version.
pub fn compare(scheme: VersionScheme, a: &str, b: &str) -> Result<Ordering, VersionError> {
    let invalid = |version: &str, reason: String| VersionError::Invalid {
        scheme,
        version: version.to_string(),
        reason,
    };
    match scheme {
        VersionScheme::Dpkg => Ok(dpkg::compare(a, b)),
        VersionScheme::Rpm => Ok(rpm::compare(a, b)),
        VersionScheme::Apk => apk::compare(a, b).map_err(|reason| {
            let culprit = if apk::compare(a, a).is_err() { a } else { b };
            invalid(culprit, reason)
        }),
        VersionScheme::Npm | VersionScheme::Go | VersionScheme::Cargo => {
            let va = semver::SemVer::parse(a).map_err(|r| invalid(a, r))?;
            let vb = semver::SemVer::parse(b).map_err(|r| invalid(b, r))?;
            Ok(va.cmp(&vb))
        }
        VersionScheme::Pep440 => {
            let va = pep440::Pep440::parse(a).map_err(|r| invalid(a, r))?;
            let vb = pep440::Pep440::parse(b).map_err(|r| invalid(b, r))?;
            Ok(va.cmp(&vb))
        }
        VersionScheme::Maven => Ok(maven::compare(a, b)),
        VersionScheme::RubyGems => {
            let va = rubygems::GemVersion::parse(a).map_err(|r| invalid(a, r))?;
            let vb = rubygems::GemVersion::parse(b).map_err(|r| invalid(b, r))?;
            Ok(va.cmp(&vb))
        }
        VersionScheme::Packagist => Ok(packagist::compare(a, b)),
        VersionScheme::NuGet => {
            let va = nuget::NuGetVersion::parse(a).map_err(|r| invalid(a, r))?;
            let vb = nuget::NuGetVersion::parse(b).map_err(|r| invalid(b, r))?;
            Ok(va.cmp(&vb))
        }
    }
}

/// A version parsed once, to be compared with many others (the installed
/// version against every event of every record of its package).
#[derive(Debug, Clone)]
pub enum Prepared<'a> {
    /// Schemes that compare the strings themselves.
    Raw(&'a str),
    Dpkg(dpkg::DebVersion<'a>),
    SemVer(semver::SemVer<'a>),
    Pep440(pep440::Pep440<'a>),
    Maven(maven::MavenVersion),
    Gem(rubygems::GemVersion),
    NuGet(nuget::NuGetVersion),
}

/// Parses `version` once for [`compare_prepared`]; refuses what
/// [`compare`] refuses.
pub fn prepare(scheme: VersionScheme, version: &str) -> Result<Prepared<'_>, VersionError> {
    let invalid = |reason: String| VersionError::Invalid {
        scheme,
        version: version.to_string(),
        reason,
    };
    Ok(match scheme {
        VersionScheme::Dpkg => Prepared::Dpkg(dpkg::split(version)),
        VersionScheme::Rpm | VersionScheme::Packagist => Prepared::Raw(version),
        VersionScheme::Apk => {
            apk::compare(version, version).map_err(invalid)?;
            Prepared::Raw(version)
        }
        VersionScheme::Npm | VersionScheme::Go | VersionScheme::Cargo => {
            Prepared::SemVer(semver::SemVer::parse(version).map_err(invalid)?)
        }
        VersionScheme::Pep440 => Prepared::Pep440(pep440::Pep440::parse(version).map_err(invalid)?),
        VersionScheme::Maven => Prepared::Maven(maven::MavenVersion::parse(version)),
        VersionScheme::RubyGems => {
            Prepared::Gem(rubygems::GemVersion::parse(version).map_err(invalid)?)
        }
        VersionScheme::NuGet => {
            Prepared::NuGet(nuget::NuGetVersion::parse(version).map_err(invalid)?)
        }
    })
}

/// `compare(scheme, a, b)` with `a` already prepared (under the same scheme).
pub fn compare_prepared(
    scheme: VersionScheme,
    a: &Prepared<'_>,
    b: &str,
) -> Result<Ordering, VersionError> {
    let invalid = |reason: String| VersionError::Invalid {
        scheme,
        version: b.to_string(),
        reason,
    };
    match a {
        Prepared::Raw(a) => compare(scheme, a, b),
        Prepared::Dpkg(a) => Ok(dpkg::compare_split(a, &dpkg::split(b))),
        Prepared::SemVer(a) => Ok(a.cmp(&semver::SemVer::parse(b).map_err(invalid)?)),
        Prepared::Pep440(a) => Ok(a.cmp(&pep440::Pep440::parse(b).map_err(invalid)?)),
        Prepared::Maven(a) => Ok(a.cmp(&maven::MavenVersion::parse(b))),
        Prepared::Gem(a) => Ok(a.cmp(&rubygems::GemVersion::parse(b).map_err(invalid)?)),
        Prepared::NuGet(a) => Ok(a.cmp(&nuget::NuGetVersion::parse(b).map_err(invalid)?)),
    }
}
