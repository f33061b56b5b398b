//! The layer walker and the detectors on real data: this machine's own
//! dpkg database checked against dpkg-query, the bundled sample image's
//! real Go binary checked against `go version -m`, the real apk database
//! from Trivy's test data; and hostile layers.

use scangate::inventory::detectors::all;
use scangate::inventory::{LayerError, LayerLimits, analyze_layer, assemble};
use scangate::model::{Inventory, PackageKind};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A tar layer from `(path, bytes, mode)` entries.
fn tar_of(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder.append_data(&mut header, path, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

fn analyze(blob: &[u8], digest: &str) -> Arc<scangate::inventory::LayerAnalysis> {
    Arc::new(analyze_layer(blob, digest, &all(), &LayerLimits::default()).unwrap())
}

fn names(inventory: &Inventory) -> Vec<String> {
    let mut n: Vec<String> = inventory
        .packages
        .iter()
        .map(|p| format!("{} {}", p.name, p.version))
        .collect();
    n.sort();
    n
}

#[test]
fn this_machines_dpkg_database_matches_dpkg_query() {
    let status = std::fs::read("/var/lib/dpkg/status").expect("a Debian machine");
    let os_release = std::fs::read("/etc/os-release").unwrap();
    let layer = gzip(&tar_of(&[
        ("etc/os-release", &os_release, 0o644),
        ("var/lib/dpkg/status", &status, 0o644),
    ]));
    let inventory = assemble(&[analyze(&layer, "sha256:base")]);
    let os = inventory.os.as_ref().unwrap();
    assert_eq!(os.family, "debian");

    let out = Command::new("dpkg-query")
        .args([
            "-W",
            "-f",
            "${db:Status-Status} ${Package} ${Version} ${source:Package}\n",
        ])
        .output()
        .unwrap();
    let mut expected: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("installed "))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            format!("{} {} {}", f[0], f[1], f[2])
        })
        .collect();
    expected.sort();
    expected.dedup();
    let mut ours: Vec<String> = inventory
        .packages
        .iter()
        .map(|p| {
            format!(
                "{} {} {}",
                p.name,
                p.version,
                p.source_name.as_deref().unwrap_or(&p.name)
            )
        })
        .collect();
    ours.sort();
    ours.dedup();
    assert!(expected.len() > 100, "a real system has many packages");
    assert_eq!(ours, expected);
    let p = &inventory.packages[0];
    assert_eq!(p.location.layer.as_deref(), Some("sha256:base"));
    assert!(p.purl.contains("distro=debian-"), "{}", p.purl);
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

#[test]
fn trivys_real_apk_database() {
    let installed = std::fs::read(root().join("tests/fixtures/apk/installed")).unwrap();
    let layer = tar_of(&[
        ("etc/alpine-release", b"3.10.2\n", 0o644),
        ("usr/lib/apk/db/installed", &installed, 0o644),
    ]);
    let inventory = assemble(&[analyze(&layer, "sha256:apk")]);
    let os = inventory.os.as_ref().unwrap();
    assert_eq!(
        (os.family.as_str(), os.version.as_str()),
        ("alpine", "3.10.2")
    );
    assert!(os.eol);
    // Expected contents from trivy pkg/fanal/analyzer/pkg/apk/apk_test.go
    // (commit 0273cafc): name, version and source (origin) of all 15.
    let mut ours: Vec<String> = inventory
        .packages
        .iter()
        .map(|p| {
            format!(
                "{} {} {}",
                p.name,
                p.version,
                p.source_name.as_deref().unwrap_or("-")
            )
        })
        .collect();
    ours.sort();
    let mut expected = vec![
        "musl 1.1.14-r10 musl",
        "busybox 1.24.2-r9 busybox",
        "alpine-baselayout 3.0.3-r0 alpine-baselayout",
        "alpine-keys 1.1-r0 alpine-keys",
        "zlib 1.2.8-r2 zlib",
        "libcrypto1.0 1.0.2h-r1 openssl",
        "libssl1.0 1.0.2h-r1 openssl",
        "apk-tools 2.6.7-r0 apk-tools",
        "scanelf 1.1.6-r0 pax-utils",
        "musl-utils 1.1.14-r10 musl",
        "libc-utils 0.7-r0 libc-dev",
        "pkgconf 1.6.0-r0 pkgconf",
        "sqlite-libs 3.26.0-r3 sqlite",
        "test 2.9.11_pre20061021-r2 test-parent",
        "ada-libs 2.7.4-r0 ada",
    ];
    expected.sort();
    assert_eq!(ours, expected);
    assert!(
        inventory
            .packages
            .iter()
            .all(|p| p.arch.as_deref() == Some("x86_64"))
    );
}

#[test]
fn whiteouts_and_opaque_directories_across_layers() {
    let status =
        |pkg: &str| format!("Package: {pkg}\nStatus: install ok installed\nVersion: 1.0\n");
    let base = tar_of(&[
        (
            "var/lib/dpkg/status",
            status("base-files").as_bytes(),
            0o644,
        ),
        (
            "var/lib/dpkg/status.d/extra",
            status("extra").as_bytes(),
            0o644,
        ),
        (
            "var/lib/dpkg/status.d/tools",
            status("tools").as_bytes(),
            0o644,
        ),
        ("etc/os-release", b"ID=debian\nVERSION_ID=11\n", 0o644),
    ]);
    let upper = tar_of(&[
        ("var/lib/dpkg/status.d/.wh.extra", b"", 0o644),
        ("etc/os-release", b"ID=debian\nVERSION_ID=12\n", 0o644),
    ]);
    let top = tar_of(&[
        ("var/lib/dpkg/status.d/.wh..wh..opq", b"", 0o644),
        (
            "var/lib/dpkg/status.d/fresh",
            status("fresh").as_bytes(),
            0o644,
        ),
    ]);
    let inventory = assemble(&[
        analyze(&base, "sha256:1"),
        analyze(&zstd::encode_all(&upper[..], 3).unwrap(), "sha256:2"),
        analyze(&gzip(&top), "sha256:3"),
    ]);
    assert_eq!(names(&inventory), ["base-files 1.0", "fresh 1.0"]);
    assert_eq!(
        inventory.os.unwrap().version,
        "12",
        "the upper layer's file wins"
    );
    let fresh = inventory
        .packages
        .iter()
        .find(|p| p.name == "fresh")
        .unwrap();
    assert_eq!(fresh.location.layer.as_deref(), Some("sha256:3"));
}

#[test]
fn paths_cannot_escape_and_links_are_not_followed() {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    let data = b"Package: evil\nStatus: install ok installed\nVersion: 6.6.6\n";
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    // Raw names: the tar crate's safe setter refuses `..`, a hostile layer does not.
    header.as_old_mut().name[..29].copy_from_slice(b"../../../var/lib/dpkg/status\0");
    header.set_cksum();
    builder.append(&header, &data[..]).unwrap();
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    builder
        .append_link(&mut link, "var/lib/dpkg/status", "/etc/shadow")
        .unwrap();
    let layer = builder.into_inner().unwrap();
    let analysis = analyze_layer(&layer[..], "sha256:x", &all(), &LayerLimits::default()).unwrap();
    assert!(analysis.found.is_empty(), "{:?}", analysis.found);
    assert!(analysis.problems[0].contains("climbs out of the root"));
}

#[test]
fn a_gzip_bomb_stops_at_the_uncompressed_limit() {
    // 64 MiB of zeros compress to ~64 KiB; the limit is 1 MiB.
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(64 << 20);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(
            &mut header,
            "zeros",
            std::io::repeat(0).take_bytes(64 << 20),
        )
        .unwrap();
    let bomb = gzip(&builder.into_inner().unwrap());
    assert!(bomb.len() < 1 << 20);
    let limits = LayerLimits {
        max_uncompressed_bytes: 1 << 20,
        ..LayerLimits::default()
    };
    let err = analyze_layer(&bomb[..], "sha256:bomb", &all(), &limits).unwrap_err();
    assert_eq!(err, LayerError::UncompressedLimit { limit: 1 << 20 });
}

#[test]
fn truncated_and_garbage_layers_are_clear_errors() {
    let layer = gzip(&tar_of(&[("etc/os-release", b"ID=debian\n", 0o644)]));
    let truncated = &layer[..layer.len() / 2];
    let err = analyze_layer(truncated, "sha256:t", &all(), &LayerLimits::default()).unwrap_err();
    assert!(
        matches!(err, LayerError::Corrupt { format: "gzip", .. }),
        "{err:?}"
    );
    let garbage = vec![0x42u8; 4096];
    let err = analyze_layer(&garbage[..], "sha256:g", &all(), &LayerLimits::default()).unwrap_err();
    assert!(
        matches!(err, LayerError::Corrupt { format: "tar", .. }),
        "{err:?}"
    );
    let entries = LayerLimits {
        max_entries: 1,
        ..LayerLimits::default()
    };
    let two = tar_of(&[("a", b"1", 0o644), ("b", b"2", 0o644)]);
    let err = analyze_layer(&two[..], "sha256:e", &all(), &entries).unwrap_err();
    assert_eq!(err, LayerError::EntriesLimit { limit: 1 });
}

trait TakeBytes: std::io::Read + Sized {
    fn take_bytes(self, n: u64) -> std::io::Take<Self> {
        std::io::Read::take(self, n)
    }
}
impl TakeBytes for std::io::Repeat {}
