//! PEP 440 version ordering, as Python's `packaging.version` orders it
//! (epoch, release, pre, post, dev, local), with numbers of any size.

use super::numeric::compare_digit_runs;
use std::cmp::Ordering;

/// A number kept as its digits, compared numerically whatever its size.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Num(String);

impl Num {
    fn zero() -> Num {
        Num("0".into())
    }
    fn is_zero(&self) -> bool {
        self.0.bytes().all(|b| b == b'0')
    }
}

impl Ord for Num {
    fn cmp(&self, other: &Num) -> Ordering {
        compare_digit_runs(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Num) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// One part of a local version label: numbers sort after strings.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum LocalPart {
    Text(String),
    Number(Num),
}

/// A parsed version, its fields ordered as packaging's comparison key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pep440 {
    epoch: Num,
    /// Trailing zeros removed (`1.0` == `1`).
    release: Vec<Num>,
    /// `(rank, n)`: a=0, b=1, rc=2.
    pre: Option<(u8, Num)>,
    post: Option<Num>,
    dev: Option<Num>,
    local: Option<Vec<LocalPart>>,
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn digits(&mut self) -> Option<Num> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        (self.i > start).then(|| Num(String::from_utf8_lossy(&self.s[start..self.i]).into()))
    }
    fn separator(&mut self) -> bool {
        if matches!(self.peek(), Some(b'-' | b'_' | b'.')) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    /// Consumes the longest of `words` found here.
    fn word(&mut self, words: &[&str]) -> Option<String> {
        let rest = &self.s[self.i..];
        let found = words
            .iter()
            .filter(|w| rest.starts_with(w.as_bytes()))
            .max_by_key(|w| w.len())?;
        self.i += found.len();
        Some((*found).to_string())
    }
}

impl Pep440 {
    pub fn parse(text: &str) -> Result<Pep440, String> {
        let lower = text.trim().to_ascii_lowercase();
        let mut c = Cursor {
            s: lower.as_bytes(),
            i: 0,
        };
        if c.peek() == Some(b'v') {
            c.i += 1;
        }
        let first = c.digits().ok_or("must start with a number")?;
        let (epoch, mut release) = if c.peek() == Some(b'!') {
            c.i += 1;
            (
                first,
                vec![c.digits().ok_or("an epoch must be followed by a release")?],
            )
        } else {
            (Num::zero(), vec![first])
        };
        while c.peek() == Some(b'.') && c.s.get(c.i + 1).is_some_and(u8::is_ascii_digit) {
            c.i += 1;
            release.extend(c.digits());
        }
        while release.len() > 1 && release.last().is_some_and(Num::is_zero) {
            release.pop();
        }

        let mut pre = None;
        let save = c.i;
        c.separator();
        if let Some(label) = c.word(&["alpha", "a", "beta", "b", "preview", "pre", "c", "rc"]) {
            let rank = match label.as_str() {
                "alpha" | "a" => 0,
                "beta" | "b" => 1,
                _ => 2,
            };
            let save_n = c.i;
            c.separator();
            let n = c.digits().unwrap_or_else(|| {
                c.i = save_n;
                Num::zero()
            });
            pre = Some((rank, n));
        } else {
            c.i = save;
        }

        let mut post = None;
        let save = c.i;
        if c.peek() == Some(b'-') && c.s.get(c.i + 1).is_some_and(u8::is_ascii_digit) {
            c.i += 1;
            post = c.digits();
        } else {
            c.separator();
            if c.word(&["post", "rev", "r"]).is_some() {
                let save_n = c.i;
                c.separator();
                post = Some(c.digits().unwrap_or_else(|| {
                    c.i = save_n;
                    Num::zero()
                }));
            } else {
                c.i = save;
            }
        }

        let mut dev = None;
        let save = c.i;
        c.separator();
        if c.word(&["dev"]).is_some() {
            let save_n = c.i;
            c.separator();
            dev = Some(c.digits().unwrap_or_else(|| {
                c.i = save_n;
                Num::zero()
            }));
        } else {
            c.i = save;
        }

        let mut local = None;
        if c.peek() == Some(b'+') {
            c.i += 1;
            let rest = String::from_utf8_lossy(&c.s[c.i..]).into_owned();
            let parts: Vec<&str> = rest.split(['-', '_', '.']).collect();
            if parts
                .iter()
                .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_alphanumeric()))
            {
                return Err(format!("invalid local version label {rest:?}"));
            }
            local = Some(
                parts
                    .into_iter()
                    .map(|p| {
                        if p.bytes().all(|b| b.is_ascii_digit()) {
                            LocalPart::Number(Num(p.to_string()))
                        } else {
                            LocalPart::Text(p.to_string())
                        }
                    })
                    .collect(),
            );
            c.i = c.s.len();
        }
        if c.i != c.s.len() {
            return Err(format!(
                "unexpected {:?}",
                String::from_utf8_lossy(&c.s[c.i..])
            ));
        }
        Ok(Pep440 {
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        })
    }
}

/// packaging's key for the pre-release: a dev release of a final version
/// sorts before its pre-releases; a final version after them.
fn pre_key(v: &Pep440) -> (i8, Option<&(u8, Num)>) {
    match (&v.pre, &v.post, &v.dev) {
        (None, None, Some(_)) => (-1, None),
        (None, _, _) => (1, None),
        (Some(pre), _, _) => (0, Some(pre)),
    }
}

impl Ord for Pep440 {
    fn cmp(&self, other: &Pep440) -> Ordering {
        let release = {
            let len = self.release.len().max(other.release.len());
            let zero = Num::zero();
            (0..len)
                .map(|i| {
                    let a = self.release.get(i).unwrap_or(&zero);
                    let b = other.release.get(i).unwrap_or(&zero);
                    a.cmp(b)
                })
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        };
        self.epoch
            .cmp(&other.epoch)
            .then(release)
            .then_with(|| pre_key(self).cmp(&pre_key(other)))
            // No post release sorts first; no dev release sorts last.
            .then_with(|| self.post.cmp(&other.post))
            .then_with(|| match (&self.dev, &other.dev) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            })
            .then_with(|| self.local.cmp(&other.local))
    }
}

impl PartialOrd for Pep440 {
    fn partial_cmp(&self, other: &Pep440) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::Pep440;

    #[test]
    fn the_pep_440_example_order() {
        let chain = [
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+abc.7",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.1.dev1",
        ];
        for pair in chain.windows(2) {
            let (a, b) = (
                Pep440::parse(pair[0]).unwrap(),
                Pep440::parse(pair[1]).unwrap(),
            );
            assert!(a < b, "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(Pep440::parse("1.0").unwrap(), Pep440::parse("1").unwrap());
        for bad in ["", "x", "1.0+", "1.0+a..b", "1.0 beta", "1.0-"] {
            assert!(Pep440::parse(bad).is_err(), "{bad:?}");
        }
    }
}
