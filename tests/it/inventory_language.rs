//! Language detectors on real files, each checked against the ecosystem's
//! own tool reading the same files (importlib.metadata, npm ls, gem list,
//! Debian's maven-repo, Cargo.lock, composer) where one exists.
//! Tools come from scripts/deps/inventory-language.sh.

use scangate::inventory::detectors::language::{
    composer::ComposerInstalled, dotnet::DotnetDeps, java::JavaArchive, npm::NodePackage,
    python::PythonMetadata, ruby::RubyGemspec, rust_auditable::CargoAuditable,
};
use scangate::inventory::detectors::{Detected, Detector, FileMeta};
use scangate::model::{Package, PackageKind};
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/language")
}

fn require_tool(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is missing: run scripts/deps/inventory-language.sh"
    );
}

/// Runs `detector` on the file at `file` as the walker would (wants, then
/// detect), with the path as the image would hold it.
fn detect_file(detector: &dyn Detector, file: &Path) -> Vec<Package> {
    let meta_fs = std::fs::symlink_metadata(file).unwrap();
    if !meta_fs.is_file() {
        return Vec::new();
    }
    let path = file.to_string_lossy();
    let meta = FileMeta {
        path: path.trim_start_matches('/'),
        size: meta_fs.len(),
        mode: meta_fs.permissions().mode(),
    };
    if !detector.wants(&meta) {
        return Vec::new();
    }
    let data = std::fs::read(file).unwrap();
    match detector.detect(&meta, &data) {
        Ok(Detected::Packages(p)) => p,
        Ok(_) => Vec::new(),
        Err(e) => panic!("{e}"),
    }
}

/// Every regular file under `dir`, symlinks not followed.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            walk(&entry.path(), out);
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
}

fn detect_tree(detector: &dyn Detector, dir: &Path) -> Vec<Package> {
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    files
        .iter()
        .flat_map(|f| detect_file(detector, f))
        .collect()
}

fn name_versions(packages: &[Package]) -> BTreeSet<(String, String)> {
    packages
        .iter()
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn python_distributions_match_importlib_metadata() {
    require_tool("python3");
    let site = Path::new("/usr/lib/python3/dist-packages");
    let found = detect_tree(&PythonMetadata, site);
    let oracle = run(Command::new("python3").args([
        "-c",
        "import importlib.metadata as m\n\
         for d in m.distributions(path=['/usr/lib/python3/dist-packages']):\n\
         \x20   print(d.metadata['Name'] + '\\t' + d.version)",
    ]));
    let expected: BTreeSet<(String, String)> = oracle
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    assert!(expected.len() > 10, "too few distributions: {expected:?}");
    assert_eq!(name_versions(&found), expected);
    assert!(
        found
            .iter()
            .all(|p| p.kind == PackageKind::Pypi && p.purl.starts_with("pkg:pypi/"))
    );

    // The copies kept in the repository: dist-info, egg-info dir and file.
    let found = detect_tree(&PythonMetadata, &data_dir().join("python"));
    let pyyaml = found.iter().find(|p| p.name == "PyYAML").unwrap();
    assert_eq!(pyyaml.purl, "pkg:pypi/pyyaml@6.0");
    assert!(
        pyyaml
            .location
            .path
            .ends_with("PyYAML-6.0.dist-info/METADATA")
    );
    assert_eq!(
        name_versions(&found),
        [("PyJWT", "2.6.0"), ("PyYAML", "6.0"), ("pycairo", "1.20.1")]
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .into()
    );
}

#[test]
fn node_packages_match_npm_ls() {
    require_tool("npm");
    let root = Path::new("/usr/lib/node_modules/npm");
    let mut found = detect_tree(&NodePackage, &root.join("node_modules"));
    found.extend(detect_file(&NodePackage, &root.join("package.json")));
    // npm ls exits 1 over npm's own missing dev dependencies; its listing
    // of what is installed is complete all the same.
    let oracle = Command::new("npm")
        .args(["ls", "--all", "--parseable", "--long", "--omit=dev"])
        .current_dir(root)
        .output()
        .unwrap();
    let oracle = String::from_utf8(oracle.stdout).unwrap();
    let expected: BTreeSet<(String, String)> = oracle
        .lines()
        .filter_map(|l| l.rsplit_once(':'))
        .filter_map(|(_, id)| {
            let at = id.rfind('@').filter(|&i| i > 0)?;
            Some((id[..at].to_string(), id[at + 1..].to_string()))
        })
        .collect();
    assert!(expected.len() > 50);
    assert_eq!(name_versions(&found), expected);
    let scoped = found.iter().find(|p| p.name == "@npmcli/arborist").unwrap();
    assert!(scoped.purl.starts_with("pkg:npm/%40npmcli/arborist@"));
}

#[test]
fn ruby_gemspecs_match_gem_list() {
    require_tool("gem");
    let dirs = run(Command::new("gem").args(["env", "gempath"]));
    let mut found = Vec::new();
    for dir in dirs.trim().split(':') {
        found.extend(detect_tree(
            &RubyGemspec,
            &Path::new(dir).join("specifications"),
        ));
    }
    // `gem list` prints `name (v1, default: v2)`.
    let listed = run(Command::new("gem").args(["list", "--local"]));
    let mut expected = BTreeSet::new();
    for line in listed.lines() {
        let Some((name, versions)) = line.split_once(" (") else {
            continue;
        };
        for v in versions.trim_end_matches(')').split(", ") {
            let v = v.trim_start_matches("default: ");
            expected.insert((name.to_string(), v.to_string()));
        }
    }
    assert!(expected.len() > 10);
    assert_eq!(name_versions(&found), expected);

    let found = detect_tree(&RubyGemspec, &data_dir().join("ruby"));
    let rake = found.iter().find(|p| p.name == "rake").unwrap();
    assert_eq!(
        (rake.version.as_str(), rake.purl.as_str()),
        ("13.0.6", "pkg:gem/rake@13.0.6")
    );
    assert_eq!(found.len(), 2);
}

/// Debian installs every jar's pom under /usr/share/maven-repo/GROUP/ARTIFACT/VERSION.
fn maven_repo_has(group: &str, artifact: &str, version: &str) -> bool {
    Path::new("/usr/share/maven-repo")
        .join(group.replace('.', "/"))
        .join(artifact)
        .join(version)
        .is_dir()
}

#[test]
fn debian_jars_match_the_maven_repo() {
    let jars = [
        "/usr/share/java/commons-lang3.jar",
        "/usr/share/java/jackson-databind.jar",
    ];
    for jar in jars {
        let jar = std::fs::canonicalize(jar)
            .unwrap_or_else(|_| panic!("{jar} missing: run scripts/deps/inventory-language.sh"));
        let found = detect_file(&JavaArchive, &jar);
        assert_eq!(found.len(), 1, "{found:?}");
        let p = &found[0];
        let (group, artifact) = p.name.split_once(':').unwrap();
        assert!(maven_repo_has(group, artifact, &p.version), "{p:?}");
        assert_eq!(
            p.purl,
            format!("pkg:maven/{group}/{artifact}@{}", p.version)
        );
    }
}

/// Every Debian jar on the machine that has no pom.properties (Debian's
/// own builds: libcommons-collections3-java, liblog4j1.2-java,
/// libspring-core-java, …): where the detector names a `groupId:artifactId`
/// it is the one Debian's maven-repo files the jar under, and the three
/// whose manifests carry only display names and organisation ids get no
/// invented group. Matching then lists them as not checked.
#[test]
fn jars_without_pom_properties_get_real_coordinates_or_none() {
    let mut seen = std::collections::BTreeSet::new();
    let mut without_pom = 0;
    for entry in std::fs::read_dir("/usr/share/java").unwrap().flatten() {
        let Ok(jar) = std::fs::canonicalize(entry.path()) else {
            continue;
        };
        if jar.extension().is_none_or(|e| e != "jar") || !seen.insert(jar.clone()) {
            continue;
        }
        let bytes = std::fs::read(&jar).unwrap();
        let Ok(mut archive) = zip::ZipArchive::new(std::io::Cursor::new(&bytes)) else {
            continue;
        };
        let has_pom = (0..archive.len()).any(|i| {
            archive
                .by_index(i)
                .is_ok_and(|e| e.name().is_ok_and(|n| n.ends_with("/pom.properties")))
        });
        if has_pom {
            continue;
        }
        without_pom += 1;
        for p in detect_file(&JavaArchive, &jar) {
            if let Some((group, artifact)) = p.name.split_once(':') {
                assert!(
                    maven_repo_has(group, artifact, &p.version),
                    "{} named {} {}, which Debian's maven-repo does not have",
                    jar.display(),
                    p.name,
                    p.version
                );
            }
        }
    }
    assert!(
        without_pom >= 3,
        "only {without_pom} jars without pom.properties: run scripts/deps/inventory-language.sh"
    );
    let named = |file: &str| {
        let jar = std::fs::canonicalize(Path::new("/usr/share/java").join(file))
            .unwrap_or_else(|_| panic!("{file} missing: run scripts/deps/inventory-language.sh"));
        let found = detect_file(&JavaArchive, &jar);
        assert_eq!(found.len(), 1, "{found:?}");
        (found[0].name.clone(), found[0].version.clone())
    };
    assert_eq!(
        named("commons-collections3.jar"),
        ("commons-collections3".into(), "3.2.2".into())
    );
    // Its Implementation-* headers sit in a per-package section, not the
    // main one: a name from the file, no group.
    let (log4j, version) = named("log4j-1.2.jar");
    assert!(
        !log4j.contains(':') && version == "1.2.17",
        "{log4j} {version}"
    );
    assert_eq!(
        named("spring3-core.jar"),
        ("spring-core".into(), "4.3.30.RELEASE".into())
    );

    // A database with the real coordinate's advisory: the archive is not
    // silently clean, it is listed as not checked.
    let jar = std::fs::canonicalize("/usr/share/java/commons-collections3.jar").unwrap();
    let inventory = scangate::model::Inventory {
        packages: detect_file(&JavaArchive, &jar),
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let zip_dir = dir.path().join("Maven");
    std::fs::create_dir_all(&zip_dir).unwrap();
    let mut zip = zip::ZipWriter::new(std::fs::File::create(zip_dir.join("all.zip")).unwrap());
    zip.start_file(
        "GHSA-fjq5-5j5f-mvxh.json",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    std::io::Write::write_all(
        &mut zip,
        br#"{"id":"GHSA-fjq5-5j5f-mvxh","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Maven","name":"commons-collections:commons-collections"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"3.0"},{"fixed":"3.2.2"}]}]}]}"#,
    )
    .unwrap();
    zip.finish().unwrap();
    let db =
        scangate::vulndb::load_dir(dir.path(), &scangate::vulndb::LoadOptions::default()).unwrap();
    let outcome = db.match_inventory(&inventory);
    assert!(outcome.findings.is_empty());
    assert!(
        outcome
            .unchecked
            .iter()
            .any(|u| u.contains("Maven archives without a groupId")),
        "{:?}",
        outcome.unchecked
    );
}

/// A Spring Boot style fat jar built from the real jars: the packages of
/// the nested jars are found, with their position in the outer jar.
#[test]
fn nested_jars_in_a_fat_jar() {
    use std::io::Write;
    let inner = ["commons-lang3", "jackson-databind"].map(|n| {
        let path = std::fs::canonicalize(format!("/usr/share/java/{n}.jar")).unwrap();
        (
            path.file_name().unwrap().to_string_lossy().into_owned(),
            std::fs::read(&path).unwrap(),
        )
    });
    let mut fat = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    fat.start_file("META-INF/MANIFEST.MF", stored).unwrap();
    fat.write_all(
        b"Manifest-Version: 1.0\r\nMain-Class: org.springframework.boot.loader.JarLauncher\r\n\r\n",
    )
    .unwrap();
    for (name, bytes) in &inner {
        fat.start_file(format!("BOOT-INF/lib/{name}"), stored)
            .unwrap();
        fat.write_all(bytes).unwrap();
    }
    let fat = fat.finish().unwrap().into_inner();
    let meta = FileMeta {
        path: "app/app.jar",
        size: fat.len() as u64,
        mode: 0o644,
    };
    assert!(JavaArchive.wants(&meta));
    let Detected::Packages(found) = JavaArchive.detect(&meta, &fat).unwrap() else {
        panic!("nothing found in the fat jar")
    };
    let mut expected = Vec::new();
    for (name, bytes) in &inner {
        let path = format!("app/app.jar!/BOOT-INF/lib/{name}");
        let inner_meta = FileMeta {
            path: &path,
            size: bytes.len() as u64,
            mode: 0o644,
        };
        let Detected::Packages(p) = JavaArchive.detect(&inner_meta, bytes).unwrap() else {
            panic!("nothing in {name}")
        };
        expected.extend(p);
    }
    assert_eq!(found.len(), 2);
    assert_eq!(found, expected);
}

#[test]
fn cargo_auditable_binary_matches_cargo_lock() {
    let sample = data_dir().join("rust-sample");
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache");
    let bin_dir = cache.join("cargo-auditable/bin");
    assert!(
        bin_dir.join("cargo-auditable").is_file(),
        "cargo-auditable missing: run scripts/deps/inventory-language.sh"
    );
    let target = cache.join("rust-sample-target");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    run(Command::new("cargo")
        .args(["auditable", "build", "--release", "--locked", "--quiet"])
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(&sample));
    let binary = target.join("release/auditable-sample");
    let found = detect_file(&CargoAuditable, &binary);

    // `cargo tree` resolves for the host target, as the build did (the
    // lock file also names Windows-only crates that were never compiled).
    let tree = run(Command::new("cargo")
        .args([
            "tree",
            "--locked",
            "--offline",
            "--prefix",
            "none",
            "-e",
            "normal,build",
        ])
        .args(["--format", "{p}"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(&sample));
    let expected: BTreeSet<(String, String)> = tree
        .lines()
        .filter(|l| !l.contains(" ("))
        .filter_map(|l| l.trim_end_matches(" (*)").split_once(" v"))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    assert!(expected.contains(&("smallvec".into(), "1.6.0".into())));
    assert_eq!(name_versions(&found), expected);
    assert!(found.iter().all(|p| p.purl.starts_with("pkg:cargo/")));
    assert!(!found.iter().any(|p| p.name == "auditable-sample"));
}

/// A real `composer install` (offline, from local path repositories) writes
/// the Composer 2 `installed.json`; Composer 1 wrote the same entries as a
/// bare array. `composer show` is the oracle.
#[test]
fn composer_installed_json_matches_composer_show() {
    require_tool("composer");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |rel: &str, text: &str| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "pkgs/acme-log/composer.json",
        r#"{"name":"acme/log","version":"1.4.2","type":"library"}"#,
    );
    write(
        "pkgs/acme-http/composer.json",
        r#"{"name":"acme/http","version":"2.0.1","type":"library","require":{"acme/log":"^1.4"}}"#,
    );
    write(
        "app/composer.json",
        r#"{"name":"acme/app","repositories":[{"packagist.org":false},{"type":"path","url":"../pkgs/*","options":{"symlink":false}}],"require":{"acme/http":"2.0.1"}}"#,
    );
    let app = root.join("app");
    let composer = |args: &[&str]| {
        run(Command::new("composer")
            .args(args)
            .args(["--no-interaction", "--no-plugins"])
            .env("COMPOSER_HOME", root.join("home"))
            .current_dir(&app))
    };
    composer(&["install", "--quiet"]);
    let shown: serde_json::Value =
        serde_json::from_str(&composer(&["show", "--format=json"])).unwrap();
    let expected: BTreeSet<(String, String)> = shown["installed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().into(),
                p["version"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(expected.len(), 2);

    let installed = app.join("vendor/composer/installed.json");
    let found = detect_file(&ComposerInstalled, &installed);
    assert_eq!(name_versions(&found), expected);
    let log = found.iter().find(|p| p.name == "acme/log").unwrap();
    assert_eq!(log.purl, "pkg:composer/acme/log@1.4.2");

    let v2: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&installed).unwrap()).unwrap();
    let v1 = serde_json::to_vec(&v2["packages"]).unwrap();
    let meta = FileMeta {
        path: "srv/vendor/composer/installed.json",
        size: v1.len() as u64,
        mode: 0o644,
    };
    let Detected::Packages(from_v1) = ComposerInstalled.detect(&meta, &v1).unwrap() else {
        panic!("nothing in the v1 array")
    };
    assert_eq!(name_versions(&from_v1), expected);
}

/// No .NET SDK is reachable here: the deps.json is written by hand in the
/// documented format (dotnet/runtime docs/design/features/host-runtime-information).
#[test]
fn dotnet_deps_json_lists_packages_only() {
    let found = detect_tree(&DotnetDeps, &data_dir().join("dotnet"));
    assert_eq!(
        name_versions(&found),
        [
            ("Newtonsoft.Json", "13.0.1"),
            ("System.Text.Encodings.Web", "4.7.1")
        ]
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .into()
    );
    let json = found.iter().find(|p| p.name == "Newtonsoft.Json").unwrap();
    assert_eq!(json.purl, "pkg:nuget/Newtonsoft.Json@13.0.1");
}

/// Hostile bytes: every detector on truncated and garbage versions of real
/// files returns a result or an error, never panics.
#[test]
fn truncated_and_garbage_input_never_panics() {
    let detectors = scangate::inventory::detectors::language::detectors();
    let mut samples: Vec<Vec<u8>> = Vec::new();
    let mut files = Vec::new();
    walk(&data_dir(), &mut files);
    for f in files {
        samples.push(std::fs::read(f).unwrap());
    }
    samples.push(
        std::fs::read(std::fs::canonicalize("/usr/share/java/commons-lang3.jar").unwrap()).unwrap(),
    );
    let paths = [
        "a/x.dist-info/METADATA",
        "node_modules/x/package.json",
        "a/x.jar",
        "specifications/x.gemspec",
        "vendor/composer/installed.json",
        "x.deps.json",
        "usr/bin/x",
    ];
    for sample in &samples {
        let cuts = [
            0,
            1,
            7,
            sample.len() / 3,
            sample.len() / 2,
            sample.len().saturating_sub(1),
        ];
        for cut in cuts {
            let mut bytes = sample[..cut.min(sample.len())].to_vec();
            for (i, b) in bytes.iter_mut().enumerate().skip(cut / 2).step_by(97) {
                *b ^= (i as u8) | 1;
            }
            for path in paths {
                let meta = FileMeta {
                    path,
                    size: bytes.len() as u64,
                    mode: 0o755,
                };
                for d in &detectors {
                    let _ = d.detect(&meta, &bytes);
                }
            }
        }
    }
}
