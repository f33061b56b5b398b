//! The tar/whiteout walker on arbitrary (possibly compressed) bytes, with
//! small limits: a named error or a result, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scangate::inventory::detectors::all;
use scangate::inventory::{LayerLimits, analyze_layer, assemble};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let limits = LayerLimits {
        max_uncompressed_bytes: 4 << 20,
        max_entries: 10_000,
        max_file_bytes: 1 << 20,
        ..LayerLimits::default()
    };
    if let Ok(layer) = analyze_layer(data, "sha256:fuzz", &all(), &limits) {
        let _ = assemble(&[Arc::new(layer)]);
    }
});
