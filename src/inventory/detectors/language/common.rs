//! Helpers shared by the language detectors: building a [`Package`] and
//! splitting metadata text.

use crate::inventory::detectors::DetectError;
use crate::model::{Location, Package, PackageKind};

/// A language package found at `path`; the walker fills in the layer.
pub fn package(name: &str, version: &str, kind: PackageKind, purl: String, path: &str) -> Package {
    Package {
        name: name.to_string(),
        version: version.to_string(),
        kind,
        purl,
        source_name: None,
        source_version: None,
        arch: None,
        location: Location {
            layer: None,
            path: path.into(),
        },
    }
}

/// The error a detector reports for a file it wanted but could not parse.
pub fn error(detector: &'static str, path: &str, reason: impl ToString) -> DetectError {
    DetectError {
        detector,
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

/// The last path component (`a/b/c.jar` → `c.jar`).
pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The value of an RFC 822 style `Key: value` header (email-like metadata
/// such as Python's `METADATA`), searched only in the header block before
/// the first blank line.
pub fn header_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case(key)
        {
            return Some(v.trim());
        }
    }
    None
}
