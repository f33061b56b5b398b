//! Stacks per-layer results into the final filesystem's inventory.

use std::sync::Arc;

use super::detectors::Detected;
use super::detectors::system::{os_release, purl};
use super::layer::LayerAnalysis;
use crate::model::{Inventory, OsInfo};

/// Builds the image's inventory from its layers, bottom layer first.
///
/// A file's findings count only if no higher layer replaces the path (any
/// entry there, or a non-directory at an ancestor), deletes it or an
/// ancestor (`.wh.name`), or marks an ancestor directory opaque. Packages
/// come out in layer order, then path order, then the order in the file.
/// The OS comes from the most authoritative visible file (`etc/os-release`,
/// then `usr/lib/os-release`, then `*-release` / `debian_version`), and OS
/// packages' purls are completed with the distribution it names.
pub fn assemble(layers: &[Arc<LayerAnalysis>]) -> Inventory {
    let mut packages = Vec::new();
    let mut os_candidates: Vec<(u8, OsInfo)> = Vec::new();
    for (index, layer) in layers.iter().enumerate() {
        let upper = layers.get(index + 1..).unwrap_or_default();
        for (path, findings) in &layer.files {
            if upper.iter().any(|u| u.hides(path)) {
                continue;
            }
            for finding in findings {
                match &finding.detected {
                    Detected::Packages(found) => packages.extend(found.iter().cloned()),
                    Detected::Os(info) => {
                        os_candidates.push((os_release::source_rank(path), info.clone()))
                    }
                    Detected::Nothing => {}
                }
            }
        }
    }
    let os = choose_os(os_candidates);
    if let Some(info) = &os {
        for package in &mut packages {
            purl::qualify_with_os(package, info);
        }
    }
    Inventory { os, packages }
}

/// The most authoritative OS file wins; when it has no version (Debian
/// testing's os-release has no `VERSION_ID`), a lesser file of the same
/// family supplies it.
fn choose_os(mut candidates: Vec<(u8, OsInfo)>) -> Option<OsInfo> {
    candidates.sort_by_key(|(rank, _)| *rank);
    let mut candidates = candidates.into_iter().map(|(_, info)| info);
    let mut best = candidates.next()?;
    if best.version.is_empty()
        && let Some(other) = candidates.find(|c| c.family == best.family && !c.version.is_empty())
    {
        best.eol = os_release::is_end_of_life(&best.family, &other.version);
        best.version = other.version;
    }
    Some(best)
}
