//! Java archives (`.jar`, `.war`, `.ear`) and the archives nested in them
//! (Spring Boot `BOOT-INF/lib/*.jar`, `WEB-INF/lib/*.jar`, modules of an
//! ear). Each archive is identified by its `META-INF/maven/**/pom.properties`
//! (all of them: shaded jars carry several), else by `META-INF/MANIFEST.MF`,
//! else by its file name (`commons-lang3-3.12.0.jar`).
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

fn from_manifest(text: &str, path: &str) -> Option<Package> {
    let main = manifest_main_section(text);
    let get = |key: &str| header_value(&main, key).filter(|v| !v.is_empty());
    let symbolic = get("Bundle-SymbolicName").and_then(|s| s.split(';').next());
    let artifact = get("Implementation-Title").or(symbolic)?;
    let version = get("Implementation-Version").or_else(|| get("Bundle-Version"))?;
    Some(maven_package(
        get("Implementation-Vendor-Id"),
        artifact,
        version,
        path,
    ))
}

/// `commons-lang3-3.12.0.jar` → (`commons-lang3`, `3.12.0`): the version
/// starts at the first `-` followed by a digit.
fn from_file_name(path: &str) -> Option<Package> {
    let name = file_name(path);
    let stem = name.get(..name.len().checked_sub(4)?)?;
    let split = stem
        .char_indices()
        .find(|&(i, c)| c == '-' && stem[i + 1..].starts_with(|d: char| d.is_ascii_digit()))?
        .0;
    let (artifact, version) = (&stem[..split], &stem[split + 1..]);
    (!artifact.is_empty()).then(|| maven_package(None, artifact, version, path))
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
    } else if let Some(package) = manifest
        .as_deref()
        .and_then(|m| from_manifest(m, path))
        .or_else(|| from_file_name(path))
    {
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

    #[test]
    fn file_names() {
        let p = from_file_name("a/commons-lang3-3.12.0.jar").unwrap();
        assert_eq!(
            (p.name.as_str(), p.version.as_str()),
            ("commons-lang3", "3.12.0")
        );
        assert!(from_file_name("a/app.jar").is_none());
        assert!(from_file_name("a/-1.jar").is_none());
        assert!(from_file_name(".jar").is_none());
    }

    #[test]
    fn manifest_continuations() {
        let m = "Manifest-Version: 1.0\r\nImplementation-Title: very-long-na\r\n me\r\nImplementation-Version: 1.2\r\n\r\nName: x\r\nImplementation-Title: other\r\n";
        let p = from_manifest(m, "x.jar").unwrap();
        assert_eq!(
            (p.name.as_str(), p.version.as_str()),
            ("very-long-name", "1.2")
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
