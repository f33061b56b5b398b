//! Image-reference parsing on arbitrary strings: accepted references
//! print back to a reference that parses to the same thing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scangate::registry::ImageRef;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(reference) = ImageRef::parse(&text) {
        let again = ImageRef::parse(&reference.to_string()).expect("a printed reference parses");
        assert_eq!(again, reference);
    }
});
