//! Every version ordering on arbitrary strings: never panics, and where it
//! orders, the order is antisymmetric and transitive.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scangate::version::{VersionScheme, compare};

const SCHEMES: [VersionScheme; 7] = [
    VersionScheme::Dpkg,
    VersionScheme::Rpm,
    VersionScheme::Apk,
    VersionScheme::Pep440,
    VersionScheme::Npm,
    VersionScheme::Go,
    VersionScheme::Cargo,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let scheme = SCHEMES[usize::from(selector) % SCHEMES.len()];
    let text = String::from_utf8_lossy(rest);
    let parts: Vec<&str> = text.splitn(3, '\n').collect();
    let [a, b, c] = parts[..] else { return };
    let (Ok(ab), Ok(ba)) = (compare(scheme, a, b), compare(scheme, b, a)) else { return };
    assert_eq!(ab, ba.reverse(), "antisymmetry: {a:?} {b:?}");
    if let (Ok(bc), Ok(ac)) = (compare(scheme, b, c), compare(scheme, a, c)) {
        if ab.is_le() && bc.is_le() {
            assert!(ac.is_le(), "transitivity: {a:?} <= {b:?} <= {c:?}");
        }
    }
});
