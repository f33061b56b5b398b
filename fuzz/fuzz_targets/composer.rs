//! Composer's `vendor/composer/installed.json`
//! on arbitrary bytes, as the layer walker calls it once `wants` accepts the file:
//! packages (each named and versioned) or a named error, never a panic, a hang
//! or an allocation beyond its limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scangate::inventory::detectors::language::composer::ComposerInstalled;
use scangate::inventory::detectors::{Detected, Detector, FileMeta};

fuzz_target!(|data: &[u8]| {
    let meta = FileMeta {
        path: "app/vendor/composer/installed.json",
        size: data.len() as u64,
        mode: 0o644,
    };
    if let Ok(Detected::Packages(packages)) = ComposerInstalled.detect(&meta, data) {
        for package in &packages {
            assert!(!package.name.is_empty(), "a package without a name");
            assert!(
                !package.version.is_empty(),
                "{} has no version",
                package.name
            );
        }
    }
});
