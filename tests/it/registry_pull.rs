//! Pulls from a real `docker-registry`: anonymous and htpasswd auth, image
//! indexes, zstd, whiteouts, a shared base layer analyzed once, the guard.

use crate::support::registry as registry_support;
use crate::support::scan_images;

use registry_support::{Layer, Layout, TestRegistry, tar_layer};
use scan_images::{OS_RELEASE, dpkg_status, names, scanner_for, test_db};
use scangate::registry::{Credentials, ImageRef, parse_docker_config};
use scangate::scan::{ScanError, Scanner};

fn debian_layer(packages: &[(&str, &str)]) -> Vec<u8> {
    tar_layer(&[
        ("etc/", b""),
        ("etc/os-release", OS_RELEASE),
        ("var/lib/dpkg/", b""),
        ("var/lib/dpkg/status", &dpkg_status(packages)),
    ])
}

fn push_image(registry: &TestRegistry, repo: &str, tag: &str, layers: &[Layer]) {
    let mut layout = Layout::new();
    let image = layout.image(layers, "amd64");
    layout.tag(&image, tag);
    registry.push_layout(layout.path(), tag, repo, false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_pull_finds_packages_and_vulnerabilities() {
    let registry = TestRegistry::start();
    push_image(
        &registry,
        "team/app",
        "v1",
        &[Layer::gzip(debian_layer(&[
            ("hello", "2.10-3"),
            ("base-files", "12.4"),
        ]))],
    );
    let (_db_dir, db) = test_db();
    let scanner = scanner_for(&registry.address, db, |_| {});
    let image = ImageRef::parse(&format!("{}/team/app:v1", registry.address)).unwrap();
    let creds = Credentials::anonymous();
    let digest = scanner.resolve(&image, &creds).await.unwrap();
    assert!(digest.starts_with("sha256:"), "{digest}");
    let report = scanner.scan(&image, &digest, &creds).await.unwrap();
    assert_eq!(report.digest, digest);
    assert_eq!(
        names(&report.inventory),
        ["base-files=12.4", "hello=2.10-3"]
    );
    assert_eq!(
        report.inventory.os.as_ref().map(|o| o.version.as_str()),
        Some("12")
    );
    let ids: Vec<&str> = report.findings.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["DSA-TEST-1"]);
    assert_eq!(report.findings[0].fixed_version.as_deref(), Some("2.10-4"));

    // A digest reference is answered without asking the registry.
    let pinned = image.with_digest(&digest);
    assert_eq!(scanner.resolve(&pinned, &creds).await.unwrap(), digest);
    // An unknown tag is a named error.
    let missing = ImageRef::parse(&format!("{}/team/app:nope", registry.address)).unwrap();
    let err = scanner.resolve(&missing, &creds).await.unwrap_err();
    assert!(matches!(err, ScanError::NotFound(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htpasswd_auth_uses_dockerconfigjson_and_names_bad_credentials() {
    let registry = TestRegistry::start_with_auth("alice", "wonderland");
    push_image(
        &registry,
        "private/app",
        "v1",
        &[Layer::gzip(debian_layer(&[("hello", "2.10-4")]))],
    );
    let (_db_dir, db) = test_db();
    let scanner = scanner_for(&registry.address, db, |_| {});
    let image = ImageRef::parse(&format!("{}/private/app:v1", registry.address)).unwrap();

    let good = parse_docker_config(
        registry
            .docker_config_json("alice", "wonderland")
            .as_bytes(),
    )
    .unwrap();
    let digest = scanner.resolve(&image, &good).await.unwrap();
    let report = scanner.scan(&image, &digest, &good).await.unwrap();
    assert_eq!(names(&report.inventory), ["hello=2.10-4"]);
    assert!(report.findings.is_empty(), "fixed version must not match");

    let wrong =
        parse_docker_config(registry.docker_config_json("alice", "queen").as_bytes()).unwrap();
    let err = scanner.resolve(&image, &wrong).await.unwrap_err();
    assert!(matches!(err, ScanError::Unauthorized(_)), "{err:?}");
    // The manifest the good credentials read is cached, but only for them:
    // other credentials (or none) are checked by the registry again.
    let err = scanner.scan(&image, &digest, &wrong).await.unwrap_err();
    assert!(matches!(err, ScanError::Unauthorized(_)), "{err:?}");
    let err = scanner
        .scan(&image, &digest, &Credentials::anonymous())
        .await
        .unwrap_err();
    assert!(matches!(err, ScanError::Unauthorized(_)), "{err:?}");
    // The good credentials still work after the failures.
    assert!(scanner.scan(&image, &digest, &good).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_index_picks_the_configured_platform() {
    let registry = TestRegistry::start();
    let mut layout = Layout::new();
    let amd = layout.image(
        &[Layer::gzip(debian_layer(&[("only-amd64", "1.0")]))],
        "amd64",
    );
    let arm = layout.image(
        &[Layer::gzip(debian_layer(&[("only-arm64", "1.0")]))],
        "arm64",
    );
    let index = layout.index(&[amd, arm]);
    layout.tag(&index, "multi");
    registry.push_layout(layout.path(), "multi", "team/multi", true);
    let image = ImageRef::parse(&format!("{}/team/multi:multi", registry.address)).unwrap();
    let creds = Credentials::anonymous();

    let (_db_dir, db) = test_db();
    let scanner = scanner_for(&registry.address, db.clone(), |_| {});
    let digest = scanner.resolve(&image, &creds).await.unwrap();
    let report = scanner.scan(&image, &digest, &creds).await.unwrap();
    assert_eq!(names(&report.inventory), ["only-amd64=1.0"]);
    assert_eq!(
        report.digest, digest,
        "the index digest is what was asked for"
    );

    let arm_scanner = scanner_for(&registry.address, db.clone(), |c| {
        c.platform = "linux/arm64".parse().unwrap();
    });
    let report = arm_scanner.scan(&image, &digest, &creds).await.unwrap();
    assert_eq!(names(&report.inventory), ["only-arm64=1.0"]);

    let s390 = scanner_for(&registry.address, db, |c| {
        c.platform = "linux/s390x".parse().unwrap();
    });
    let err = s390.scan(&image, &digest, &creds).await.unwrap_err();
    assert_eq!(
        err,
        ScanError::PlatformMissing {
            wanted: "linux/s390x".into(),
            available: "linux/amd64, linux/arm64".into()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstd_layers_whiteouts_and_a_shared_base_analyzed_once() {
    let registry = TestRegistry::start();
    let base = || Layer::gzip(debian_layer(&[("hello", "2.10-3"), ("libc6", "2.36-9")]));
    // Image A: base, then a zstd layer replacing the dpkg database.
    push_image(
        &registry,
        "team/a",
        "v1",
        &[
            base(),
            Layer::zstd(debian_layer(&[("libc6", "2.36-9+deb12u1")])),
        ],
    );
    // Image B: base, then a layer deleting the dpkg database (whiteout).
    push_image(
        &registry,
        "team/b",
        "v1",
        &[
            base(),
            Layer::tar(tar_layer(&[
                ("var/lib/dpkg/", b""),
                ("var/lib/dpkg/.wh.status", b""),
            ])),
        ],
    );
    // Image C: base, then an opaque var/lib/dpkg with a new database.
    push_image(
        &registry,
        "team/c",
        "v1",
        &[
            base(),
            Layer::gzip(tar_layer(&[
                ("var/lib/dpkg/", b""),
                ("var/lib/dpkg/.wh..wh..opq", b""),
                (
                    "var/lib/dpkg/status",
                    &dpkg_status(&[("zlib1g", "1:1.2.13.dfsg-1")]),
                ),
            ])),
        ],
    );
    let (_db_dir, db) = test_db();
    let scanner = scanner_for(&registry.address, db, |_| {});
    let creds = Credentials::anonymous();
    let mut inventories = Vec::new();
    for repo in ["team/a", "team/b", "team/c"] {
        let image = ImageRef::parse(&format!("{}/{repo}:v1", registry.address)).unwrap();
        let digest = scanner.resolve(&image, &creds).await.unwrap();
        inventories.push(names(
            &scanner
                .scan(&image, &digest, &creds)
                .await
                .unwrap()
                .inventory,
        ));
    }
    assert_eq!(inventories[0], ["libc6=2.36-9+deb12u1"]);
    assert!(inventories[1].is_empty(), "{:?}", inventories[1]);
    assert_eq!(inventories[2], ["zlib1g=1:1.2.13.dfsg-1"]);
    let stats = scanner.cache_stats();
    assert_eq!(stats.analyses, 4, "base once + three top layers: {stats:?}");
    assert_eq!(stats.hits, 2, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scanned_digest_is_scanned_again_without_its_registry() {
    let registry = TestRegistry::start();
    let packages = [("hello", "2.10-3")];
    push_image(
        &registry,
        "team/app",
        "v1",
        &[Layer::gzip(debian_layer(&packages))],
    );
    push_image(
        &registry,
        "team/app",
        "v2",
        &[Layer::gzip(debian_layer(&[("hello", "2.10-4")]))],
    );
    let (_db_dir, db) = test_db();
    let scanner = scanner_for(&registry.address, db, |c| c.registry_retries = 0);
    let creds = Credentials::anonymous();
    let v1 = ImageRef::parse(&format!("{}/team/app:v1", registry.address)).unwrap();
    let v2 = ImageRef::parse(&format!("{}/team/app:v2", registry.address)).unwrap();
    let v1_digest = scanner.resolve(&v1, &creds).await.unwrap();
    let v2_digest = scanner.resolve(&v2, &creds).await.unwrap();
    let first = scanner.scan(&v1, &v1_digest, &creds).await.unwrap();
    drop(registry);

    // The manifest (by digest) and the layer are cached: a re-scan after a
    // database change needs nothing from the registry.
    let again = scanner.scan(&v1, &v1_digest, &creds).await.unwrap();
    assert_eq!(names(&again.inventory), names(&first.inventory));
    assert_eq!(names(&again.inventory), ["hello=2.10-3"]);
    assert_eq!(again.findings.len(), first.findings.len());
    // A digest never scanned still needs the registry, which is gone.
    let err = scanner.scan(&v2, &v2_digest, &creds).await.unwrap_err();
    assert!(err.to_string().contains("Connection refused"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_refuses_loopback_unless_insecure() {
    let registry = TestRegistry::start();
    push_image(
        &registry,
        "team/app",
        "v1",
        &[Layer::gzip(debian_layer(&[("hello", "2.10-3")]))],
    );
    let (_db_dir, db) = test_db();
    let strict = scanner_for("registry.example:5000", db.clone(), |_| {});
    let creds = Credentials::anonymous();
    let image = ImageRef::parse(&format!("{}/team/app:v1", registry.address)).unwrap();
    let err = strict.resolve(&image, &creds).await.unwrap_err();
    assert!(matches!(err, ScanError::Refused(_)), "{err:?}");
    let pinned = image.with_digest(&format!("sha256:{}", "a".repeat(64)));
    let err = strict
        .scan(&pinned, pinned.digest().unwrap(), &creds)
        .await
        .unwrap_err();
    assert!(matches!(err, ScanError::Refused(_)), "{err:?}");
    for host in [
        "localhost",
        "169.254.169.254",
        "127.0.0.2:5000",
        "0.0.0.0",
        "metadata.google.internal",
    ] {
        let image = ImageRef::parse(&format!("{host}/x/y:1")).unwrap();
        let err = strict.resolve(&image, &creds).await.unwrap_err();
        assert!(matches!(err, ScanError::Refused(_)), "{host}: {err:?}");
    }
    // Denied even when insecure: the deny list wins.
    let denied = scanner_for(&registry.address, db, |c| {
        c.registries.deny_registries = vec!["127.0.0.1".into()];
    });
    let err = denied.resolve(&image, &creds).await.unwrap_err();
    assert!(matches!(err, ScanError::Refused(_)), "{err:?}");
}

/// The credentials file a user really has: `skopeo login` (the same
/// `auth.json` format podman and `docker login` write) against the
/// htpasswd registry, read by the one Docker config reader `scan` and
/// `serve` share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_written_by_skopeo_pulls_and_a_logout_does_not() {
    let registry = TestRegistry::start_with_auth("alice", "wonderland");
    push_image(
        &registry,
        "private/app",
        "v1",
        &[Layer::gzip(debian_layer(&[("hello", "2.10-4")]))],
    );
    let dir = tempfile::tempdir().unwrap();
    let authfile = dir.path().join("auth.json");
    let skopeo = |args: &[&str]| {
        let output = std::process::Command::new("skopeo")
            .args(args)
            .arg("--authfile")
            .arg(&authfile)
            .output()
            .expect("run skopeo");
        assert!(
            output.status.success(),
            "skopeo {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    skopeo(&[
        "login",
        "--tls-verify=false",
        "--username",
        "alice",
        "--password",
        "wonderland",
        &registry.address,
    ]);
    let (_db_dir, db) = test_db();
    let scanner = scanner_for(&registry.address, db, |_| {});
    let image = ImageRef::parse(&format!("{}/private/app:v1", registry.address)).unwrap();
    let logged_in = scangate::registry::docker_config::read_docker_config(&authfile).unwrap();
    let digest = scanner.resolve(&image, &logged_in).await.unwrap();
    let report = scanner.scan(&image, &digest, &logged_in).await.unwrap();
    assert_eq!(names(&report.inventory), ["hello=2.10-4"]);

    // After a logout the file names no credentials for the registry: the
    // pull is anonymous and refused by the registry, not by the reader.
    skopeo(&["logout", &registry.address]);
    let logged_out = scangate::registry::docker_config::read_docker_config(&authfile).unwrap();
    assert!(logged_out.entries.is_empty(), "{logged_out:?}");
    let other = ImageRef::parse(&format!("{}/private/app:v2", registry.address)).unwrap();
    let err = scanner.resolve(&other, &logged_out).await.unwrap_err();
    assert!(matches!(err, ScanError::Unauthorized(_)), "{err:?}");
}
