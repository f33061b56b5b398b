//! Value types shared by the scanner, the vulnerability database, policy and
//! reports. They are the stable JSON schema of `scangate scan --format json`
//! (see `docs/report-format.md`), so fields are only ever added.

mod database;
mod duration;
mod stored_report;

pub use arcstr::ArcStr;
pub use database::DatabaseStatus;
pub use duration::{ConfigDuration, positive as positive_duration};
use serde::{Deserialize, Serialize};
use std::fmt;
pub use stored_report::{ReportedFinding, StoredReport, listing_order};

/// Severity of a finding. Ordered: `Unknown < Low < Medium < High < Critical`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Default,
    schemars::JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    #[default]
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Unknown,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "UNKNOWN",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }

    /// Parses a severity name case-insensitively (`high`, `HIGH`).
    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|sev| sev.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The packaging format a package was found in. It decides which version
/// ordering applies and, with the OS, which OSV ecosystem is consulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageKind {
    Deb,
    Rpm,
    Apk,
    Pypi,
    Npm,
    Golang,
    Maven,
    Cargo,
    Gem,
    Composer,
    Nuget,
}

impl PackageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PackageKind::Deb => "deb",
            PackageKind::Rpm => "rpm",
            PackageKind::Apk => "apk",
            PackageKind::Pypi => "pypi",
            PackageKind::Npm => "npm",
            PackageKind::Golang => "golang",
            PackageKind::Maven => "maven",
            PackageKind::Cargo => "cargo",
            PackageKind::Gem => "gem",
            PackageKind::Composer => "composer",
            PackageKind::Nuget => "nuget",
        }
    }

    /// True for packages managed by the operating system's package manager,
    /// whose vulnerabilities are tracked per distribution release.
    pub fn is_os(self) -> bool {
        matches!(self, PackageKind::Deb | PackageKind::Rpm | PackageKind::Apk)
    }
}

/// Where a package was found: the layer that last wrote the file and the path
/// inside the image's filesystem (no leading slash). Shared by every
/// package of one database file and every finding of one package.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct Location {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<ArcStr>,
    pub path: ArcStr,
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    /// The version as the package manager records it; for rpm
    /// `[epoch:]version-release`, for dpkg the full Debian version.
    pub version: String,
    pub kind: PackageKind,
    pub purl: String,
    /// Source package name where the format has one (dpkg `Source:`, apk
    /// origin, rpm source RPM name); distro advisories are keyed by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    /// Source package version where it differs from the binary's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    pub location: Location,
}

/// The operating system of an image, from `os-release` and friends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct OsInfo {
    /// `ID` from os-release, lowercase: `debian`, `ubuntu`, `alpine`, `rhel`,
    /// `almalinux`, `rocky`, `wolfi`, `sles`, `opensuse-leap`, `amzn`, …
    pub family: String,
    /// `VERSION_ID`, or the content of `debian_version` / `alpine-release`.
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretty_name: Option<String>,
    /// True when the release is known to be past its end of life.
    #[serde(default)]
    pub eol: bool,
    /// `CPE_NAME` from os-release (`cpe:/o:redhat:enterprise_linux:9::baseos`):
    /// the product stream Red Hat's records are scoped to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpe_name: Option<String>,
}

/// Everything found in an image's filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Inventory {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<OsInfo>,
    pub packages: Vec<Package>,
}

/// Where a finding's severity came from; always reported.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum SeveritySource {
    /// A CVSS vector in the record's own `severity` list (`CVSS_V2`, `CVSS_V3`, `CVSS_V4`).
    Cvss { version: ArcStr },
    /// `database_specific.severity` (GitHub advisories and others).
    DatabaseSpecific,
    /// A distribution's own priority (Ubuntu severity, Debian urgency).
    Distro { name: ArcStr },
    /// Borrowed from another loaded record that shares a CVE.
    Alias { id: ArcStr },
    /// Nothing known.
    #[default]
    None,
}

/// One vulnerability affecting one installed package.
///
/// The text shared by many findings (the record's, the package's) is
/// reference-counted: matching an inventory builds thousands of findings
/// from a few hundred records and packages, and copying every string was
/// most of its time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub id: ArcStr,
    #[serde(default)]
    pub aliases: Vec<ArcStr>,
    /// The installed package's name (binary package for OS packages).
    pub package: ArcStr,
    pub kind: PackageKind,
    /// The OSV ecosystem the record came from, e.g. `Debian:12`.
    pub ecosystem: ArcStr,
    pub installed_version: ArcStr,
    /// The version that fixes it; `None` means no fix is available yet.
    #[serde(default)]
    pub fixed_version: Option<String>,
    pub severity: Severity,
    pub severity_source: SeveritySource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_vector: Option<ArcStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<ArcStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<ArcStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

impl Finding {
    pub fn is_fixable(&self) -> bool {
        self.fixed_version.is_some()
    }

    /// True if `id` names this finding by its ID or one of its aliases.
    pub fn is_named(&self, id: &str) -> bool {
        self.id.eq_ignore_ascii_case(id) || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(id))
    }
}

/// The result of scanning one image digest against one database revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanReport {
    /// The reference as it was asked for, normalized.
    pub image: String,
    /// `sha256:…` of the manifest that was scanned.
    pub digest: String,
    pub db_revision: String,
    /// RFC 3339 time the scan finished.
    pub scanned_at: String,
    pub inventory: Inventory,
    pub findings: Vec<Finding>,
    /// Ecosystems the image needs that the database does not cover (e.g. an
    /// OS release with no records); reported, never silently skipped.
    #[serde(default)]
    pub unchecked: Vec<String>,
}
