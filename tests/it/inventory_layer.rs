//! The layer walker and `assemble` on real tar streams: built with the `tar`
//! crate and the `tar` CLI, compressed with gzip and zstd, plus hostile
//! layers (bomb, truncation, path and link escapes) and whiteouts.

use std::io::{self, Read, Write};
use std::process::Command;
use std::sync::Arc;

use scangate::inventory::{
    Compression, Detected, LayerAnalysis, LayerError, LayerLimits, LayerProblem, analyze_layer,
    assemble, detectors,
};
use scangate::model::Inventory;

const OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nID=debian\n";

fn status(packages: &[(&str, &str)]) -> String {
    packages
        .iter()
        .map(|(name, version)| {
            format!("Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\nDescription: test\n")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    /// A file whose header name is written byte for byte (`../x`, `/x`), as a
    /// hostile tool would; the `tar` crate's safe setters refuse these.
    RawName(&'a [u8], &'a [u8]),
}

fn tar_bytes(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_mtime(0);
        match entry {
            Entry::File(path, data) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(data.len() as u64);
                builder.append_data(&mut header, path, *data).unwrap();
            }
            Entry::Dir(path) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder.append_data(&mut header, path, io::empty()).unwrap();
            }
            Entry::Symlink(path, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
            Entry::Hardlink(path, target) => {
                header.set_entry_type(tar::EntryType::Link);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
            Entry::RawName(name, data) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(data.len() as u64);
                let field = &mut header.as_old_mut().name;
                field.fill(0);
                field[..name.len()].copy_from_slice(name);
                header.set_cksum();
                builder.append(&header, *data).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

fn analyze(blob: &[u8], digest: &str) -> Result<LayerAnalysis, LayerError> {
    analyze_layer(blob, digest, &detectors::all(), &LayerLimits::default())
}

fn analyze_with(blob: &[u8], limits: &LayerLimits) -> Result<LayerAnalysis, LayerError> {
    analyze_layer(blob, "sha256:test", &detectors::all(), limits)
}

fn stack(layers: Vec<LayerAnalysis>) -> Inventory {
    let layers: Vec<Arc<LayerAnalysis>> = layers.into_iter().map(Arc::new).collect();
    assemble(&layers)
}

fn names(inventory: &Inventory) -> Vec<(String, String)> {
    inventory
        .packages
        .iter()
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn base_layer() -> Vec<u8> {
    let status = status(&[("libc6", "2.36-9+deb12u4"), ("zlib1g", "1:1.2.13.dfsg-1")]);
    tar_bytes(&[
        Entry::Dir("usr/lib"),
        Entry::File("usr/lib/os-release", OS_RELEASE.as_bytes()),
        Entry::Symlink("etc/os-release", "../usr/lib/os-release"),
        Entry::File("var/lib/dpkg/status", status.as_bytes()),
    ])
}

#[test]
fn reads_plain_gzip_and_zstd_layers_alike() {
    let plain = base_layer();
    for (blob, compression) in [
        (plain.clone(), Compression::None),
        (gzip(&plain), Compression::Gzip),
        (zstd(&plain), Compression::Zstd),
    ] {
        let layer = analyze(&blob, "sha256:base").unwrap();
        assert_eq!(layer.stats.compression, compression);
        assert_eq!(
            layer.stats.uncompressed_bytes,
            plain.len() as u64,
            "{compression:?}"
        );
        assert_eq!(
            layer.stats.compressed_bytes,
            blob.len() as u64,
            "{compression:?}"
        );
        assert_eq!(layer.stats.entries, 4);
        assert_eq!(layer.stats.files_read, 2);
        assert_eq!(
            layer.files.keys().collect::<Vec<_>>(),
            vec!["usr/lib/os-release", "var/lib/dpkg/status"]
        );
        let inventory = stack(vec![layer]);
        assert_eq!(
            names(&inventory),
            pairs(&[("libc6", "2.36-9+deb12u4"), ("zlib1g", "1:1.2.13.dfsg-1")])
        );
        let os = inventory.os.unwrap();
        assert_eq!(
            (os.family.as_str(), os.version.as_str(), os.eol),
            ("debian", "12", false)
        );
        let zlib = &inventory.packages[1];
        assert_eq!(zlib.location.layer.as_deref(), Some("sha256:base"));
        assert_eq!(zlib.location.path, "var/lib/dpkg/status");
        assert_eq!(
            zlib.purl,
            "pkg:deb/debian/zlib1g@1.2.13.dfsg-1?arch=amd64&distro=debian-12&epoch=1"
        );
    }
}

/// A source that hands out one byte per read: magic-byte detection and the
/// decoders must not depend on how the stream is chunked.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some((first, rest)) = self.0.split_first() else {
            return Ok(0);
        };
        let Some(slot) = buf.first_mut() else {
            return Ok(0);
        };
        *slot = *first;
        self.0 = rest;
        Ok(1)
    }
}

#[test]
fn a_trickling_source_is_read_the_same() {
    let blob = zstd(&base_layer());
    let layer = analyze_layer(
        Trickle(&blob),
        "sha256:t",
        &detectors::all(),
        &LayerLimits::default(),
    )
    .unwrap();
    assert_eq!(layer.stats.compression, Compression::Zstd);
    assert_eq!(stack(vec![layer]).packages.len(), 2);
}

#[test]
fn reads_a_layer_made_by_the_tar_cli() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
    std::fs::write(root.join("etc/os-release"), OS_RELEASE).unwrap();
    std::fs::write(
        root.join("var/lib/dpkg/status"),
        status(&[("bash", "5.2.15-2+b2")]),
    )
    .unwrap();
    let blob = dir.path().join("layer.tar.gz");
    let ran = Command::new("tar")
        .arg("-czf")
        .arg(&blob)
        .arg("-C")
        .arg(&root)
        .arg(".")
        .status()
        .expect("the tar CLI is needed (apt-get install tar)");
    assert!(ran.success());
    let bytes = std::fs::read(&blob).unwrap();
    let layer = analyze(&bytes, "sha256:cli").unwrap();
    // GNU tar writes `./etc/os-release`; paths come out normalized.
    assert_eq!(
        layer.files.keys().collect::<Vec<_>>(),
        vec!["etc/os-release", "var/lib/dpkg/status"]
    );
    let inventory = stack(vec![layer]);
    assert_eq!(names(&inventory), pairs(&[("bash", "5.2.15-2+b2")]));
    assert_eq!(inventory.os.unwrap().family, "debian");
}

#[test]
fn a_gzip_bomb_stops_at_the_uncompressed_cap() {
    // A tar header for a 1 GiB file, then 1 GiB of zeros as 1024 gzip members
    // of 1 MiB each (valid gzip: members concatenate), about 1 MiB in all.
    let mut header = tar::Header::new_gnu();
    header.set_path("zeros").unwrap();
    header.set_size(1 << 30);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&vec![0u8; 1 << 20]).unwrap();
    let zero_member = encoder.finish().unwrap();
    let mut bomb = gzip(header.as_bytes());
    for _ in 0..1024 {
        bomb.extend_from_slice(&zero_member);
    }
    assert!(bomb.len() < 2 << 20, "bomb is {} bytes", bomb.len());

    let limits = LayerLimits {
        max_uncompressed_bytes: 16 << 20,
        ..LayerLimits::default()
    };
    let mut source = CountingReader {
        inner: &bomb[..],
        read: 0,
    };
    let result = analyze_layer(&mut source, "sha256:bomb", &detectors::all(), &limits);
    assert!(
        matches!(result, Err(LayerError::UncompressedTooLarge { limit, .. }) if limit == 16 << 20),
        "{result:?}"
    );
    // It stopped early: far less than the whole blob was consumed.
    assert!(
        source.read < bomb.len() as u64 / 4,
        "read {} of {}",
        source.read,
        bomb.len()
    );
}

struct CountingReader<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

#[test]
fn the_entry_cap_is_a_named_error() {
    let many: Vec<String> = (0..50).map(|i| format!("f{i}")).collect();
    let entries: Vec<Entry<'_>> = many.iter().map(|p| Entry::File(p, b"x")).collect();
    let limits = LayerLimits {
        max_entries: 20,
        ..LayerLimits::default()
    };
    let result = analyze_with(&tar_bytes(&entries), &limits);
    assert!(
        matches!(result, Err(LayerError::TooManyEntries { limit: 20, .. })),
        "{result:?}"
    );
    let limits = LayerLimits {
        max_entries: 50,
        ..LayerLimits::default()
    };
    assert_eq!(
        analyze_with(&tar_bytes(&entries), &limits)
            .unwrap()
            .stats
            .entries,
        50
    );
}

#[test]
fn truncated_streams_are_named_errors() {
    let plain = base_layer();
    let gz = gzip(&plain);
    let zst = zstd(&plain);
    // Cut inside the dpkg status file's data.
    let status_end = plain.len() - 1024 - 100;
    for (name, blob) in [
        ("gzip", &gz[..gz.len() / 2]),
        ("zstd", &zst[..zst.len() / 2]),
        ("plain", &plain[..status_end]),
    ] {
        let result = analyze(blob, "sha256:cut");
        assert!(
            matches!(result, Err(LayerError::Truncated { .. })),
            "{name}: {result:?}"
        );
    }
    // A gzip stream missing only its trailer (CRC and size) is also truncated.
    let result = analyze(&gz[..gz.len() - 4], "sha256:cut");
    assert!(
        matches!(result, Err(LayerError::Truncated { .. })),
        "trailer: {result:?}"
    );
}

#[test]
fn garbage_and_unsupported_compression_are_named_errors() {
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 13) as u8).collect();
    let result = analyze(&garbage, "sha256:garbage");
    assert!(
        matches!(result, Err(LayerError::Corrupt { .. })),
        "{result:?}"
    );

    let mut bad_gzip = gzip(&base_layer());
    let middle = bad_gzip.len() / 2;
    bad_gzip[middle..middle + 16].fill(0xff);
    let result = analyze(&bad_gzip, "sha256:badgz");
    assert!(
        matches!(
            result,
            Err(LayerError::Corrupt { .. } | LayerError::Truncated { .. })
        ),
        "{result:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let tar_path = dir.path().join("layer.tar");
    std::fs::write(&tar_path, base_layer()).unwrap();
    let ran = Command::new("xz")
        .arg("-k")
        .arg(&tar_path)
        .status()
        .expect("xz is needed (apt-get install xz-utils)");
    assert!(ran.success());
    let xz = std::fs::read(dir.path().join("layer.tar.xz")).unwrap();
    let result = analyze(&xz, "sha256:xz");
    assert!(
        matches!(
            result,
            Err(LayerError::UnsupportedCompression {
                compression: "xz",
                ..
            })
        ),
        "{result:?}"
    );
}

/// A source that fails after some bytes, like a registry stream whose digest
/// check failed or whose connection dropped.
struct FailingSource<'a> {
    data: &'a [u8],
}

impl Read for FailingSource<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.data.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "digest mismatch",
            ));
        }
        let n = self.data.read(buf)?;
        Ok(n)
    }
}

#[test]
fn a_failing_source_keeps_its_own_error() {
    let blob = gzip(&base_layer());
    let source = FailingSource {
        data: &blob[..blob.len() / 2],
    };
    let result = analyze_layer(
        source,
        "sha256:src",
        &detectors::all(),
        &LayerLimits::default(),
    );
    match result {
        Err(LayerError::Source { source, .. }) => assert_eq!(source.to_string(), "digest mismatch"),
        other => panic!("expected a source error, got {other:?}"),
    }
}

#[test]
fn dotdot_and_absolute_names_stay_inside_the_root() {
    let status = status(&[("evil", "1.0")]);
    let blob = tar_bytes(&[
        Entry::RawName(b"../../../var/lib/dpkg/status", status.as_bytes()),
        Entry::RawName(b"/etc/os-release", OS_RELEASE.as_bytes()),
    ]);
    let layer = analyze(&blob, "sha256:dots").unwrap();
    assert_eq!(
        layer.files.keys().collect::<Vec<_>>(),
        vec!["etc/os-release", "var/lib/dpkg/status"]
    );
    let inventory = stack(vec![layer]);
    assert_eq!(inventory.packages[0].location.path, "var/lib/dpkg/status");
}

#[test]
fn links_are_never_read_through() {
    let status = status(&[("hidden", "1.0")]);
    // The package database is a symlink out of the root, and a hard link to
    // another file's bytes; neither may be read as the database.
    let blob = tar_bytes(&[
        Entry::File("tmp/not-a-db", status.as_bytes()),
        Entry::Symlink("var/lib/dpkg/status", "../../../../../tmp/not-a-db"),
        Entry::Hardlink("lib/apk/db/installed", "tmp/not-a-db"),
        Entry::Symlink("etc/os-release", "/etc/shadow"),
    ]);
    let layer = analyze(&blob, "sha256:links").unwrap();
    assert!(layer.files.is_empty(), "{:?}", layer.files);
    assert_eq!(layer.stats.files_read, 0);

    // The links still replace what a lower layer had at their paths.
    let lower = analyze(&base_layer(), "sha256:base").unwrap();
    let inventory = stack(vec![lower, layer]);
    assert!(inventory.packages.is_empty());
    // etc/os-release is a symlink in both; usr/lib/os-release still names the OS.
    assert_eq!(inventory.os.unwrap().version, "12");
}

#[test]
fn a_later_file_replaces_an_earlier_one_across_and_within_layers() {
    let lower = analyze(&base_layer(), "sha256:lower").unwrap();
    let new_status = status(&[("libc6", "2.36-9+deb12u7")]);
    let upper_blob = tar_bytes(&[Entry::File("var/lib/dpkg/status", new_status.as_bytes())]);
    let upper = analyze(&upper_blob, "sha256:upper").unwrap();
    let inventory = stack(vec![lower, upper]);
    assert_eq!(names(&inventory), pairs(&[("libc6", "2.36-9+deb12u7")]));
    assert_eq!(
        inventory.packages[0].location.layer.as_deref(),
        Some("sha256:upper")
    );

    // Within one layer the last entry at a path wins, even if nothing reads it.
    let blob = tar_bytes(&[
        Entry::File("var/lib/dpkg/status", new_status.as_bytes()),
        Entry::Symlink("var/lib/dpkg/status", "status-old"),
    ]);
    assert!(analyze(&blob, "sha256:dup").unwrap().files.is_empty());
    // A file replacing a directory hides what was below it.
    let lower = analyze(&base_layer(), "sha256:lower").unwrap();
    let upper = analyze(
        &tar_bytes(&[Entry::File("var/lib/dpkg", b"now a file")]),
        "sha256:file",
    )
    .unwrap();
    assert!(stack(vec![lower, upper]).packages.is_empty());
}

#[test]
fn whiteouts_delete_lower_files_and_directories() {
    let deleted_file = tar_bytes(&[Entry::File("var/lib/dpkg/.wh.status", b"")]);
    let layer = analyze(&deleted_file, "sha256:wh").unwrap();
    assert_eq!(layer.whiteouts, vec!["var/lib/dpkg/status"]);
    let inventory = stack(vec![analyze(&base_layer(), "sha256:b").unwrap(), layer]);
    assert!(inventory.packages.is_empty());
    assert!(inventory.os.is_some());

    let deleted_dir = tar_bytes(&[Entry::File("var/.wh.lib", b"")]);
    let inventory = stack(vec![
        analyze(&base_layer(), "sha256:b").unwrap(),
        analyze(&deleted_dir, "sha256:whdir").unwrap(),
    ]);
    assert!(inventory.packages.is_empty());

    // A whiteout only affects lower layers: a file re-created above it counts.
    let readded = tar_bytes(&[Entry::File(
        "var/lib/dpkg/status",
        status(&[("new", "2")]).as_bytes(),
    )]);
    let inventory = stack(vec![
        analyze(&base_layer(), "sha256:b").unwrap(),
        analyze(&deleted_dir, "sha256:whdir").unwrap(),
        analyze(&readded, "sha256:readd").unwrap(),
    ]);
    assert_eq!(names(&inventory), pairs(&[("new", "2")]));
}

#[test]
fn opaque_directories_hide_lower_contents_but_keep_their_own() {
    let apk_db = "P:musl\nV:1.2.4-r2\nA:x86_64\no:musl\n\n";
    let upper = tar_bytes(&[
        Entry::Dir("var/lib/dpkg"),
        Entry::File("var/lib/dpkg/.wh..wh..opq", b""),
        Entry::File(
            "var/lib/dpkg/status.d/tzdata",
            status(&[("tzdata", "2024a-0+deb12u1")]).as_bytes(),
        ),
        Entry::File("lib/apk/db/installed", apk_db.as_bytes()),
    ]);
    let layer = analyze(&upper, "sha256:opq").unwrap();
    assert_eq!(layer.opaque_dirs, vec!["var/lib/dpkg"]);
    let inventory = stack(vec![analyze(&base_layer(), "sha256:b").unwrap(), layer]);
    assert_eq!(
        names(&inventory),
        pairs(&[("musl", "1.2.4-r2"), ("tzdata", "2024a-0+deb12u1")])
    );
    // The OS from the lower layer is untouched: usr/lib is not opaque.
    assert_eq!(inventory.os.unwrap().family, "debian");
}

#[test]
fn an_oversized_wanted_file_is_a_problem_and_still_shadows() {
    let big = status(&[("big", "1")]).repeat(50);
    let upper = tar_bytes(&[Entry::File("var/lib/dpkg/status", big.as_bytes())]);
    let limits = LayerLimits {
        max_file_bytes: 1024,
        ..LayerLimits::default()
    };
    let layer = analyze_with(&upper, &limits).unwrap();
    assert_eq!(
        layer.problems,
        vec![LayerProblem::FileTooLarge {
            path: "var/lib/dpkg/status".into(),
            size: big.len() as u64,
            limit: 1024,
            key: "maxFileBytes",
        }]
    );
    assert!(layer.files.is_empty());
    let inventory = stack(vec![analyze(&base_layer(), "sha256:b").unwrap(), layer]);
    assert!(inventory.packages.is_empty());
}

#[test]
fn a_detector_size_cap_is_a_named_problem() {
    let json = br#"{"name":"left-pad","version":"1.3.0"}"#;
    let padded = format!("{}{}", " ".repeat(200), String::from_utf8_lossy(json));
    let blob = tar_bytes(&[
        Entry::File("app/node_modules/left-pad/package.json", padded.as_bytes()),
        Entry::File(
            "app/node_modules/tiny/package.json",
            br#"{"name":"tiny","version":"1.0.0"}"#,
        ),
    ]);
    let mut limits = LayerLimits::default();
    limits.detectors.max_package_json_bytes = 100;
    let layer = analyze_with(&blob, &limits).unwrap();
    assert_eq!(
        layer.problems,
        vec![LayerProblem::FileTooLarge {
            path: "app/node_modules/left-pad/package.json".into(),
            size: padded.len() as u64,
            limit: 100,
            key: "maxPackageJsonBytes",
        }]
    );
    assert!(
        layer.problems[0]
            .to_string()
            .contains("maxPackageJsonBytes")
    );
    let inventory = stack(vec![layer]);
    let names: Vec<&str> = inventory.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["tiny"]);
    // The keys are read from the scanner's config.
    let config: scangate::scan::ScannerConfig =
        serde_yaml::from_str("maxPackageJsonBytes: 100\nmaxGoBinaryBytes: 7\n").unwrap();
    assert_eq!(config.layer.detectors.max_package_json_bytes, 100);
    assert_eq!(config.layer.detectors.max_go_binary_bytes, 7);
    assert_eq!(
        config.layer.detectors.max_java_archive_bytes,
        LayerLimits::default().detectors.max_java_archive_bytes
    );
}

#[test]
fn the_most_authoritative_os_file_wins() {
    let blob = tar_bytes(&[
        Entry::File("etc/debian_version", b"12.7\n"),
        Entry::File("usr/lib/os-release", b"ID=debian\nVERSION_ID=\"12\"\n"),
        Entry::File("etc/os-release", b"ID=ubuntu\nVERSION_ID=\"22.04\"\n"),
    ]);
    let inventory = stack(vec![analyze(&blob, "sha256:os").unwrap()]);
    let os = inventory.os.unwrap();
    assert_eq!(
        (os.family.as_str(), os.version.as_str()),
        ("ubuntu", "22.04")
    );

    let fallback = tar_bytes(&[Entry::File("etc/debian_version", b"11.9\n")]);
    let layer = analyze(&fallback, "sha256:fb").unwrap();
    assert!(matches!(
        layer.files["etc/debian_version"][0].detected,
        Detected::Os(_)
    ));
    let os = stack(vec![layer]).os.unwrap();
    assert_eq!(
        (os.family.as_str(), os.version.as_str(), os.eol),
        ("debian", "11.9", true)
    );
}

#[test]
fn limits_are_config_keys_with_defaults() {
    let limits: LayerLimits = serde_yaml::from_str("maxEntries: 5\nmaxFileBytes: 1024\n").unwrap();
    assert_eq!(
        limits,
        LayerLimits {
            max_entries: 5,
            max_file_bytes: 1024,
            max_uncompressed_bytes: LayerLimits::default().max_uncompressed_bytes,
            detectors: Default::default(),
        }
    );
    assert!(
        serde_yaml::from_str::<LayerLimits>("maxEntriez: 5\n")
            .is_ok_and(|l| l == LayerLimits::default())
    );
}

#[test]
fn results_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<LayerAnalysis>();
    shareable::<LayerError>();
}

#[test]
fn a_versionless_os_release_borrows_the_version_of_the_same_family() {
    let blob = tar_bytes(&[
        Entry::File(
            "etc/os-release",
            b"PRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\nID=debian\n",
        ),
        Entry::File("etc/debian_version", b"trixie/sid\n"),
        Entry::File("etc/alpine-release", b"3.20.1\n"),
    ]);
    let os = stack(vec![analyze(&blob, "sha256:sid").unwrap()])
        .os
        .unwrap();
    assert_eq!(
        (os.family.as_str(), os.version.as_str()),
        ("debian", "trixie/sid")
    );
    assert_eq!(
        os.pretty_name.as_deref(),
        Some("Debian GNU/Linux trixie/sid")
    );
}

#[test]
fn long_names_from_pax_and_gnu_headers_are_followed() {
    // GNU tar in pax format: the path lives in an extended header.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let long_name = format!("lib{}", "x".repeat(140));
    let status_d = root.join("var/lib/dpkg/status.d");
    std::fs::create_dir_all(&status_d).unwrap();
    std::fs::write(
        status_d.join(&long_name),
        status(&[(long_name.as_str(), "1.0-1")]),
    )
    .unwrap();
    let blob = dir.path().join("layer.tar");
    let ran = Command::new("tar")
        .arg("--format=pax")
        .arg("-cf")
        .arg(&blob)
        .arg("-C")
        .arg(&root)
        .arg(".")
        .status()
        .expect("the tar CLI is needed");
    assert!(ran.success());
    let layer = analyze(&std::fs::read(&blob).unwrap(), "sha256:pax").unwrap();
    let expected_path = format!("var/lib/dpkg/status.d/{long_name}");
    assert_eq!(layer.files.keys().collect::<Vec<_>>(), vec![&expected_path]);
    // The tar crate writes GNU long-name entries for the same path.
    let gnu = tar_bytes(&[Entry::File(
        &expected_path,
        status(&[("gnu", "2")]).as_bytes(),
    )]);
    let inventory = stack(vec![analyze(&gnu, "sha256:gnu").unwrap()]);
    assert_eq!(inventory.packages[0].location.path, expected_path);
}

#[test]
fn latin1_bytes_in_free_text_fields_do_not_hide_packages() {
    let mut status =
        b"Package: old\nStatus: install ok installed\nVersion: 1.0\nMaintainer: J\xf6rg\n".to_vec();
    status.extend_from_slice(b"\nPackage: other\nStatus: install ok installed\nVersion: 2.0\n");
    let blob = tar_bytes(&[Entry::File("var/lib/dpkg/status", &status)]);
    let inventory = stack(vec![analyze(&blob, "sha256:latin1").unwrap()]);
    assert_eq!(
        names(&inventory),
        pairs(&[("old", "1.0"), ("other", "2.0")])
    );
}
