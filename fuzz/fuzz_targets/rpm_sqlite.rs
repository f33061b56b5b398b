//! The SQLite rpmdb (`rpmdb.sqlite`) on arbitrary bytes: its backend
//! yields header blobs or a named error, and when it does, the whole rpm detector
//! runs on the same bytes. Never a panic, a hang or an allocation beyond the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scangate::inventory::detectors::system::rpm::{header, sqlite};
use scangate::inventory::detectors::{Detector, FileMeta, system::rpm::RpmDetector};

fuzz_target!(|data: &[u8]| {
    let Ok(blobs) = sqlite::blobs(data) else {
        return;
    };
    for blob in &blobs {
        let _ = header::parse(blob);
    }
    let meta = FileMeta {
        path: "var/lib/rpm/Packages",
        size: data.len() as u64,
        mode: 0o644,
    };
    let _ = RpmDetector.detect(&meta, data);
});
