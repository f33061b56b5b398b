//! Hostile images and registries: each gives its named error within its
//! limit, and the same scanner goes on serving good scans.

use crate::support::registry as registry_support;
use crate::support::scan_images;

use registry_support::{Layer, Layout, TestRegistry, tar_layer};
use scan_images::{OS_RELEASE, dpkg_status, names, scanner_for, test_db};
use scangate::registry::{Credentials, ImageRef, ImageSource};
use scangate::scan::{ImageScanner, ScanError, Scanner};
use std::io::Write as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn push_image(registry: &TestRegistry, repo: &str, layers: &[Layer]) {
    let mut layout = Layout::new();
    let image = layout.image(layers, "amd64");
    layout.tag(&image, "v1");
    registry.push_layout(layout.path(), "v1", repo, false);
}

fn good_layer() -> Layer {
    Layer::gzip(tar_layer(&[
        ("etc/os-release", OS_RELEASE),
        ("var/lib/dpkg/status", &dpkg_status(&[("hello", "2.10-3")])),
    ]))
}

/// A gzip'd tar holding one file of `size` zero bytes, built in chunks.
fn gzip_bomb(size: u64) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut header = tar::Header::new_gnu();
    header.set_path("zeros").unwrap();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_cksum();
    gz.write_all(header.as_bytes()).unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        gz.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    gz.write_all(&[0u8; 1024]).unwrap();
    gz.finish().unwrap()
}

/// 2 MiB of incompressible bytes in one file, as a plain tar.
fn big_plain_layer() -> Layer {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let noise: Vec<u8> = (0..(2 << 20))
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    Layer::tar(tar_layer(&[
        ("etc/os-release", OS_RELEASE),
        ("noise.bin", &noise),
    ]))
}

async fn scan_ref(scanner: &ImageScanner, reference: &str) -> Result<Vec<String>, ScanError> {
    let image = ImageRef::parse(reference).unwrap();
    let creds = Credentials::anonymous();
    let digest = scanner.resolve(&image, &creds).await?;
    Ok(names(
        &scanner.scan(&image, &digest, &creds).await?.inventory,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_layers_give_named_errors_and_the_scanner_keeps_serving() {
    let registry = TestRegistry::start();
    let at = |repo: &str| format!("{}/{repo}:v1", registry.address);
    push_image(&registry, "good", &[good_layer()]);
    push_image(
        &registry,
        "bomb",
        &[Layer {
            blob: gzip_bomb(256 << 20),
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip",
            diff_id: format!("sha256:{}", "0".repeat(64)),
        }],
    );
    let truncated = big_plain_layer();
    let truncated_digest = truncated.digest();
    push_image(&registry, "truncated", &[truncated]);
    let corrupt = Layer::tar(tar_layer(&[
        ("etc/os-release", OS_RELEASE),
        ("var/lib/dpkg/status", &dpkg_status(&[("hello", "2.10-3")])),
        ("payload.txt", &[b'a'; 4096]),
    ]));
    let corrupt_digest = corrupt.digest();
    push_image(&registry, "corrupt", &[corrupt]);
    let many = (0..50).map(|i| format!("f{i}")).collect::<Vec<_>>();
    let many_files: Vec<(&str, &[u8])> = many.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    push_image(&registry, "many", &[Layer::gzip(tar_layer(&many_files))]);

    // Break the stored blobs: cut one short, flip a byte of another.
    let path = registry.blob_path(&truncated_digest);
    let length = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(length / 2)
        .unwrap();
    let path = registry.blob_path(&corrupt_digest);
    let mut bytes = std::fs::read(&path).unwrap();
    let position = bytes.len() - 2048 - 100; // inside payload.txt
    bytes[position] = b'b';
    std::fs::write(&path, bytes).unwrap();

    let (_db_dir, db) = test_db();
    let scanner = scanner_for(&registry.address, db, |c| {
        c.layer.max_uncompressed_bytes = 16 << 20;
        c.layer.max_entries = 20;
    });
    let good_ref = at("good");
    let good = || scan_ref(&scanner, &good_ref);
    assert_eq!(good().await.unwrap(), ["hello=2.10-3"]);

    let err = scan_ref(&scanner, &at("bomb")).await.unwrap_err();
    assert!(
        matches!(
            err,
            ScanError::Limit {
                limit: "maxUncompressedBytes",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(good().await.unwrap(), ["hello=2.10-3"]);

    let err = scan_ref(&scanner, &at("truncated")).await.unwrap_err();
    assert!(matches!(err, ScanError::Truncated { .. }), "{err:?}");
    assert_eq!(good().await.unwrap(), ["hello=2.10-3"]);

    let err = scan_ref(&scanner, &at("corrupt")).await.unwrap_err();
    assert!(matches!(err, ScanError::DigestMismatch { .. }), "{err:?}");
    // Failures are not cached: asking again fails again.
    let err = scan_ref(&scanner, &at("corrupt")).await.unwrap_err();
    assert!(matches!(err, ScanError::DigestMismatch { .. }), "{err:?}");

    let err = scan_ref(&scanner, &at("many")).await.unwrap_err();
    assert!(
        matches!(
            err,
            ScanError::Limit {
                limit: "maxEntries",
                ..
            }
        ),
        "{err:?}"
    );

    let small = scanner_for(&registry.address, scan_images::test_db().1, |c| {
        c.max_layer_compressed_bytes = 1 << 20;
    });
    let err = scan_ref(&small, &at("truncated")).await.unwrap_err();
    assert!(
        matches!(
            err,
            ScanError::Limit {
                limit: "maxLayerCompressedBytes",
                ..
            }
        ),
        "{err:?}"
    );
    let tiny = scanner_for(&registry.address, scan_images::test_db().1, |c| {
        c.max_image_compressed_bytes = 100;
    });
    let err = scan_ref(&tiny, &at("good")).await.unwrap_err();
    assert!(
        matches!(
            err,
            ScanError::Limit {
                limit: "maxImageCompressedBytes",
                ..
            }
        ),
        "{err:?}"
    );

    assert_eq!(good().await.unwrap(), ["hello=2.10-3"]);
    let mut metrics = prometheus_client::registry::Registry::default();
    scanner.register_metrics(&mut metrics);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &metrics).unwrap();
    assert!(
        text.contains(r#"scangate_scan_limit_exceeded_total{limit="maxUncompressedBytes"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"scangate_scan_failures_total{reason="digest_mismatch"} 2"#),
        "{text}"
    );
}

/// Forwards to `upstream`, but stops passing the registry's replies on after
/// `budget` bytes per connection, holding the connection open.
async fn stalling_proxy(upstream: String, budget: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                });
                let mut passed = 0usize;
                let mut buf = vec![0u8; 16 << 10];
                while let Ok(n) = server_read.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let allowed = n.min(budget.saturating_sub(passed));
                    if allowed > 0 && client_write.write_all(&buf[..allowed]).await.is_err() {
                        break;
                    }
                    passed += allowed;
                    if passed >= budget {
                        // Stall: keep the connection open, send nothing more.
                        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                    }
                }
            });
        }
    });
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_stalls_mid_blob_hits_the_stall_timeout() {
    let registry = TestRegistry::start();
    push_image(&registry, "big", &[big_plain_layer()]);
    push_image(&registry, "good", &[good_layer()]);
    let proxy = stalling_proxy(registry.address.clone(), 256 << 10).await;
    let (_db_dir, db) = test_db();
    let mut config = scangate::scan::ScannerConfig::default();
    config.registries.insecure_registries = vec![proxy.clone(), registry.address.clone()];
    config.stall_timeout = scangate::model::ConfigDuration::secs(1);
    let scanner = ImageScanner::new(config, db);
    let err = scan_ref(&scanner, &format!("{proxy}/big:v1"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ScanError::Timeout {
                timeout: "stallTimeout",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        scan_ref(&scanner, &format!("{}/good:v1", registry.address))
            .await
            .unwrap(),
        ["hello=2.10-3"]
    );
}

#[test]
fn hostile_references_are_refused() {
    let long = format!("registry.example/{}:1", "a".repeat(5000));
    for reference in [
        "",
        " nginx",
        "nginx ",
        "nginx:latest\n",
        long.as_str(),
        "registry.example/repo@sha256:abc",
        "registry.example/repo:tag:tag",
        "registry.example/../../etc/passwd",
        "registry.example/repo:-tag",
        "registry.example/repo:tag with space",
        "registry.example/re\0po",
    ] {
        assert!(
            ImageRef::parse(reference).is_err(),
            "{reference:?} accepted"
        );
        assert!(
            ImageSource::parse(reference).is_err(),
            "{reference:?} accepted as source"
        );
    }
}
