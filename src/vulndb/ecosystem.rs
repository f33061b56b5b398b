//! Which OSV ecosystems a package is checked against, under which name and
//! version, and what "not checked" says when none applies.
//!
//! The export's ecosystem strings and naming rules come from osv-schema's
//! `ecosystems.json` and the records themselves (see
//! `tests/data/distro/SOURCES.md`). A string the database does not hold
//! makes the package "not checked", never a silent pass.

use crate::model::{Inventory, OsInfo, Package, PackageKind};

/// How a distribution's records name its packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Names {
    /// The installed (binary) package's name: AlmaLinux, Rocky Linux.
    #[default]
    Binary,
    /// The source package's name, compared with the source version: Azure
    /// Linux, SUSE, openSUSE, openEuler, Mageia (rpm). dpkg and apk always
    /// use their source/origin name (see [`lookup_keys`]).
    Source,
    /// Either: Red Hat's records list binary and source RPMs.
    BinaryAndSource,
}

/// One ecosystem an image's OS packages are looked up in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsEcosystem {
    pub ecosystem: String,
    /// Whether the image can install this ecosystem's fixes. Ubuntu Pro on
    /// an image without Pro and SUSE LTSS: the record still says the
    /// package is vulnerable, but its fix is not one this image gets.
    pub fixes: bool,
    /// Whether the database must hold it for the packages to count as
    /// checked (supplementary streams may simply have no records yet).
    pub required: bool,
}

impl OsEcosystem {
    fn main(ecosystem: String) -> OsEcosystem {
        OsEcosystem {
            ecosystem,
            fixes: true,
            required: true,
        }
    }

    fn extra(ecosystem: String, fixes: bool) -> OsEcosystem {
        OsEcosystem {
            ecosystem,
            fixes,
            required: false,
        }
    }
}

/// What an image's OS packages are checked against.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OsTarget {
    /// In priority order: the first ecosystem with an entry for a record
    /// settles that record for the package (an Ubuntu Pro entry that says
    /// "fixed in +esm1" overrides the standard entry that says "no fix").
    pub ecosystems: Vec<OsEcosystem>,
    pub names: Names,
    /// Why OS packages are not checked, when `ecosystems` is empty.
    pub not_checked: Option<String>,
}

/// One place a package is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupKey {
    /// Ecosystem with release (`Debian:12`).
    pub ecosystem: String,
    /// The name the records use.
    pub name: String,
    /// The version the records' ranges are in (the source version where
    /// the records name source packages).
    pub version: String,
    /// See [`OsEcosystem::fixes`]; language ecosystems: true.
    pub fixes: bool,
    /// See [`OsEcosystem::required`]; language ecosystems: true.
    pub required: bool,
}

/// Distributions whose packages the OSV export does not cover: the name
/// said in "not checked". Photon OS is in osv-schema's list, but osv.dev
/// imports no Photon source (its `source.yaml`), so the export has none.
const NOT_COVERED: &[(&str, &str)] = &[
    ("amzn", "Amazon Linux"),
    ("ol", "Oracle Linux"),
    ("centos", "CentOS"),
    ("fedora", "Fedora"),
    ("photon", "Photon OS"),
    ("bottlerocket", "Bottlerocket"),
];

/// SLE 15 modules a product's packages come from. SUSE's records name the
/// module that ships a package (`SUSE:Linux Enterprise Module for
/// Basesystem 15 SP5`), rarely the product the image says it is.
const SLE_MODULES: &[&str] = &[
    "Basesystem",
    "Server Applications",
    "Desktop Applications",
    "Development Tools",
    "Containers",
    "Web and Scripting",
    "Legacy",
    "Public Cloud",
    "Python 3",
];

/// The main OSV ecosystem (with release) for the OS packages of `os`, or
/// `None` if scangate does not know how the export names that
/// distribution. Matching uses [`os_target`]; this names the main one.
#[cfg(test)]
fn os_ecosystem(os: &OsInfo) -> Option<String> {
    distribution(os, false)
        .ok()
        .and_then(|(ecosystems, _)| ecosystems.into_iter().next())
        .map(|e| e.ecosystem)
}

/// What the inventory's OS packages are checked against. Ubuntu Pro
/// counts as enabled when an installed package carries an ESM version
/// (`+esm1`): Pro images are built with `pro attach` and often detached at
/// the end, which removes the apt sources but not what they installed.
pub fn os_target(inventory: &Inventory) -> OsTarget {
    let Some(os) = &inventory.os else {
        return OsTarget {
            not_checked: Some("an unknown OS".into()),
            ..OsTarget::default()
        };
    };
    let pro = inventory
        .packages
        .iter()
        .any(|p| p.kind == PackageKind::Deb && p.version.contains("+esm"));
    match distribution(os, pro) {
        Ok((ecosystems, names)) => OsTarget {
            ecosystems,
            names,
            not_checked: None,
        },
        Err(reason) => OsTarget {
            not_checked: Some(reason),
            ..OsTarget::default()
        },
    }
}

/// The ecosystems of `os` in priority order and how its records name
/// packages, or why it has none.
fn distribution(os: &OsInfo, ubuntu_pro: bool) -> Result<(Vec<OsEcosystem>, Names), String> {
    let version = os.version.trim();
    let major = version.split(['.', ' ']).next().unwrap_or("");
    let numeric_major = !major.is_empty() && major.bytes().all(|b| b.is_ascii_digit());
    let family = os.family.as_str();
    let unknown = || format!("{family} {version}");
    let one = |ecosystem: String, names| Ok((vec![OsEcosystem::main(ecosystem)], names));
    if let Some((_, name)) = NOT_COVERED.iter().find(|(id, _)| *id == family) {
        return Err(format!(
            "{name} {version}: not covered by the OSV export; see the second source"
        ));
    }
    match family {
        "debian" if numeric_major => one(format!("Debian:{major}"), Names::Source),
        "ubuntu" => {
            let mut parts = version.split('.');
            let (Some(year), Some(month)) = (parts.next(), parts.next()) else {
                return Err(unknown());
            };
            let lts = month == "04" && year.parse::<u32>().is_ok_and(|y| y.is_multiple_of(2));
            if !lts {
                return one(format!("Ubuntu:{year}.{month}"), Names::Source);
            }
            let standard = OsEcosystem::main(format!("Ubuntu:{year}.{month}:LTS"));
            let pro = format!("Ubuntu:Pro:{year}.{month}:LTS");
            // With Pro, its entries settle a record first and must be
            // loaded; without, they still say what is vulnerable (releases
            // past standard support are published only there), not what
            // this image can install.
            let ecosystems = if ubuntu_pro {
                vec![OsEcosystem::main(pro), standard]
            } else {
                vec![standard, OsEcosystem::extra(pro, false)]
            };
            Ok((ecosystems, Names::Source))
        }
        "alpine" => {
            let mut parts = version.split('.');
            let (Some(major), Some(minor)) = (parts.next(), parts.next()) else {
                return Err(unknown());
            };
            one(format!("Alpine:v{major}.{minor}"), Names::Source)
        }
        "almalinux" if numeric_major => one(format!("AlmaLinux:{major}"), Names::Binary),
        "rocky" if numeric_major => one(format!("Rocky Linux:{major}"), Names::Binary),
        "wolfi" => one("Wolfi".into(), Names::Binary),
        "chainguard" => one("Chainguard".into(), Names::Binary),
        "minimos" => one("MinimOS".into(), Names::Binary),
        // Alpaquita's releases are `23`, `stream`, … (osv-schema).
        "alpaquita" if !major.is_empty() => one(format!("Alpaquita:{major}"), Names::Source),
        // CBL-Mariner 2.0's records are published as Azure Linux 2
        // (osv.dev's AZL-10003 is `Azure Linux:2`), Azure Linux 3.0's as 3.
        "mariner" | "azurelinux" if numeric_major => {
            one(format!("Azure Linux:{major}"), Names::Source)
        }
        "mageia" if numeric_major => one(format!("Mageia:{major}"), Names::Source),
        "openeuler" => openeuler(os).map(|e| (vec![OsEcosystem::main(e)], Names::Source)),
        "opensuse-leap" | "opensuse-leap-micro" | "opensuse-tumbleweed" | "opensuse-microos" => {
            opensuse(os).map(|e| (vec![OsEcosystem::main(e)], Names::Source))
        }
        "sles" | "sles_sap" | "sled" | "sle_hpc" | "sle-micro" | "sl-micro" => {
            suse(os).map(|e| (e, Names::Source))
        }
        "rhel" => red_hat(os).map(|e| (e, Names::BinaryAndSource)),
        _ => Err(unknown()),
    }
}

/// `openEuler:22.03-LTS-SP3` from `VERSION="22.03 (LTS-SP3)"`, as the
/// pretty name repeats it; innovation releases (no `LTS`) have no records.
fn openeuler(os: &OsInfo) -> Result<String, String> {
    let pretty = os.pretty_name.as_deref().unwrap_or("");
    let suffix = pretty
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(inside, _)| inside.trim())
        .filter(|s| s.starts_with("LTS"));
    match suffix {
        Some(suffix) => Ok(format!("openEuler:{}-{suffix}", os.version.trim())),
        None => Err(format!(
            "openEuler {}: not an LTS release; the OSV export covers LTS releases only",
            os.version
        )),
    }
}

/// openSUSE's release is the os-release `PRETTY_NAME` after `openSUSE `
/// (osv-schema): `openSUSE:Leap 15.5`, `openSUSE:Tumbleweed`.
fn opensuse(os: &OsInfo) -> Result<String, String> {
    let pretty = os.pretty_name.as_deref().unwrap_or("").trim();
    match pretty.strip_prefix("openSUSE ") {
        Some(release) if !release.is_empty() => Ok(format!("openSUSE:{release}")),
        _ if os.family == "opensuse-leap" && !os.version.is_empty() => {
            Ok(format!("openSUSE:Leap {}", os.version.trim()))
        }
        _ if os.family == "opensuse-tumbleweed" => Ok("openSUSE:Tumbleweed".into()),
        _ => Err(format!("{} {}", os.family, os.version)),
    }
}

/// SUSE's release is the product's marketing name, as `PRETTY_NAME`
/// writes it after `SUSE ` (osv-schema). SLE 15's records mostly name the
/// module that ships a package, so its modules of the same service pack
/// are looked up too; LTSS streams say what is vulnerable, but their fixes
/// need an LTSS subscription.
fn suse(os: &OsInfo) -> Result<Vec<OsEcosystem>, String> {
    let pretty = os.pretty_name.as_deref().unwrap_or("").trim();
    let Some(product) = pretty.strip_prefix("SUSE ").filter(|p| !p.is_empty()) else {
        return Err(format!("{} {}", os.family, os.version));
    };
    let mut ecosystems = vec![OsEcosystem::main(format!("SUSE:{product}"))];
    // `Linux Enterprise Server 15 SP5` → `15 SP5`; `15` for the GA release.
    let release = [
        "Linux Enterprise Server ",
        "Linux Enterprise Desktop ",
        "Linux Enterprise Server for SAP Applications ",
        "Linux Enterprise High Performance Computing ",
    ]
    .iter()
    .find_map(|p| product.strip_prefix(p))
    .filter(|r| r.starts_with("15"));
    if let Some(release) = release {
        for module in SLE_MODULES {
            ecosystems.push(OsEcosystem::extra(
                format!("SUSE:Linux Enterprise Module for {module} {release}"),
                true,
            ));
        }
        ecosystems.push(OsEcosystem::extra(format!("SUSE:{product} LTSS"), false));
    }
    Ok(ecosystems)
}

/// Red Hat's records are scoped to a product stream's CPE (`Red Hat:
/// enterprise_linux:9::appstream`). Without the image's content sets,
/// `CPE_NAME` names the plain release: its BaseOS and AppStream streams,
/// never EUS/AUS/E4S ones (a plain image does not get their fixes).
fn red_hat(os: &OsInfo) -> Result<Vec<OsEcosystem>, String> {
    let not_checked = || {
        format!(
            "Red Hat Enterprise Linux {}: no CPE_NAME naming its product stream",
            os.version
        )
    };
    let cpe = os.cpe_name.as_deref().ok_or_else(not_checked)?;
    let stream = cpe
        .strip_prefix("cpe:/o:redhat:")
        .or_else(|| cpe.strip_prefix("cpe:/a:redhat:"))
        .ok_or_else(not_checked)?;
    let mut fields = stream.split(':');
    let (Some("enterprise_linux"), Some(release)) = (fields.next(), fields.next()) else {
        return Err(not_checked());
    };
    // RHEL 8 and later name `enterprise_linux:<major>::baseos`.
    if release.is_empty() || !release.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_checked());
    }
    Ok(["baseos", "appstream"]
        .iter()
        .map(|repo| OsEcosystem {
            ecosystem: format!("Red Hat:enterprise_linux:{release}::{repo}"),
            fixes: true,
            // A package comes from one of them; each alone may lack records.
            required: false,
        })
        .collect())
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

/// Where a package is looked up, in priority order, or why it is not
/// checked. OS packages use `os` (see [`os_target`]).
pub fn lookup_keys(package: &Package, os: &OsTarget) -> Result<Vec<LookupKey>, String> {
    let language = |eco: &str| {
        Ok(vec![LookupKey {
            ecosystem: eco.to_string(),
            name: record_name(eco, &package.name),
            version: package.version.clone(),
            fixes: true,
            required: true,
        }])
    };
    let binary = (package.name.as_str(), package.version.as_str());
    // Source RPMs carry their own version (`libreadline7` 7.0 comes from
    // `bash` 4.4); ranges over source versions compare with it.
    let source = (
        package.source_name.as_deref().unwrap_or(&package.name),
        package
            .source_version
            .as_deref()
            .unwrap_or(&package.version),
    );
    let names: Vec<(&str, &str)> = match package.kind {
        // Debian and Ubuntu advisories name source packages, Alpine's and
        // Wolfi's origins; their ranges are compared with the installed
        // version, as the distributions' own tools do.
        PackageKind::Deb | PackageKind::Apk => vec![(source.0, binary.1)],
        PackageKind::Rpm => match os.names {
            Names::Binary => vec![binary],
            Names::Source => vec![source],
            Names::BinaryAndSource if source.0 == binary.0 => vec![binary],
            Names::BinaryAndSource => vec![binary, source],
        },
        PackageKind::Pypi => return language("PyPI"),
        PackageKind::Npm => return language("npm"),
        PackageKind::Golang => return language("Go"),
        // Maven records name `groupId:artifactId`; an archive whose group
        // is unknown has no key any record could match.
        PackageKind::Maven if !package.name.contains(':') => {
            return Err("Maven archives without a groupId (no pom.properties to name them)".into());
        }
        PackageKind::Maven => return language("Maven"),
        PackageKind::Cargo => return language("crates.io"),
        PackageKind::Gem => return language("RubyGems"),
        PackageKind::Composer => return language("Packagist"),
        PackageKind::Nuget => return language("NuGet"),
    };
    if os.ecosystems.is_empty() {
        let why = os.not_checked.as_deref().unwrap_or("an unknown OS");
        // "Amazon Linux 2: not covered …" says it all; an unknown
        // distribution is named with the kind of its packages.
        return Err(if why.contains(':') {
            why.to_string()
        } else {
            format!("{} packages of {why}", package.kind.as_str())
        });
    }
    Ok(os
        .ecosystems
        .iter()
        .flat_map(|eco| {
            names.iter().map(|(name, version)| LookupKey {
                ecosystem: eco.ecosystem.clone(),
                name: (*name).to_string(),
                version: (*version).to_string(),
                fixes: eco.fixes,
                required: eco.required,
            })
        })
        .collect())
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

    fn pretty(family: &str, version: &str, pretty_name: &str) -> OsInfo {
        OsInfo {
            pretty_name: Some(pretty_name.into()),
            ..os(family, version)
        }
    }

    fn ecosystems(os: &OsInfo, pro: bool) -> Vec<(String, bool, bool)> {
        distribution(os, pro)
            .map(|(e, _)| {
                e.into_iter()
                    .map(|e| (e.ecosystem, e.fixes, e.required))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn rpm_distributions_map_to_the_exports_strings() {
        // The os-release values of the images (ID, VERSION_ID, PRETTY_NAME).
        for (info, want) in [
            (os("mariner", "2.0"), "Azure Linux:2"),
            (os("azurelinux", "3.0"), "Azure Linux:3"),
            (os("mageia", "9"), "Mageia:9"),
            (
                pretty("openeuler", "22.03", "openEuler 22.03 (LTS-SP3)"),
                "openEuler:22.03-LTS-SP3",
            ),
            (
                pretty("openeuler", "24.03", "openEuler 24.03 (LTS)"),
                "openEuler:24.03-LTS",
            ),
            (
                pretty("opensuse-leap", "15.5", "openSUSE Leap 15.5"),
                "openSUSE:Leap 15.5",
            ),
            (
                pretty("opensuse-tumbleweed", "20240328", "openSUSE Tumbleweed"),
                "openSUSE:Tumbleweed",
            ),
            (
                pretty("sles", "15.5", "SUSE Linux Enterprise Server 15 SP5"),
                "SUSE:Linux Enterprise Server 15 SP5",
            ),
            (
                pretty("sle-micro", "5.5", "SUSE Linux Enterprise Micro 5.5"),
                "SUSE:Linux Enterprise Micro 5.5",
            ),
            (os("minimos", "20240101"), "MinimOS"),
            (os("alpaquita", "23"), "Alpaquita:23"),
        ] {
            assert_eq!(os_ecosystem(&info).as_deref(), Some(want), "{info:?}");
        }
        assert_eq!(
            os_ecosystem(&pretty("openeuler", "24.09", "openEuler 24.09")),
            None,
            "innovation releases have no records"
        );
    }

    #[test]
    fn sle_15_looks_in_its_modules_and_ltss_gives_no_fix() {
        let got = ecosystems(
            &pretty("sles", "15.3", "SUSE Linux Enterprise Server 15 SP3"),
            false,
        );
        let main = (
            "SUSE:Linux Enterprise Server 15 SP3".to_string(),
            true,
            true,
        );
        assert_eq!(got.first(), Some(&main));
        assert!(got.contains(&(
            "SUSE:Linux Enterprise Module for Basesystem 15 SP3".into(),
            true,
            false
        )));
        assert_eq!(
            got.last(),
            Some(&(
                "SUSE:Linux Enterprise Server 15 SP3 LTSS".to_string(),
                false,
                false
            ))
        );
        // SLE Micro has no modules.
        let micro = ecosystems(
            &pretty("sle-micro", "5.5", "SUSE Linux Enterprise Micro 5.5"),
            false,
        );
        assert_eq!(micro.len(), 1);
    }

    #[test]
    fn ubuntu_pro_comes_first_only_when_enabled() {
        let jammy = os("ubuntu", "22.04");
        assert_eq!(
            ecosystems(&jammy, false),
            [
                ("Ubuntu:22.04:LTS".to_string(), true, true),
                ("Ubuntu:Pro:22.04:LTS".to_string(), false, false)
            ]
        );
        assert_eq!(
            ecosystems(&jammy, true),
            [
                ("Ubuntu:Pro:22.04:LTS".to_string(), true, true),
                ("Ubuntu:22.04:LTS".to_string(), true, true)
            ]
        );
        // Interim releases have no Pro stream.
        assert_eq!(ecosystems(&os("ubuntu", "23.10"), true).len(), 1);
    }

    #[test]
    fn red_hat_streams_come_from_cpe_name_and_never_eus() {
        let rhel = |cpe: Option<&str>| OsInfo {
            cpe_name: cpe.map(String::from),
            ..os("rhel", "9.4")
        };
        assert_eq!(
            ecosystems(
                &rhel(Some("cpe:/o:redhat:enterprise_linux:9::baseos")),
                false
            ),
            [
                (
                    "Red Hat:enterprise_linux:9::baseos".to_string(),
                    true,
                    false
                ),
                (
                    "Red Hat:enterprise_linux:9::appstream".to_string(),
                    true,
                    false
                )
            ]
        );
        // An EUS CPE is not a plain image's; no CPE at all is said.
        for cpe in [Some("cpe:/o:redhat:rhel_eus:9.4::baseos"), None] {
            let err = distribution(&rhel(cpe), false).err().unwrap_or_default();
            assert!(err.contains("no CPE_NAME"), "{err}");
        }
    }

    #[test]
    fn uncovered_distributions_are_named() {
        let err = distribution(&os("amzn", "2"), false).err();
        assert_eq!(
            err.as_deref(),
            Some("Amazon Linux 2: not covered by the OSV export; see the second source")
        );
        let package = Package {
            name: "bash".into(),
            version: "4.2.46-34.amzn2".into(),
            kind: PackageKind::Rpm,
            purl: String::new(),
            source_name: None,
            source_version: None,
            arch: None,
            location: crate::model::Location {
                layer: None,
                path: "var/lib/rpm/Packages".into(),
            },
        };
        let inventory = Inventory {
            os: Some(os("amzn", "2")),
            packages: vec![package.clone()],
        };
        assert_eq!(
            lookup_keys(&package, &os_target(&inventory)),
            Err("Amazon Linux 2: not covered by the OSV export; see the second source".into())
        );
        let plan9 = Inventory {
            os: Some(os("plan9", "4")),
            packages: vec![package.clone()],
        };
        assert_eq!(
            lookup_keys(&package, &os_target(&plan9)),
            Err("rpm packages of plan9 4".into())
        );
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
