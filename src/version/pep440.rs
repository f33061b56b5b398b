//! PEP 440 version ordering, as Python's `packaging.version` orders it
//! (epoch, release, pre, post, dev, local), with numbers of any size.
//!
//! A parsed version borrows its text: parsing and comparing never allocate
//! (matching compares every event of every record of a package). Letters
//! are compared case-insensitively, as packaging lower-cases them.

use super::numeric::compare_digit_runs;
use std::cmp::Ordering;

/// A number kept as its digits, compared numerically whatever its size.
#[derive(Debug, Clone, Copy)]
struct Num<'a>(&'a [u8]);

const ZERO: Num<'static> = Num(b"0");

impl Ord for Num<'_> {
    fn cmp(&self, other: &Num<'_>) -> Ordering {
        compare_digit_runs(self.0, other.0)
    }
}

impl PartialOrd for Num<'_> {
    fn partial_cmp(&self, other: &Num<'_>) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Num<'_> {
    fn eq(&self, other: &Num<'_>) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Num<'_> {}

/// A parsed version, its fields ordered as packaging's comparison key.
#[derive(Debug, Clone, Copy)]
pub struct Pep440<'a> {
    epoch: Num<'a>,
    /// The release numbers as written, `.`-separated; compared padded
    /// with zeros (`1.0` == `1`).
    release: &'a [u8],
    /// `(rank, n)`: a=0, b=1, rc=2.
    pre: Option<(u8, Num<'a>)>,
    post: Option<Num<'a>>,
    dev: Option<Num<'a>>,
    /// The local label after `+`, as written (checked at parse time).
    local: Option<&'a [u8]>,
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn digits(&mut self) -> Option<Num<'a>> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        (self.i > start).then(|| Num(&self.s[start..self.i]))
    }
    fn separator(&mut self) -> bool {
        if matches!(self.peek(), Some(b'-' | b'_' | b'.')) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    /// Consumes the longest of `words` (lower case) found here, in any case.
    fn word(&mut self, words: &[&'static str]) -> Option<&'static str> {
        let rest = &self.s[self.i..];
        let found = words
            .iter()
            .filter(|w| {
                rest.get(..w.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(w.as_bytes()))
            })
            .max_by_key(|w| w.len())?;
        self.i += found.len();
        Some(found)
    }
}

impl<'a> Pep440<'a> {
    pub fn parse(text: &'a str) -> Result<Pep440<'a>, String> {
        let mut c = Cursor {
            s: text.trim().as_bytes(),
            i: 0,
        };
        if matches!(c.peek(), Some(b'v' | b'V')) {
            c.i += 1;
        }
        let mut release_start = c.i;
        let first = c.digits().ok_or("must start with a number")?;
        let epoch = if c.peek() == Some(b'!') {
            c.i += 1;
            release_start = c.i;
            c.digits().ok_or("an epoch must be followed by a release")?;
            first
        } else {
            ZERO
        };
        while c.peek() == Some(b'.') && c.s.get(c.i + 1).is_some_and(u8::is_ascii_digit) {
            c.i += 1;
            c.digits();
        }
        let release = &c.s[release_start..c.i];

        let mut pre = None;
        let save = c.i;
        c.separator();
        if let Some(label) = c.word(&["alpha", "a", "beta", "b", "preview", "pre", "c", "rc"]) {
            let rank = match label {
                "alpha" | "a" => 0,
                "beta" | "b" => 1,
                _ => 2,
            };
            let save_n = c.i;
            c.separator();
            let n = c.digits().unwrap_or_else(|| {
                c.i = save_n;
                ZERO
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
                    ZERO
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
                ZERO
            }));
        } else {
            c.i = save;
        }

        let mut local = None;
        if c.peek() == Some(b'+') {
            let label = &c.s[c.i + 1..];
            if local_parts(label).any(|p| p.is_empty() || !p.iter().all(u8::is_ascii_alphanumeric))
            {
                return Err(format!(
                    "invalid local version label {:?}",
                    String::from_utf8_lossy(label)
                ));
            }
            local = Some(label);
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

fn local_parts(label: &[u8]) -> impl Iterator<Item = &[u8]> {
    label.split(|b| matches!(b, b'-' | b'_' | b'.'))
}

/// packaging's order of local labels: part by part, numbers after
/// strings, strings case-insensitively; a longer label after its prefix.
fn compare_local(a: &[u8], b: &[u8]) -> Ordering {
    let is_number = |p: &[u8]| p.iter().all(u8::is_ascii_digit);
    let (mut a, mut b) = (local_parts(a), local_parts(b));
    loop {
        let ord = match (a.next(), b.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => match (is_number(x), is_number(y)) {
                (true, true) => compare_digit_runs(x, y),
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => x
                    .iter()
                    .map(u8::to_ascii_lowercase)
                    .cmp(y.iter().map(u8::to_ascii_lowercase)),
            },
        };
        if ord.is_ne() {
            return ord;
        }
    }
}

/// Release numbers compared one by one, the shorter padded with zeros.
fn compare_release(a: &[u8], b: &[u8]) -> Ordering {
    let (mut a, mut b) = (a.split(|&c| c == b'.'), b.split(|&c| c == b'.'));
    loop {
        let (x, y) = match (a.next(), b.next()) {
            (None, None) => return Ordering::Equal,
            (x, y) => (x.unwrap_or(b"0"), y.unwrap_or(b"0")),
        };
        let ord = compare_digit_runs(x, y);
        if ord.is_ne() {
            return ord;
        }
    }
}

/// packaging's key for the pre-release: a dev release of a final version
/// sorts before its pre-releases; a final version after them.
fn pre_key<'v, 'a>(v: &'v Pep440<'a>) -> (i8, Option<&'v (u8, Num<'a>)>) {
    match (&v.pre, &v.post, &v.dev) {
        (None, None, Some(_)) => (-1, None),
        (None, _, _) => (1, None),
        (Some(pre), _, _) => (0, Some(pre)),
    }
}

impl Ord for Pep440<'_> {
    fn cmp(&self, other: &Pep440<'_>) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| compare_release(self.release, other.release))
            .then_with(|| pre_key(self).cmp(&pre_key(other)))
            // No post release sorts first; no dev release sorts last.
            .then_with(|| self.post.cmp(&other.post))
            .then_with(|| match (&self.dev, &other.dev) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            })
            .then_with(|| match (self.local, other.local) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(a), Some(b)) => compare_local(a, b),
            })
    }
}

impl PartialOrd for Pep440<'_> {
    fn partial_cmp(&self, other: &Pep440<'_>) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Pep440<'_> {
    fn eq(&self, other: &Pep440<'_>) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Pep440<'_> {}

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
