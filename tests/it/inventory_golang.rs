//! Go build info read out of the bundled sample image's layers, checked
//! against Go's own reader (`go version`) of the same real binary.

use scangate::inventory::detectors::all;
use scangate::inventory::{LayerLimits, analyze_layer, assemble};
use scangate::model::PackageKind;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn analyze(blob: &[u8], digest: &str) -> Arc<scangate::inventory::LayerAnalysis> {
    Arc::new(analyze_layer(blob, digest, &all(), &LayerLimits::default()).unwrap())
}

#[test]
fn the_sample_images_go_binary_matches_go_version_m() {
    // The sample image's app layer holds the real Go binary.
    let layout = root().join("examples/images/payments-api");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap();
    let blob = |digest: &str| {
        std::fs::read(
            layout
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let manifest: serde_json::Value = serde_json::from_slice(&blob(manifest_digest)).unwrap();
    let layers: Vec<_> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let d = l["digest"].as_str().unwrap();
            analyze(&blob(d), d)
        })
        .collect();
    let inventory = assemble(&layers);
    assert_eq!(inventory.os.as_ref().unwrap().version, "12");
    let stdlib = inventory
        .packages
        .iter()
        .find(|p| p.name == "stdlib")
        .expect("the toolchain is reported as stdlib");
    assert_eq!(stdlib.version, "1.19.8");
    assert_eq!(stdlib.kind, PackageKind::Golang);
    assert_eq!(stdlib.location.path, "app/payments-api");

    // The oracle: Go's own reader of the same binary.
    let dir = tempfile::tempdir().unwrap();
    let app_layer = blob(manifest["layers"][1]["digest"].as_str().unwrap());
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&app_layer[..]));
    archive.unpack(dir.path()).unwrap();
    let go = Command::new("go")
        .arg("version")
        .arg(dir.path().join("app/payments-api"))
        .output()
        .expect("go is installed (scripts/deps/inventory.sh)");
    let said = String::from_utf8(go.stdout).unwrap();
    assert!(said.trim().ends_with(": go1.19.8"), "{said}");
}
