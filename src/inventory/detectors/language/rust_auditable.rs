//! Rust binaries built with `cargo auditable`: the `.dep-v0` section holds
//! zlib-compressed JSON (`{"packages": [{"name", "version", "source",
//! "kind", "dependencies", "root"}]}`) describing the whole dependency tree.
//!
//! Reported: every package whose source is `crates.io`, since only those
//! have RustSec/OSV advisories. The root is the application itself; it is
//! reported only when it too came from crates.io (`cargo install`), and
//! local/git packages are skipped.

use super::common::{error, package};
use crate::inventory::detectors::{DetectError, Detected, Detector, DetectorLimits, FileMeta};
use crate::inventory::purl::purl;
use crate::model::PackageKind;
use object::{Object, ObjectSection};
use std::io::Read;

pub struct CargoAuditable;

/// The section name cargo-auditable writes (ELF, Mach-O and PE alike).
const SECTION: &str = ".dep-v0";
/// Largest binary the walker should hand over.
pub const MAX_BINARY_BYTES: u64 = 128 << 20;
/// Largest inflated dependency JSON (cargo-auditable caps its own at 8 MiB).
pub const MAX_DEPENDENCY_JSON_BYTES: u64 = 8 << 20;

#[derive(serde::Deserialize)]
struct DependencyInfo {
    packages: Vec<AuditablePackage>,
}

#[derive(serde::Deserialize)]
struct AuditablePackage {
    name: String,
    version: String,
    #[serde(default)]
    source: String,
}

fn is_object_file(data: &[u8]) -> bool {
    data.starts_with(b"\x7fELF")
        || data.starts_with(b"MZ")
        || data.starts_with(&[0xcf, 0xfa, 0xed, 0xfe])
        || data.starts_with(&[0xce, 0xfa, 0xed, 0xfe])
}

impl Detector for CargoAuditable {
    fn name(&self) -> &'static str {
        "rust-auditable"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.is_executable() && file.size >= 1024
    }

    fn size_limit(&self, limits: &DetectorLimits) -> Option<(&'static str, u64)> {
        Some(("maxRustBinaryBytes", limits.max_rust_binary_bytes))
    }

    fn detect(&self, file: &FileMeta<'_>, data: &[u8]) -> Result<Detected, DetectError> {
        // Cheap refusals first: most executables are not auditable Rust.
        if !is_object_file(data) || memchr::memmem::find(data, SECTION.as_bytes()).is_none() {
            return Ok(Detected::Nothing);
        }
        let Ok(object) = object::File::parse(data) else {
            return Ok(Detected::Nothing);
        };
        let Some(section) = object.section_by_name(SECTION) else {
            return Ok(Detected::Nothing);
        };
        let compressed = section
            .data()
            .map_err(|e| error(self.name(), file.path, e))?;
        let mut json = Vec::new();
        flate2::read::ZlibDecoder::new(compressed)
            .take(MAX_DEPENDENCY_JSON_BYTES + 1)
            .read_to_end(&mut json)
            .map_err(|e| error(self.name(), file.path, format!("inflating {SECTION}: {e}")))?;
        if json.len() as u64 > MAX_DEPENDENCY_JSON_BYTES {
            return Err(error(self.name(), file.path, "dependency data too large"));
        }
        let info: DependencyInfo =
            serde_json::from_slice(&json).map_err(|e| error(self.name(), file.path, e))?;
        let packages: Vec<_> = info
            .packages
            .iter()
            .filter(|p| p.source == "crates.io" && !p.name.is_empty() && !p.version.is_empty())
            .map(|p| {
                let purl = purl("cargo", None, &p.name, &p.version, &[]);
                package(&p.name, &p.version, PackageKind::Cargo, purl, file.path)
            })
            .collect();
        Ok(if packages.is_empty() {
            Detected::Nothing
        } else {
            Detected::Packages(packages)
        })
    }
}
