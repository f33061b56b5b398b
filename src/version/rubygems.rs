//! RubyGems ordering, as `Gem::Version#<=>`: `-` means `.pre.`, the
//! version is cut into numbers and letter runs, trailing zeros of the
//! numeric part and of the string part are dropped, and a string segment
//! sorts below a number (`1.0.a` < `1.0`).

use super::numeric::compare_digit_runs;
use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Digits without leading zeros (`0` is the empty string).
    Number(String),
    Text(String),
}

impl Segment {
    fn is_zero(&self) -> bool {
        matches!(self, Segment::Number(n) if n.is_empty())
    }
}

/// A parsed gem version; `Ord` is `Gem::Version#<=>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GemVersion {
    canonical: Vec<Segment>,
}

/// `Gem::Version::ANCHORED_VERSION_PATTERN`.
fn is_valid(v: &str) -> bool {
    if v.is_empty() {
        return true;
    }
    let (release, pre) = match v.split_once('-') {
        Some((r, p)) => (r, Some(p)),
        None => (v, None),
    };
    let mut parts = release.split('.');
    let first_ok = parts
        .next()
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let rest_ok = parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    let pre_ok = pre.is_none_or(|p| {
        p.split('.')
            .all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    });
    first_ok && rest_ok && pre_ok
}

impl GemVersion {
    pub fn parse(text: &str) -> Result<GemVersion, String> {
        let v = text.trim_matches(|c: char| c.is_ascii_whitespace());
        if !is_valid(v) {
            return Err("not a gem version (N[.X]...[-pre])".into());
        }
        let v = if v.is_empty() { "0" } else { v };
        let v = v.replace('-', ".pre.");
        let mut segments = Vec::new();
        let bytes = v.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let start = i;
            let digit = bytes[i].is_ascii_digit();
            if !digit && !bytes[i].is_ascii_alphabetic() {
                i += 1;
                continue;
            }
            while i < bytes.len()
                && (if digit {
                    bytes[i].is_ascii_digit()
                } else {
                    bytes[i].is_ascii_alphabetic()
                })
            {
                i += 1;
            }
            let run = &v[start..i];
            segments.push(if digit {
                Segment::Number(run.trim_start_matches('0').to_string())
            } else {
                Segment::Text(run.to_string())
            });
        }
        // canonical_segments: drop trailing zeros of the numeric prefix and
        // of the rest, separately.
        let split = segments
            .iter()
            .position(|s| matches!(s, Segment::Text(_)))
            .unwrap_or(segments.len());
        let mut rest = segments.split_off(split);
        while segments.last().is_some_and(Segment::is_zero) {
            segments.pop();
        }
        while rest.last().is_some_and(Segment::is_zero) {
            rest.pop();
        }
        segments.extend(rest);
        Ok(GemVersion {
            canonical: segments,
        })
    }
}

impl Ord for GemVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let zero = Segment::Number(String::new());
        let len = self.canonical.len().max(other.canonical.len());
        for i in 0..len {
            let a = self.canonical.get(i).unwrap_or(&zero);
            let b = other.canonical.get(i).unwrap_or(&zero);
            let ord = match (a, b) {
                (Segment::Number(x), Segment::Number(y)) => {
                    compare_digit_runs(x.as_bytes(), y.as_bytes())
                }
                (Segment::Text(_), Segment::Number(_)) => Ordering::Less,
                (Segment::Number(_), Segment::Text(_)) => Ordering::Greater,
                (Segment::Text(x), Segment::Text(y)) => x.cmp(y),
            };
            if ord.is_ne() {
                return ord;
            }
        }
        Ordering::Equal
    }
}

impl PartialOrd for GemVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::GemVersion;
    use std::cmp::Ordering::*;

    #[test]
    fn known_pairs() {
        let p = |s| GemVersion::parse(s).unwrap();
        for (a, b, want) in [
            ("1.0", "1", Equal),
            ("1.0.a", "1.0", Less),
            ("1.0.0-rc1", "1.0.0", Less),
            ("1.0.b1", "1.0.a2", Greater),
            ("1.10", "1.9", Greater),
            ("1.0.a.0", "1.0.a", Equal),
        ] {
            assert_eq!(p(a).cmp(&p(b)), want, "{a} vs {b}");
        }
        assert!(GemVersion::parse("junk").is_err());
        assert!(GemVersion::parse("1..2").is_err());
    }
}
