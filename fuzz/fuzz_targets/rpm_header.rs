//! One rpm header blob (`il`, `dl`, index, data store) on arbitrary bytes:
//! a header or a named error, never a panic or an out-of-bounds read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scangate::inventory::detectors::system::rpm::header::parse;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = parse(data) {
        let _ = header.evr();
        let _ = header.source();
    }
});
