//! Java archives (`.jar`, `.war`, `.ear`) and the archives nested in them
//! (Spring Boot `BOOT-INF/lib/*.jar`, `WEB-INF/lib/*.jar`, modules of an
//! ear). Each archive is identified by its `META-INF/maven/**/pom.properties`
//! (all of them: shaded jars carry several): the only place a jar states its
//! Maven coordinates. Without one, a `groupId:artifactId` is taken only
//! where two independent sources agree on it (see [`coordinates`]);
//! otherwise the archive is reported with its name and version but no
//! group, which matching counts as "not checked" instead of looking up a
//! coordinate no advisory can name. Manifests write display names
//! (`Implementation-Title: Commons Collections`) and vendor ids
//! (`org.apache`) that are not coordinates, and distributions rename files
//! (`commons-collections3-3.2.2.jar`): guessing from them invents
//! coordinates that never match, a silent "no findings".
//!
//! Memory: the outer archive is the walker's buffer; one nested archive per
//! nesting level is inflated into memory at a time, each at most
//! [`MAX_NESTED_ARCHIVE_BYTES`], and all inflation together is bounded by
//! [`MAX_TOTAL_INFLATED_BYTES`] so a zip bomb costs bounded time.

use super::common::{error, file_name, header_value, package};
use crate::inventory::detectors::{DetectError, Detected, Detector, DetectorLimits, FileMeta};
use crate::inventory::purl::purl;
use crate::model::{Package, PackageKind};
use std::io::{Cursor, Read};

pub struct JavaArchive;

/// Largest archive the walker should hand over.
pub const MAX_ARCHIVE_BYTES: u64 = 96 << 20;
/// Deepest nesting followed (the outer archive is depth 0).
pub const MAX_NESTING_DEPTH: usize = 3;
/// Largest nested archive inflated into memory.
pub const MAX_NESTED_ARCHIVE_BYTES: u64 = 32 << 20;
/// Total bytes inflated from one outer archive (nested archives and
/// metadata entries together).
pub const MAX_TOTAL_INFLATED_BYTES: u64 = 256 << 20;
/// Largest `pom.properties` / `MANIFEST.MF` read.
pub const MAX_METADATA_ENTRY_BYTES: u64 = 1 << 20;

fn is_archive_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".jar") || lower.ends_with(".war") || lower.ends_with(".ear")
}

/// `key=value` / `key: value` lines of a Java properties file.
fn property<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with('!') {
            return None;
        }
        let split = line.find(['=', ':'])?;
        (line[..split].trim() == key).then(|| line[split + 1..].trim())
    })
}

fn maven_package(group: Option<&str>, artifact: &str, version: &str, path: &str) -> Package {
    let group = group.filter(|g| !g.is_empty());
    let name = match group {
        Some(group) => format!("{group}:{artifact}"),
        None => artifact.to_string(),
    };
    let purl = purl("maven", group, artifact, version, &[]);
    package(&name, version, PackageKind::Maven, purl, path)
}

fn from_pom_properties(text: &str, path: &str) -> Option<Package> {
    let artifact = property(text, "artifactId").filter(|a| !a.is_empty())?;
    let version = property(text, "version").filter(|v| !v.is_empty())?;
    Some(maven_package(
        property(text, "groupId"),
        artifact,
        version,
        path,
    ))
}

/// The main section of a manifest with continuation lines joined.
fn manifest_main_section(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            break;
        }
        match line.strip_prefix(' ') {
            Some(continued) => out.push_str(continued),
            None => {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(line);
            }
        }
    }
    out
}

/// Whether `text` has the shape of a Maven groupId or artifactId (letters,
/// digits, `.`, `-`, `_`): display names with spaces or quotes are not.
fn is_coordinate_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// What one archive says about itself, without a `pom.properties`.
#[derive(Debug, Default, PartialEq)]
struct Evidence<'a> {
    /// From a file name `artifact-version.jar`.
    file: Option<(&'a str, &'a str)>,
    /// `Implementation-Title` when it has a coordinate's shape.
    title: Option<String>,
    /// `Bundle-SymbolicName` (without directives) and `Automatic-Module-Name`.
    module_names: Vec<String>,
    version: Option<String>,
}

/// The Maven coordinates (`group`, `artifact`) that two independent
/// sources agree on, or `None`:
/// - the artifact is the file name's, or the manifest title's when it has
///   a coordinate's shape; where both exist they must be equal;
/// - the group is a module name's prefix when the module name is that
///   prefix, a dot and the artifact itself, and the artifact holds a `-`:
///   no Java package has one, so such a module name was made from Maven
///   coordinates (maven-bundle-plugin's `groupId.artifactId`, e.g.
///   `com.fasterxml.jackson.core.jackson-databind`). A module name that
///   merely ends in a word equal to the artifact (`org.apache.log4j`) is a
///   Java package, and `Implementation-Vendor-Id` is often an
///   organisation rather than the groupId (`org.apache` on
///   commons-collections): neither gives a group.
fn coordinates(evidence: &Evidence<'_>) -> Option<(String, String)> {
    let artifact = match (evidence.file.map(|(a, _)| a), evidence.title.as_deref()) {
        (Some(file), Some(title)) if file != title => return None,
        (Some(file), _) => file.to_string(),
        (None, Some(title)) => title.to_string(),
        (None, None) => return None,
    };
    if !artifact.contains('-') {
        return None;
    }
    evidence.module_names.iter().find_map(|module| {
        let group = module.strip_suffix(&format!(".{artifact}"))?;
        (group.contains('.') && is_coordinate_token(group))
            .then(|| (group.to_string(), artifact.clone()))
    })
}

/// The archive's identity from its manifest and file name, when it has no
/// `pom.properties`: full coordinates where [`coordinates`] finds them,
/// else its name and version with no group (checked by nothing, and so
/// reported as not checked).
fn without_pom(manifest: Option<&str>, path: &str) -> Option<Package> {
    let main = manifest.map(manifest_main_section).unwrap_or_default();
    let get = |key: &str| header_value(&main, key).filter(|v| !v.is_empty());
    let file = file_name_parts(path);
    let evidence = Evidence {
        file,
        title: get("Implementation-Title")
            .filter(|t| is_coordinate_token(t))
            .map(str::to_string),
        module_names: [
            get("Bundle-SymbolicName").and_then(|s| s.split(';').next().map(str::trim)),
            get("Automatic-Module-Name"),
        ]
        .into_iter()
        .flatten()
        .filter(|m| is_coordinate_token(m))
        .map(str::to_string)
        .collect(),
        version: get("Implementation-Version")
            .or_else(|| get("Bundle-Version"))
            .map(str::to_string),
    };
    // The manifest's version is the build's own; a file name's can be a
    // distribution's renaming (`log4j-1.2-1.2.17.jar`).
    let version = evidence
        .version
        .clone()
        .or_else(|| evidence.file.map(|(_, v)| v.to_string()))?;
    if let Some((_, file_version)) = evidence.file
        && evidence
            .version
            .as_deref()
            .is_some_and(|v| v != file_version)
    {
        // The file name and the manifest disagree: the name is not an
        // `artifact-version` pair, so it says nothing about the artifact.
        let evidence = Evidence {
            file: None,
            ..evidence
        };
        return Some(identified(&evidence, &version, path));
    }
    Some(identified(&evidence, &version, path))
}

fn identified(evidence: &Evidence<'_>, version: &str, path: &str) -> Package {
    match coordinates(evidence) {
        Some((group, artifact)) => maven_package(Some(&group), &artifact, version, path),
        None => {
            let name = evidence
                .file
                .map(|(a, _)| a.to_string())
                .or_else(|| evidence.title.clone())
                .unwrap_or_else(|| {
                    let name = file_name(path);
                    name.get(..name.len().saturating_sub(4))
                        .unwrap_or(name)
                        .to_string()
                });
            maven_package(None, &name, version, path)
        }
    }
}

/// `commons-lang3-3.12.0.jar` → (`commons-lang3`, `3.12.0`): the version
/// starts at the first `-` followed by a digit.
fn file_name_parts(path: &str) -> Option<(&str, &str)> {
    let name = file_name(path);
    let stem = name.get(..name.len().checked_sub(4)?)?;
    let split = stem
        .char_indices()
        .find(|&(i, c)| c == '-' && stem[i + 1..].starts_with(|d: char| d.is_ascii_digit()))?
        .0;
    let (artifact, version) = (&stem[..split], &stem[split + 1..]);
    (!artifact.is_empty() && !version.is_empty()).then_some((artifact, version))
}

struct Budget {
    inflated: u64,
}

impl Budget {
    /// Reads at most `limit` bytes of `entry`, charged to the budget; None
    /// when the entry is larger or the budget is spent.
    fn read(&mut self, entry: &mut impl Read, size: u64, limit: u64) -> Option<Vec<u8>> {
        let left = MAX_TOTAL_INFLATED_BYTES.saturating_sub(self.inflated);
        let limit = limit.min(left);
        if size > limit {
            return None;
        }
        let mut buf = Vec::with_capacity(usize::try_from(size).ok()?);
        entry.take(limit + 1).read_to_end(&mut buf).ok()?;
        self.inflated += buf.len() as u64;
        (buf.len() as u64 <= limit).then_some(buf)
    }
}

/// Packages of the archive `data` at `path`, and of the archives nested in
/// it. Unreadable nested archives are skipped; an unreadable outer one is an
/// error.
fn scan_archive(
    data: &[u8],
    path: &str,
    depth: usize,
    budget: &mut Budget,
    out: &mut Vec<Package>,
) -> Result<(), String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(data)).map_err(|e| e.to_string())?;
    let mut poms = Vec::new();
    let mut manifest = None;
    let mut nested = Vec::new();
    for index in 0..archive.len() {
        let Ok(mut entry) = archive.by_index(index) else {
            continue;
        };
        let Ok(name) = entry.name().map(|n| n.into_owned()) else {
            continue;
        };
        let size = entry.size();
        if name.starts_with("META-INF/maven/") && name.ends_with("/pom.properties") {
            if let Some(bytes) = budget.read(&mut entry, size, MAX_METADATA_ENTRY_BYTES) {
                poms.push(String::from_utf8_lossy(&bytes).into_owned());
            }
        } else if name.eq_ignore_ascii_case("META-INF/MANIFEST.MF") {
            manifest = budget
                .read(&mut entry, size, MAX_METADATA_ENTRY_BYTES)
                .map(|b| String::from_utf8_lossy(&b).into_owned());
        } else if depth < MAX_NESTING_DEPTH && is_archive_name(&name) && !entry.is_dir() {
            nested.push(index);
        }
    }
    let found: Vec<Package> = poms
        .iter()
        .filter_map(|pom| from_pom_properties(pom, path))
        .collect();
    if !found.is_empty() {
        out.extend(found);
    } else if let Some(package) = without_pom(manifest.as_deref(), path) {
        out.push(package);
    }
    for index in nested {
        let Ok(mut entry) = archive.by_index(index) else {
            continue;
        };
        let Ok(name) = entry.name().map(|n| n.into_owned()) else {
            continue;
        };
        let size = entry.size();
        let Some(bytes) = budget.read(&mut entry, size, MAX_NESTED_ARCHIVE_BYTES) else {
            continue;
        };
        drop(entry);
        let inner_path = format!("{path}!/{name}");
        // A broken nested archive is skipped: the outer one still counts.
        let _ = scan_archive(&bytes, &inner_path, depth + 1, budget, out);
    }
    Ok(())
}

impl Detector for JavaArchive {
    fn name(&self) -> &'static str {
        "java"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        is_archive_name(file.path)
    }

    fn size_limit(&self, limits: &DetectorLimits) -> Option<(&'static str, u64)> {
        Some(("maxJavaArchiveBytes", limits.max_java_archive_bytes))
    }

    fn detect(&self, file: &FileMeta<'_>, data: &[u8]) -> Result<Detected, DetectError> {
        let mut packages = Vec::new();
        let mut budget = Budget { inflated: 0 };
        scan_archive(data, file.path, 0, &mut budget, &mut packages)
            .map_err(|e| error(self.name(), file.path, e))?;
        Ok(if packages.is_empty() {
            Detected::Nothing
        } else {
            Detected::Packages(packages)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coordinate(manifest: &str, path: &str) -> (String, String) {
        let p = without_pom(Some(manifest), path).unwrap();
        (p.name, p.version)
    }

    #[test]
    fn file_names() {
        assert_eq!(
            file_name_parts("a/commons-lang3-3.12.0.jar"),
            Some(("commons-lang3", "3.12.0"))
        );
        assert!(file_name_parts("a/app.jar").is_none());
        assert!(file_name_parts("a/-1.jar").is_none());
        assert!(file_name_parts(".jar").is_none());
    }

    #[test]
    fn manifest_continuations() {
        let m = "Manifest-Version: 1.0\r\nImplementation-Title: very-long-na\r\n me\r\nImplementation-Version: 1.2\r\n\r\nName: x\r\nImplementation-Title: other\r\n";
        assert_eq!(
            coordinate(m, "x.jar"),
            ("very-long-name".into(), "1.2".into())
        );
    }

    /// The manifests of Debian 12's jars (libcommons-collections3-java,
    /// liblog4j1.2-java, libspring-core-java), which carry no
    /// pom.properties: no invented coordinates.
    #[test]
    fn display_names_and_vendor_ids_are_not_coordinates() {
        let collections = "Manifest-Version: 1.0\nImplementation-Title: Commons Collections\nImplementation-Vendor-Id: org.apache\nImplementation-Version: 3.2.2\nBundle-SymbolicName: org.apache.commons.collections\nBundle-Version: 3.2.2\n";
        assert_eq!(
            coordinate(collections, "usr/share/java/commons-collections3-3.2.2.jar"),
            ("commons-collections3".into(), "3.2.2".into())
        );
        assert_eq!(
            coordinate(collections, "usr/share/java/commons-collections3.jar"),
            ("commons-collections3".into(), "3.2.2".into())
        );
        let log4j = "Implementation-Title: log4j\nImplementation-Version: 1.2.17\nBundle-SymbolicName: org.apache.log4j\n";
        assert_eq!(
            coordinate(log4j, "usr/share/java/log4j-1.2-1.2.17.jar"),
            ("log4j".into(), "1.2.17".into())
        );
        let spring = "Implementation-Title: spring-core\nImplementation-Version: 4.3.30.RELEASE\n";
        assert_eq!(
            coordinate(spring, "usr/share/java/spring3-core.jar"),
            ("spring-core".into(), "4.3.30.RELEASE".into())
        );
    }

    #[test]
    fn agreeing_sources_give_coordinates() {
        // The module name is the group followed by the artifact.
        let jackson = "Implementation-Version: 2.15.2\nBundle-SymbolicName: com.fasterxml.jackson.core.jackson-databind\n";
        assert_eq!(
            coordinate(jackson, "lib/jackson-databind-2.15.2.jar"),
            (
                "com.fasterxml.jackson.core:jackson-databind".into(),
                "2.15.2".into()
            )
        );
        // A Maven-named copy of commons-collections: the vendor id and the
        // module name would make `org.apache:commons-collections`, which
        // is not its coordinate (`commons-collections:commons-collections`).
        let collections = "Implementation-Title: Commons Collections\nImplementation-Vendor-Id: org.apache\nImplementation-Version: 3.2.2\nBundle-SymbolicName: org.apache.commons.collections\n";
        assert_eq!(
            coordinate(collections, "WEB-INF/lib/commons-collections-3.2.2.jar"),
            ("commons-collections".into(), "3.2.2".into())
        );
        // File name and title disagree: no artifact, no coordinates.
        let other = "Implementation-Title: other\nImplementation-Version: 2.15.2\nBundle-SymbolicName: com.fasterxml.jackson.core.jackson-databind\n";
        assert!(
            !coordinate(other, "lib/jackson-databind-2.15.2.jar")
                .0
                .contains(':')
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let meta = FileMeta {
            path: "x.jar",
            size: 4,
            mode: 0o644,
        };
        assert!(JavaArchive.detect(&meta, b"PK\x03\x04garbage").is_err());
    }
}
