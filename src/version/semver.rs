//! Semantic-version precedence (semver 2.0.0), shared by npm, Go modules,
//! the Go toolchain and crates.io: build metadata is ignored, pre-releases
//! sort before their release, numeric identifiers compare as numbers.
//!
//! Parsing is lenient the way these ecosystems' data needs: a leading `v`
//! (Go modules), a missing minor or patch (`1.21` for the Go toolchain),
//! and leading zeros are accepted; anything else that is not a version is
//! an error.

use super::numeric::compare_digit_runs;
use std::cmp::Ordering;

/// A parsed semantic version, borrowing its text: parsing and comparing
/// never allocate (matching compares every event of every record of a
/// package). Build metadata (`+incompatible`) is dropped.
#[derive(Debug, Clone, Copy)]
pub struct SemVer<'a> {
    /// Major, minor, patch as written (`""` for a missing one: zero).
    core: [&'a str; 3],
    /// The dot-separated pre-release identifiers, `""` for none.
    pre: &'a str,
}

fn is_numeric(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl<'a> SemVer<'a> {
    pub fn parse(text: &'a str) -> Result<SemVer<'a>, String> {
        let text = text.trim();
        let text = text.strip_prefix('v').unwrap_or(text);
        let without_build = text.split_once('+').map_or(text, |(v, _)| v);
        let (core, pre) = match without_build.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (without_build, None),
        };
        let mut numbers = [""; 3];
        let mut parts = core.split('.');
        for slot in &mut numbers {
            match parts.next() {
                Some(part) if is_numeric(part) => *slot = part,
                Some(_) => return Err(format!("{core:?} is not MAJOR[.MINOR[.PATCH]]")),
                None => break,
            }
        }
        if parts.next().is_some() {
            return Err(format!("{core:?} is not MAJOR[.MINOR[.PATCH]]"));
        }
        let pre = match pre {
            None => "",
            Some(pre) => {
                if pre.split('.').any(|id| {
                    id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                }) {
                    return Err(format!(
                        "pre-release {pre:?} is not dot-separated [0-9A-Za-z-]"
                    ));
                }
                pre
            }
        };
        Ok(SemVer { core: numbers, pre })
    }
}

fn compare_identifier(a: &str, b: &str) -> Ordering {
    match (is_numeric(a), is_numeric(b)) {
        (true, true) => compare_digit_runs(a.as_bytes(), b.as_bytes()),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

impl Ord for SemVer<'_> {
    fn cmp(&self, other: &SemVer<'_>) -> Ordering {
        for (a, b) in self.core.iter().zip(&other.core) {
            let ord = compare_digit_runs(a.as_bytes(), b.as_bytes());
            if ord != Ordering::Equal {
                return ord;
            }
        }
        match (self.pre.is_empty(), other.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                let (mut a, mut b) = (self.pre.split('.'), other.pre.split('.'));
                loop {
                    match (a.next(), b.next()) {
                        (Some(x), Some(y)) => {
                            let ord = compare_identifier(x, y);
                            if ord != Ordering::Equal {
                                return ord;
                            }
                        }
                        // A larger set of identifiers has higher precedence.
                        (Some(_), None) => return Ordering::Greater,
                        (None, Some(_)) => return Ordering::Less,
                        (None, None) => return Ordering::Equal,
                    }
                }
            }
        }
    }
}

impl PartialOrd for SemVer<'_> {
    fn partial_cmp(&self, other: &SemVer<'_>) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Equal precedence (`1.21` == `v1.21.0` == `1.21.0+build`).
impl PartialEq for SemVer<'_> {
    fn eq(&self, other: &SemVer<'_>) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for SemVer<'_> {}

#[cfg(test)]
mod tests {
    use super::SemVer;

    fn v(s: &str) -> SemVer<'_> {
        SemVer::parse(s).unwrap()
    }

    #[test]
    fn precedence_follows_semver() {
        // The chain from semver.org §11.
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.10.0",
            "2.0.0",
        ];
        for pair in chain.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn go_forms_and_build_metadata() {
        assert_eq!(v("v2.3.4+incompatible"), v("2.3.4"));
        assert_eq!(v("1.21"), v("1.21.0"));
        assert!(v("1.5.0-0") < v("1.5.0"));
        assert!(v("1.19.8") < v("1.19.9"));
        for bad in [
            "",
            "a.b.c",
            "1.2.3.4",
            "1..2",
            "1.2.3-",
            "1.2.3-a..b",
            "1.2.3-ä",
        ] {
            assert!(SemVer::parse(bad).is_err(), "{bad:?}");
        }
    }
}
