//! Every package-database detector on arbitrary bytes, at each path a
//! detector wants: never a panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scangate::inventory::detectors::{FileMeta, all};

const PATHS: [(&str, u32); 9] = [
    ("etc/os-release", 0o644),
    ("etc/redhat-release", 0o644),
    ("var/lib/dpkg/status", 0o644),
    ("var/lib/dpkg/status.d/base", 0o644),
    ("lib/apk/db/installed", 0o644),
    ("var/lib/rpm/rpmdb.sqlite", 0o644),
    ("var/lib/rpm/Packages", 0o644),
    ("usr/lib/sysimage/rpm/Packages.db", 0o644),
    ("usr/local/bin/app", 0o755),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else { return };
    let (path, mode) = PATHS[usize::from(selector) % PATHS.len()];
    let meta = FileMeta { path, size: bytes.len() as u64, mode };
    for detector in all() {
        if detector.wants(&meta) {
            let _ = detector.detect(&meta, bytes);
        }
    }
});
