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

/// A parsed semantic version. Build metadata (`+incompatible`) is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemVer {
    core: [String; 3],
    pre: Vec<String>,
}

fn is_numeric(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl SemVer {
    pub fn parse(text: &str) -> Result<SemVer, String> {
        let text = text.trim();
        let text = text.strip_prefix('v').unwrap_or(text);
        let without_build = text.split_once('+').map_or(text, |(v, _)| v);
        let (core, pre) = match without_build.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (without_build, None),
        };
        let parts: Vec<&str> = core.split('.').collect();
        if parts.is_empty() || parts.len() > 3 || !parts.iter().all(|p| is_numeric(p)) {
            return Err(format!("{core:?} is not MAJOR[.MINOR[.PATCH]]"));
        }
        let mut numbers = [String::from("0"), String::from("0"), String::from("0")];
        for (slot, part) in numbers.iter_mut().zip(&parts) {
            *slot = (*part).to_string();
        }
        let pre = match pre {
            None => Vec::new(),
            Some(pre) => {
                let ids: Vec<String> = pre.split('.').map(String::from).collect();
                if ids.iter().any(|id| {
                    id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                }) {
                    return Err(format!(
                        "pre-release {pre:?} is not dot-separated [0-9A-Za-z-]"
                    ));
                }
                ids
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

impl Ord for SemVer {
    fn cmp(&self, other: &SemVer) -> Ordering {
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
                for (a, b) in self.pre.iter().zip(&other.pre) {
                    let ord = compare_identifier(a, b);
                    if ord != Ordering::Equal {
                        return ord;
                    }
                }
                self.pre.len().cmp(&other.pre.len())
            }
        }
    }
}

impl PartialOrd for SemVer {
    fn partial_cmp(&self, other: &SemVer) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::SemVer;

    fn v(s: &str) -> SemVer {
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
