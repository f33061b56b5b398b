//! OSV range evaluation under every version ordering, on arbitrary events:
//! never a panic (sorting events with an inconsistent order would be one),
//! and a reported fix is always above the installed version.
//!
//! Input: a scheme byte, then lines: the installed version first, then
//! `i V`/`f V`/`l V`/`m V` (introduced, fixed, last_affected, limit) events,
//! `v V` explicitly affected versions, and `-` to start a new range.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scangate::version::{VersionScheme, compare};
use scangate::vulndb::ranges::{CompactRange, EventKind, VersionList, check};
use std::cmp::Ordering;

const SCHEMES: [VersionScheme; 11] = [
    VersionScheme::Dpkg,
    VersionScheme::Rpm,
    VersionScheme::Apk,
    VersionScheme::Pep440,
    VersionScheme::Npm,
    VersionScheme::Go,
    VersionScheme::Cargo,
    VersionScheme::Maven,
    VersionScheme::RubyGems,
    VersionScheme::NuGet,
    VersionScheme::Packagist,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let scheme = SCHEMES[usize::from(selector) % SCHEMES.len()];
    let text = String::from_utf8_lossy(rest);
    let mut lines = text.lines();
    let Some(installed) = lines.next() else {
        return;
    };
    let mut ranges = vec![CompactRange::new(vec![])];
    let mut versions: Vec<&str> = vec![];
    for line in lines {
        let (tag, value) = line.split_once(' ').unwrap_or((line, ""));
        let kind = match tag {
            "i" => EventKind::Introduced,
            "f" => EventKind::Fixed,
            "l" => EventKind::LastAffected,
            "m" => EventKind::Limit,
            "v" => {
                versions.push(value);
                continue;
            }
            "-" => {
                ranges.push(CompactRange::new(vec![]));
                continue;
            }
            _ => continue,
        };
        if let Some(range) = ranges.last_mut() {
            range.push(kind, value);
        }
    }
    let versions = VersionList::from_versions(versions);
    let verdict = check(scheme, &ranges, &versions, installed);
    // The load sorts each range once; checking must not depend on it.
    let mut normalized = ranges.clone();
    for range in &mut normalized {
        range.normalize(scheme);
    }
    assert_eq!(
        verdict,
        check(scheme, &normalized, &versions, installed),
        "{scheme:?}: normalized ranges disagree at {installed:?}"
    );
    if let Some(fixed) = &verdict.fixed {
        assert!(verdict.affected, "a fix for an unaffected version");
        assert_eq!(
            compare(scheme, installed, fixed).ok(),
            Some(Ordering::Less),
            "{scheme:?}: fix {fixed:?} is not above {installed:?}"
        );
    }
});
