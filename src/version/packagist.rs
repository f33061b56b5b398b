//! Packagist (Composer) ordering: a leading `v` is dropped, as Composer's
//! normalization does, then PHP's `version_compare` decides: `-`, `_`, `+`
//! and other non-alphanumerics separate parts, digits and letters are split
//! apart, numbers compare as numbers, and words by their special form
//! (`dev` < `alpha`/`a` < `beta`/`b` < `RC`/`rc` < number < `pl`/`p`; any
//! other word below `dev`). Any string is accepted, as PHP accepts it.
//!
//! Not applied: Composer's padding to four parts (`1.2` → `1.2.0.0`), so
//! `1.2` < `1.2.0` here as in `version_compare`.

use std::cmp::Ordering;

/// `php_canonicalize_version`: separators become `.`, a `.` goes between
/// digits and non-digits, runs of separators collapse.
fn canonicalize(version: &str) -> Vec<u8> {
    let bytes = version.as_bytes();
    let Some((&first, rest)) = bytes.split_first() else {
        return Vec::new();
    };
    let is_digit = |b: u8| b.is_ascii_digit();
    let is_non_digit = |b: u8| !b.is_ascii_digit() && b != b'.';
    let mut out = vec![first];
    let mut previous = first;
    for &b in rest {
        let last_is_dot = out.last() == Some(&b'.');
        if matches!(b, b'-' | b'_' | b'+') {
            if !last_is_dot {
                out.push(b'.');
            }
        } else if (is_non_digit(previous) && is_digit(b)) || (is_digit(previous) && is_non_digit(b))
        {
            if !last_is_dot {
                out.push(b'.');
            }
            out.push(b);
        } else if !b.is_ascii_alphanumeric() {
            if !last_is_dot {
                out.push(b'.');
            }
        } else {
            out.push(b);
        }
        previous = b;
    }
    out
}

/// `compare_special_version_forms`: the first form that is a prefix of the
/// word gives its rank; an unknown word ranks lowest.
fn special_form_rank(word: &[u8]) -> i8 {
    const FORMS: [(&[u8], i8); 10] = [
        (b"dev", 0),
        (b"alpha", 1),
        (b"a", 1),
        (b"beta", 2),
        (b"b", 2),
        (b"RC", 3),
        (b"rc", 3),
        (b"#", 4),
        (b"pl", 5),
        (b"p", 5),
    ];
    FORMS
        .iter()
        .find(|(form, _)| word.starts_with(form))
        .map_or(-1, |(_, rank)| *rank)
}

/// `strtol`: the leading digits, saturating at `i64::MAX`.
fn leading_number(part: &[u8]) -> i64 {
    part.iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0i64, |n, d| {
            n.checked_mul(10)
                .and_then(|n| n.checked_add(i64::from(d - b'0')))
                .unwrap_or(i64::MAX)
        })
}

fn starts_with_digit(part: &[u8]) -> bool {
    part.first().is_some_and(u8::is_ascii_digit)
}

fn compare_parts(a: &[u8], b: &[u8]) -> Ordering {
    match (starts_with_digit(a), starts_with_digit(b)) {
        (true, true) => leading_number(a).cmp(&leading_number(b)),
        (false, false) => special_form_rank(a).cmp(&special_form_rank(b)),
        (true, false) => special_form_rank(b"#N#").cmp(&special_form_rank(b)),
        (false, true) => special_form_rank(a).cmp(&special_form_rank(b"#N#")),
    }
}

/// PHP's `version_compare($a, $b)`.
pub fn php_version_compare(a: &[u8], b: &[u8]) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        _ => {}
    }
    let canonical = |v: &[u8]| {
        if v.first() == Some(&b'#') {
            v.to_vec()
        } else {
            canonicalize(&String::from_utf8_lossy(v))
        }
    };
    let (ca, cb) = (canonical(a), canonical(b));
    let mut pa = ca.split(|&c| c == b'.');
    let mut pb = cb.split(|&c| c == b'.');
    loop {
        match (pa.next(), pb.next()) {
            (Some(x), Some(y)) => {
                let ord = compare_parts(x, y);
                if ord.is_ne() {
                    return ord;
                }
            }
            (None, None) => return Ordering::Equal,
            // The longer version's rest decides: a number makes it greater,
            // a word is compared with a number.
            (Some(x), None) => {
                let rest = rest_of(x, pa);
                return if starts_with_digit(&rest) {
                    Ordering::Greater
                } else {
                    php_version_compare(&rest, b"#N#")
                };
            }
            (None, Some(y)) => {
                let rest = rest_of(y, pb);
                return if starts_with_digit(&rest) {
                    Ordering::Less
                } else {
                    php_version_compare(b"#N#", &rest)
                };
            }
        }
    }
}

fn rest_of<'a>(first: &'a [u8], others: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut rest = first.to_vec();
    for part in others {
        rest.push(b'.');
        rest.extend_from_slice(part);
    }
    rest
}

/// Drops one leading `v`/`V`, as Composer's version normalization does.
fn strip_v(version: &str) -> &str {
    let version = version.trim();
    version
        .strip_prefix(['v', 'V'])
        .filter(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or(version)
}

pub fn compare(a: &str, b: &str) -> Ordering {
    php_version_compare(strip_v(a).as_bytes(), strip_v(b).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::compare;
    use std::cmp::Ordering::*;

    #[test]
    fn known_pairs() {
        for (a, b, want) in [
            ("1.0.0", "v1.0.0", Equal),
            ("1.0.0-dev", "1.0.0-alpha", Less),
            ("1.0.0-RC1", "1.0.0", Less),
            ("1.0.0-p1", "1.0.0", Greater),
            ("1.0.0-beta2", "1.0.0-beta10", Less),
            ("1.10", "1.9", Greater),
            ("1.0-foo", "1.0-dev", Less),
        ] {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }
}
