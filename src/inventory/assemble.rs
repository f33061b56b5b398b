//! The final filesystem's view from a stack of analysed layers: lower
//! layers first; each layer's whiteouts and opaque directories hide what
//! the layers below had, and a file at the same path replaces it.

use super::detectors::Detected;
use super::layer::{Found, LayerAnalysis};
use crate::model::{Inventory, OsInfo, PackageKind};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where the OS is read from, most trusted first.
const OS_FILES: [&str; 5] = [
    "etc/os-release",
    "usr/lib/os-release",
    "etc/alpine-release",
    "etc/debian_version",
    "etc/redhat-release",
];

/// Removes everything below `dir` (the directory's contents).
fn remove_contents(view: &mut BTreeMap<String, (String, Found)>, dir: &str) {
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let doomed: Vec<String> = view
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .collect();
    for key in doomed {
        view.remove(&key);
    }
}

/// Removes `path` and, if it was a directory, everything below it.
fn remove_below(view: &mut BTreeMap<String, (String, Found)>, path: &str) {
    view.remove(path);
    remove_contents(view, path);
}

/// The inventory of the image whose layers are `layers`, bottom first.
pub fn assemble(layers: &[Arc<LayerAnalysis>]) -> Inventory {
    let mut view: BTreeMap<String, (String, Found)> = BTreeMap::new();
    for layer in layers {
        for dir in &layer.opaque_dirs {
            remove_contents(&mut view, dir);
        }
        for path in &layer.whiteouts {
            remove_below(&mut view, path);
        }
        for (path, found) in &layer.found {
            view.insert(path.clone(), (layer.digest.clone(), found.clone()));
        }
    }
    let os = OS_FILES.iter().find_map(|path| match view.get(*path) {
        Some((_, Found::Detected(Detected::Os(os)))) => Some(os.clone()),
        _ => None,
    });
    let mut packages = Vec::new();
    for (layer, found) in view.into_values() {
        if let Found::Detected(Detected::Packages(found)) = found {
            for mut package in found {
                package.location.layer = Some(layer.clone());
                if package.kind.is_os() {
                    add_distro(&mut package.purl, package.kind, os.as_ref());
                }
                packages.push(package);
            }
        }
    }
    Inventory { os, packages }
}

/// Adds the `distro` qualifier to an OS package's purl once the OS is known.
fn add_distro(purl: &mut String, kind: PackageKind, os: Option<&OsInfo>) {
    let Some(os) = os else { return };
    if purl.contains("distro=") {
        return;
    }
    let distro = match kind {
        PackageKind::Apk | PackageKind::Deb | PackageKind::Rpm => {
            format!("{}-{}", os.family, os.version)
        }
        _ => return,
    };
    purl.push(if purl.contains('?') { '&' } else { '?' });
    purl.push_str("distro=");
    purl.push_str(&distro);
}
