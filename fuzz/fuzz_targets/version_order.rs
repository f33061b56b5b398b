//! Every version ordering on arbitrary strings, as a property: never a
//! panic; the schemes that order any string (dpkg, rpm, Maven, Packagist)
//! always do; and wherever versions compare, the order is a total order:
//! reflexive, antisymmetric, transitive, and equal versions compare alike
//! with everything. Maven and Packagist are exceptions to transitivity:
//! their references, Maven's `ComparableVersion` and PHP's
//! `version_compare` (the oracles of tests/it/version_oracles.rs), are
//! themselves not transitive on odd strings (Maven: `""` < `"pl"` <
//! `"0cr2"` yet `""` > `"0cr2"`; PHP: the inputs in
//! tests/data/fuzz/version_order/), and scangate follows them; range
//! evaluation does not rely on it (src/vulndb/ranges.rs sorts nothing).
#![no_main]

use libfuzzer_sys::fuzz_target;
use scangate::version::{VersionScheme, compare};
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

fn orders_anything(scheme: VersionScheme) -> bool {
    matches!(
        scheme,
        VersionScheme::Dpkg | VersionScheme::Rpm | VersionScheme::Maven | VersionScheme::Packagist
    )
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let scheme = SCHEMES[usize::from(selector) % SCHEMES.len()];
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.splitn(3, '\n');
    let a = parts.next().unwrap_or_default();
    let b = parts.next().unwrap_or_default();
    let c = parts.next().unwrap_or_default();
    let cmp = |x: &str, y: &str| compare(scheme, x, y).ok();
    if orders_anything(scheme) {
        assert!(cmp(a, b).is_some(), "{scheme:?} refused {a:?} {b:?}");
    }
    for v in [a, b, c] {
        if let Some(order) = cmp(v, v) {
            assert_eq!(order, Ordering::Equal, "{scheme:?} reflexivity: {v:?}");
        }
    }
    let (Some(ab), Some(ba)) = (cmp(a, b), cmp(b, a)) else {
        return;
    };
    assert_eq!(ab, ba.reverse(), "{scheme:?} antisymmetry: {a:?} {b:?}");
    let (Some(bc), Some(ac)) = (cmp(b, c), cmp(a, c)) else {
        return;
    };
    // a ? b and b ? c determine a ? c unless the two point opposite ways.
    let implied = match (ab, bc) {
        (Ordering::Equal, o) | (o, Ordering::Equal) => Some(o),
        (x, y) if x == y => Some(x),
        _ => None,
    };
    if let Some(implied) = implied
        && !matches!(scheme, VersionScheme::Maven | VersionScheme::Packagist)
    {
        assert_eq!(
            ac, implied,
            "{scheme:?} transitivity: {a:?} {ab:?} {b:?} {bc:?} {c:?}, but {a:?} {ac:?} {c:?}"
        );
    }
});
