//! Local image sources: `oci:DIR[:TAG]` and `docker-archive:FILE`, made
//! from a registry image with `skopeo copy`, scanned with no registry and
//! giving the same inventory as the registry scan.

use crate::support::registry as registry_support;
use crate::support::scan_images;

use registry_support::{Layer, Layout, TestRegistry, tar_layer};
use scan_images::{OS_RELEASE, dpkg_status, names, scanner_for, test_db};
use scangate::registry::{Credentials, ImageSource};
use scangate::scan::{ImageScanner, ScanError, ScannerConfig};
use std::process::Command;

fn skopeo_copy(from: &str, to: &str) {
    let output = Command::new("skopeo")
        .args(["copy", "--quiet", "--src-tls-verify=false", from, to])
        .output()
        .expect("skopeo on PATH (scripts/deps/registry.sh)");
    assert!(
        output.status.success(),
        "skopeo copy {from} {to}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oci_layout_and_docker_archive_scan_like_the_registry_image() {
    let registry = TestRegistry::start();
    let mut layout = Layout::new();
    let image = layout.image(
        &[
            Layer::gzip(tar_layer(&[
                ("etc/os-release", OS_RELEASE),
                (
                    "var/lib/dpkg/status",
                    &dpkg_status(&[("hello", "2.10-3"), ("libc6", "2.36-9")]),
                ),
            ])),
            Layer::gzip(tar_layer(&[(
                "var/lib/dpkg/status",
                &dpkg_status(&[("hello", "2.10-3")]),
            )])),
        ],
        "amd64",
    );
    layout.tag(&image, "v1");
    registry.push_layout(layout.path(), "v1", "team/app", false);

    let (_db_dir, db) = test_db();
    let scanner = scanner_for(&registry.address, db.clone(), |_| {});
    let creds = Credentials::anonymous();
    let remote = ImageSource::parse(&format!("docker://{}/team/app:v1", registry.address)).unwrap();
    let from_registry = scanner.scan_source(&remote, &creds).await.unwrap();
    assert_eq!(names(&from_registry.inventory), ["hello=2.10-3"]);

    let work = tempfile::tempdir().unwrap();
    let oci_dir = work.path().join("oci");
    let archive = work.path().join("image.tar");
    let source = format!("docker://{}/team/app:v1", registry.address);
    skopeo_copy(&source, &format!("oci:{}:v1", oci_dir.display()));
    skopeo_copy(
        &source,
        &format!("docker-archive:{}:team/app:v1", archive.display()),
    );

    // A scanner with no registry allowed at all.
    let offline = ImageScanner::new(ScannerConfig::default(), db);
    let oci = ImageSource::parse(&format!("oci:{}:v1", oci_dir.display())).unwrap();
    let report = offline.scan_source(&oci, &creds).await.unwrap();
    assert_eq!(report.inventory, from_registry.inventory);
    assert_eq!(report.findings, from_registry.findings);
    assert_eq!(report.digest, from_registry.digest);

    let docker = ImageSource::parse(&format!("docker-archive:{}", archive.display())).unwrap();
    let report = offline.scan_source(&docker, &creds).await.unwrap();
    assert_eq!(names(&report.inventory), ["hello=2.10-3"]);
    assert_eq!(report.inventory.os, from_registry.inventory.os);
    assert_eq!(report.findings.len(), 1);

    // A missing tag names what is there.
    let missing = ImageSource::parse(&format!("oci:{}:nope", oci_dir.display())).unwrap();
    let err = offline.scan_source(&missing, &creds).await.unwrap_err();
    assert!(
        matches!(&err, ScanError::Local(m) if m.contains("tags present: v1")),
        "{err:?}"
    );

    // A corrupted blob in the layout is a digest mismatch, never a result.
    let manifest_blob = std::fs::read_dir(oci_dir.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&manifest_blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&manifest_blob, bytes).unwrap();
    offline.clear_cache();
    let err = offline.scan_source(&oci, &creds).await.unwrap_err();
    assert!(
        matches!(
            err,
            ScanError::DigestMismatch { .. } | ScanError::Layer { .. }
        ),
        "{err:?}"
    );
}
