//! Each ordering against version lists sorted by the real tools:
//! osv-scalibr's `*-versions-generated.txt` (real versions from the OSV
//! export, sorted by apk-tools, Composer and RubyGems) and the vectors of
//! NuGet's own test suite. Sources: tests/data/versions/SOURCES.md.

use scangate::version::{VersionScheme, compare};
use std::cmp::Ordering;
use std::path::Path;

fn read(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/versions")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Checks every line of `name` under `scheme`; returns how many lines were checked.
fn check_list(name: &str, scheme: VersionScheme) -> usize {
    let text = read(name);
    let mut failures = Vec::new();
    let mut checked = 0;
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        checked += 1;
        if let Some(version) = line.strip_prefix("! ") {
            if compare(scheme, version, version).is_ok() {
                failures.push(format!(
                    "{name}:{line_no}: {version:?} accepted, the tool refuses it"
                ));
            }
            continue;
        }
        if let Some(version) = line.strip_prefix("ok ") {
            if let Err(e) = compare(scheme, version, version) {
                failures.push(format!(
                    "{name}:{line_no}: {version:?} refused ({e}), the tool accepts it"
                ));
            }
            continue;
        }
        let Some((at, want)) = [
            (" < ", Ordering::Less),
            (" = ", Ordering::Equal),
            (" > ", Ordering::Greater),
        ]
        .iter()
        .filter_map(|(op, want)| line.find(op).map(|at| (at, *want)))
        .min_by_key(|(at, _)| *at) else {
            failures.push(format!("{name}:{line_no}: not `A op B`: {line:?}"));
            continue;
        };
        let (a, b) = (&line[..at], &line[at + 3..]);
        match (compare(scheme, a, b), compare(scheme, b, a)) {
            (Ok(got), Ok(back)) if got == want && back == want.reverse() => {}
            (got, back) => failures.push(format!(
                "{name}:{line_no}: {a:?} vs {b:?}: want {want:?}, got {got:?} (reversed: {back:?})"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} lines disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
    checked
}

#[test]
fn apk_orders_alpine_versions_as_apk_tools() {
    assert!(check_list("alpine-versions-generated.txt", VersionScheme::Apk) > 700);
}

#[test]
fn packagist_orders_versions_as_composer() {
    assert!(check_list("packagist-versions-generated.txt", VersionScheme::Packagist) > 900);
}

#[test]
fn rubygems_orders_versions_as_gem_version() {
    assert!(check_list("rubygems-versions-generated.txt", VersionScheme::RubyGems) > 900);
}

#[test]
fn nuget_follows_nuget_versioning_tests() {
    assert!(check_list("nuget-client-tests.txt", VersionScheme::NuGet) > 140);
}
