//! RPM version ordering: `rpmvercmp` (rpmio/rpmvercmp.c) on version and
//! release, after the epoch, as `rpm.labelCompare` does.

use super::numeric::compare_digit_runs;
use std::cmp::Ordering;

/// rpm's segment comparison, including `~` (sorts before anything, even
/// the end) and `^` (sorts after the end, before anything else).
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let separator = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while i < a.len() && separator(a[i]) {
            i += 1;
        }
        while j < b.len() && separator(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(first), Some(_)) = (ca, cb) else {
            break;
        };
        let numeric = first.is_ascii_digit();
        let in_segment = |c: u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let start_a = i;
        while i < a.len() && in_segment(a[i]) {
            i += 1;
        }
        let start_b = j;
        while j < b.len() && in_segment(b[j]) {
            j += 1;
        }
        let (seg_a, seg_b) = (&a[start_a..i], &b[start_b..j]);
        if seg_b.is_empty() {
            // Different kinds of segment: a number is newer than letters.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let ord = if numeric {
            compare_digit_runs(seg_a, seg_b)
        } else {
            seg_a.cmp(seg_b)
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// `[epoch:]version[-release]`.
fn split(evr: &str) -> (u64, &str, Option<&str>) {
    let (epoch, rest) = match evr.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => {
            (e.parse().unwrap_or(u64::MAX), rest)
        }
        _ => (0, evr),
    };
    match rest.rsplit_once('-') {
        Some((version, release)) => (epoch, version, Some(release)),
        None => (epoch, rest, None),
    }
}

/// Compares `[epoch:]version-release` strings as `rpm.labelCompare` does:
/// a missing release sorts before any release (even an empty one). Treating
/// it as "any release" instead would not be an order (`1.0` = `1.0-1` and
/// `1.0` = `1.0-2`, yet `1.0-1` < `1.0-2`).
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ea, va, ra) = split(a.trim());
    let (eb, vb, rb) = split(b.trim());
    ea.cmp(&eb)
        .then_with(|| rpmvercmp(va, vb))
        .then_with(|| match (ra, rb) {
            (Some(ra), Some(rb)) => rpmvercmp(ra, rb),
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (None, None) => Ordering::Equal,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::*;

    #[test]
    fn rpmvercmp_known_pairs() {
        // From rpm's own test suite (tests/rpmvercmp.at).
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0.1a", Less),
            ("5.5p1", "5.5p2", Less),
            ("5.6p1", "5.5p10", Greater),
            ("10xyz", "10.1xyz", Less),
            ("xyz10", "xyz10.1", Less),
            ("xyz.4", "8", Less),
            ("1b.fc17", "1.fc17", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc1~git123", Greater),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.0^git2", Less),
            ("1.0^git1", "1.01", Less),
            ("1.0^20160101", "1.0.1", Less),
            ("1.0~rc1^git1", "1.0~rc1", Greater),
            ("1.0^git1~pre", "1.0^git1", Less),
            ("2_0", "2_0", Equal),
            ("a+", "a_", Equal),
        ] {
            assert_eq!(rpmvercmp(a, b), want, "{a} vs {b}");
            assert_eq!(rpmvercmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn epochs_and_releases() {
        assert_eq!(compare("1:1.0-1", "2.0-1"), Greater);
        assert_eq!(compare("1.0-1.el9", "1.0-2.el9"), Less);
        assert_eq!(compare("3.0.7-16.el9_2", "3.0.7-24.el9"), Less);
        // labelCompare: no release < an empty release < any release.
        assert_eq!(compare("1.0", "1.0-"), Less);
        assert_eq!(compare("1.0-", "1.0-0"), Less);
        assert_eq!(compare("1.0-1", "1.0"), Greater);
    }

    /// Found by the version_order property (a total order): a missing release compared
    /// equal to every release, so `""` = `"-betapl"` < `"-spreleaserfinal"`
    /// = `""`. It now sorts first, as in `rpm.labelCompare`.
    #[test]
    fn a_missing_release_sorts_before_any_release() {
        assert_eq!(compare("1.0", "1.0-1"), Less);
        assert_eq!(compare("1.0-1", "1.0"), Greater);
        assert_eq!(compare("1.0", "1.0"), Equal);
        assert_eq!(compare("", "-betapl"), Less);
        assert_eq!(compare("-betapl", "-spreleaserfinal"), Less);
    }
}
