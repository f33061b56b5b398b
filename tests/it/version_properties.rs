//! Every ordering is a total order on arbitrary strings: for any versions
//! `a`, `b`, `c` that the scheme accepts, `a` = `a`, `compare(a, b)` is the
//! reverse of `compare(b, a)`, and orderings chain (`a` ≤ `b` ≤ `c` ⇒
//! `a` ≤ `c`; `a` = `b` ⇒ `a` and `b` compare alike with `c`). A scheme
//! either accepts a string in every comparison or refuses it in every one.
//!
//! One exception, taken from the tool itself: Maven's `ComparableVersion`
//! is not transitive on versions that do not start with a digit
//! (`java -cp maven-artifact.jar …ComparableVersion 0a0 "" _ 0a0` prints
//! `0a0 < ""`, `"" < _`, `_ < 0a0`), and scangate follows the tool, so for
//! Maven the property is checked on versions that start with a digit, as
//! every version Maven Central and the OSV export hold does.

use proptest::prelude::*;
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

/// Version-shaped strings: numbers (with leading zeros and large ones),
/// the words the schemes give meaning to, and every separator they treat
/// specially; sometimes arbitrary text.
fn version() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        4 => "[0-9]{1,3}",
        1 => "0[0-9]{1,2}",
        1 => "[0-9]{10,22}",
        3 => prop::sample::select(vec![
            ".", ".", "-", "_", "~", "^", "+", ":", "!", "v", "r", "p", "a", "b", "c", "rc", "RC",
            "alpha", "beta", "Beta", "pre", "dev", "post", "final", "ga", "sp", "snapshot",
            "SNAPSHOT", "milestone", "cr", "patch", "pl", "git", "svn", "cvs", "hg", "z", " ",
        ])
        .prop_map(String::from),
        1 => "[a-zA-Z]{1,4}",
    ];
    prop_oneof![
        9 => prop::collection::vec(token, 0..9).prop_map(|t| t.concat()),
        1 => any::<String>(),
    ]
}

/// The strings the property is checked on (see the module comment).
fn in_domain(scheme: VersionScheme, version: &str) -> bool {
    scheme != VersionScheme::Maven || version.starts_with(|c: char| c.is_ascii_digit())
}

fn check_total_order(scheme: VersionScheme, versions: &[String]) -> Result<(), TestCaseError> {
    let versions: Vec<String> = versions
        .iter()
        .filter(|v| in_domain(scheme, v))
        .cloned()
        .collect();
    let valid: Vec<bool> = versions
        .iter()
        .map(|v| match compare(scheme, v, v) {
            Ok(order) => {
                assert_eq!(
                    order,
                    Ordering::Equal,
                    "{scheme:?}: {v:?} is not equal to itself"
                );
                true
            }
            Err(_) => false,
        })
        .collect();
    let n = versions.len();
    let mut order = vec![vec![Ordering::Equal; n]; n];
    for i in 0..n {
        for j in 0..n {
            let got = compare(scheme, &versions[i], &versions[j]);
            prop_assert_eq!(
                got.is_ok(),
                valid[i] && valid[j],
                "{:?}: {:?} vs {:?}: accepted alone but not in a pair, or the reverse",
                scheme,
                &versions[i],
                &versions[j]
            );
            if let Ok(o) = got {
                order[i][j] = o;
            }
        }
    }
    let ok: Vec<usize> = (0..n).filter(|&i| valid[i]).collect();
    for &i in &ok {
        for &j in &ok {
            prop_assert_eq!(
                order[i][j],
                order[j][i].reverse(),
                "{:?}: not antisymmetric on {:?}, {:?}",
                scheme,
                &versions[i],
                &versions[j]
            );
            for &k in &ok {
                let (ij, jk, ik) = (order[i][j], order[j][k], order[i][k]);
                if ij != Ordering::Greater && jk != Ordering::Greater {
                    // a < b ≤ c or a ≤ b < c gives a < c; a = b = c gives a = c.
                    let want = if ij == Ordering::Less || jk == Ordering::Less {
                        Ordering::Less
                    } else {
                        Ordering::Equal
                    };
                    prop_assert!(
                        ik == want,
                        "{:?}: not transitive: {:?} {:?} {:?} {:?} {:?}, but {:?}",
                        scheme,
                        &versions[i],
                        ij,
                        &versions[j],
                        jk,
                        &versions[k],
                        ik
                    );
                }
                if ij == Ordering::Equal {
                    prop_assert_eq!(
                        ik,
                        jk,
                        "{:?}: {:?} = {:?}, but they compare differently with {:?}",
                        scheme,
                        &versions[i],
                        &versions[j],
                        &versions[k]
                    );
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn every_ordering_is_total_and_consistent(versions in prop::collection::vec(version(), 2..7)) {
        for scheme in SCHEMES {
            check_total_order(scheme, &versions)?;
        }
    }

    /// Near-equal versions (one token changed) are where orderings go wrong.
    #[test]
    fn orderings_are_consistent_on_near_neighbours(base in version(), edits in prop::collection::vec((0usize..12, version()), 1..5)) {
        let mut versions = vec![base.clone()];
        for (at, insert) in edits {
            let cut = base.char_indices().map(|(i, _)| i).nth(at).unwrap_or(base.len());
            versions.push(format!("{}{}{}", &base[..cut], insert, &base[cut..]));
            versions.push(format!("{}{}", &base[..cut], insert));
        }
        for scheme in SCHEMES {
            check_total_order(scheme, &versions)?;
        }
    }
}
