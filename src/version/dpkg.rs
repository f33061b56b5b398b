//! Debian version ordering, as `dpkg --compare-versions` (lib/dpkg/version.c).

use super::numeric::compare_digit_runs;
use std::cmp::Ordering;

/// `[epoch:]upstream[-revision]`, split as dpkg splits it.
#[derive(Debug, Clone)]
pub struct DebVersion<'a> {
    epoch: u64,
    upstream: &'a str,
    revision: &'a str,
}

/// Splits `version` once, to compare it with many ([`compare_split`]).
pub fn split(version: &str) -> DebVersion<'_> {
    let version = version.trim();
    // Byte searches: `:` and `-` are ASCII, so every cut is on a character
    // boundary (and this runs for every event of every Debian advisory
    // checked).
    let (epoch, rest) = match memchr::memchr(b':', version.as_bytes()) {
        // dpkg refuses a non-numeric epoch; treating it as 0 keeps the
        // ordering total on any string (such versions never come from dpkg).
        Some(at) => (version[..at].parse().unwrap_or(0), &version[at + 1..]),
        None => (0, version),
    };
    let (upstream, revision) = match memchr::memrchr(b'-', rest.as_bytes()) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, ""),
    };
    DebVersion {
        epoch,
        upstream,
        revision,
    }
}

/// The weight of a character in the non-digit parts: `~` sorts before
/// everything, even the end of the string; letters before other characters.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: alternating non-digit and digit runs.
fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied().filter(|c| !c.is_ascii_digit()));
            let bc = order(b.get(j).copied().filter(|c| !c.is_ascii_digit()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            if i < a.len() && !a[i].is_ascii_digit() {
                i += 1;
            }
            if j < b.len() && !b[j].is_ascii_digit() {
                j += 1;
            }
        }
        let start_a = i;
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        let start_b = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let ord = compare_digit_runs(&a[start_a..i], &b[start_b..j]);
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

pub fn compare(a: &str, b: &str) -> Ordering {
    compare_split(&split(a), &split(b))
}

/// [`compare`] of versions already split.
pub fn compare_split(a: &DebVersion<'_>, b: &DebVersion<'_>) -> Ordering {
    a.epoch
        .cmp(&b.epoch)
        .then_with(|| verrevcmp(a.upstream, b.upstream))
        .then_with(|| verrevcmp(a.revision, b.revision))
}

#[cfg(test)]
mod tests {
    use super::compare;
    use std::cmp::Ordering::*;

    #[test]
    fn known_pairs() {
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1.0", "1.0+b1", Less),
            ("1:0.1", "2.0", Greater),
            ("1.0-1", "1.0-1~bpo1", Greater),
            ("2.9.14+dfsg-1.3~deb12u1", "2.9.14+dfsg-1.3", Less),
            ("1.01", "1.1", Equal),
            ("1.0a", "1.0-", Greater),
            ("~~", "~", Less),
            ("~", "", Less),
            ("a", "", Greater),
            ("1.2.3", "1.2.10", Less),
        ] {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }
}
