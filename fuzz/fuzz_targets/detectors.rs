//! Every detector on arbitrary bytes, at each path some detector wants,
//! chosen by the first byte: whichever detectors want the file run on it, as
//! the layer walker runs them. Never a panic, whatever the bytes. (Each
//! detector also has a target of its own.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use scangate::inventory::detectors::{FileMeta, all};

const PATHS: [(&str, u32); 22] = [
    ("etc/os-release", 0o644),
    ("usr/lib/os-release", 0o644),
    ("etc/alpine-release", 0o644),
    ("etc/debian_version", 0o644),
    ("etc/redhat-release", 0o644),
    ("var/lib/dpkg/status", 0o644),
    ("var/lib/dpkg/status.d/base", 0o644),
    ("lib/apk/db/installed", 0o644),
    ("usr/lib/apk/db/installed", 0o644),
    ("var/lib/rpm/rpmdb.sqlite", 0o644),
    ("var/lib/rpm/Packages", 0o644),
    ("usr/lib/sysimage/rpm/Packages.db", 0o644),
    ("usr/local/bin/app", 0o755),
    (
        "usr/lib/python3/site-packages/x-1.0.dist-info/METADATA",
        0o644,
    ),
    (
        "usr/lib/python3/dist-packages/x-1.0.egg-info/PKG-INFO",
        0o644,
    ),
    ("usr/lib/python3/dist-packages/x-1.0.egg-info", 0o644),
    ("app/node_modules/@scope/x/package.json", 0o644),
    ("app/lib/commons-lang3-3.12.0.jar", 0o644),
    ("usr/local/bundle/specifications/x-1.0.gemspec", 0o644),
    ("app/vendor/composer/installed.json", 0o644),
    ("app/App.deps.json", 0o644),
    ("app/node_modules/lodash/package.json", 0o644),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let (path, mode) = PATHS[usize::from(selector) % PATHS.len()];
    let meta = FileMeta {
        path,
        size: bytes.len() as u64,
        mode,
    };
    for detector in all() {
        if detector.wants(&meta) {
            let _ = detector.detect(&meta, bytes);
        }
    }
});
