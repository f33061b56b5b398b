//! Maven version ordering, as Maven 3.8's `ComparableVersion`
//! (maven-artifact): any string is a version. It is lower-cased and cut
//! into a tree of items: numbers, qualifiers and sub-lists (opened by `-`
//! and by each switch between digits and letters).

use super::numeric::compare_digit_runs;
use std::borrow::Cow;
use std::cmp::Ordering;

/// One item of the parsed tree.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Number(Number),
    Qualifier(Qualifier),
    List(Vec<Item>),
}

/// Digits with leading zeros stripped; most fit a `u64` (no allocation:
/// a match parses every event version of every Maven advisory checked).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Number {
    Small(u64),
    /// More than [`SMALL_DIGITS`] digits after the zeros.
    Big(Box<str>),
}

/// Numbers of up to this many digits are kept as `u64`.
const SMALL_DIGITS: usize = 18;

/// A qualifier after aliases (`ga`, `final`, `release` → ``; `cr` → `rc`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Qualifier {
    /// Its index in [`QUALIFIERS`].
    Known(u8),
    Other(Box<str>),
}

/// The well-known qualifiers, in order; `""` is the release itself.
const QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
const RELEASE_INDEX: u8 = 5;

/// A parsed Maven version; `Ord` is `ComparableVersion.compareTo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MavenVersion {
    items: Vec<Item>,
}

fn number(digits: &str) -> Item {
    let digits = digits.trim_start_matches('0');
    Item::Number(if digits.len() <= SMALL_DIGITS {
        // Only ASCII digits reach here; `""` (all zeros) is 0.
        Number::Small(digits.parse().unwrap_or(0))
    } else {
        Number::Big(digits.into())
    })
}

fn qualifier(text: &str, followed_by_digit: bool) -> Item {
    let text = match (followed_by_digit, text) {
        (true, "a") => "alpha",
        (true, "b") => "beta",
        (true, "m") => "milestone",
        (_, "ga" | "final" | "release") => "",
        (_, "cr") => "rc",
        (_, other) => other,
    };
    Item::Qualifier(match QUALIFIERS.iter().position(|k| *k == text) {
        Some(i) => Qualifier::Known(i as u8),
        None => Qualifier::Other(text.into()),
    })
}

fn parse_item(is_digit: bool, text: &str) -> Item {
    if is_digit {
        number(text)
    } else {
        qualifier(text, false)
    }
}

impl Item {
    fn is_null(&self) -> bool {
        match self {
            Item::Number(n) => *n == Number::Small(0),
            Item::Qualifier(q) => *q == Qualifier::Known(RELEASE_INDEX),
            Item::List(items) => items.is_empty(),
        }
    }
}

/// Drops trailing null items (`0`, ``, empty lists), stopping at the first
/// non-null item that is not a list, as `ListItem.normalize` does.
fn normalize(items: &mut Vec<Item>) {
    let mut i = items.len();
    while i > 0 {
        i -= 1;
        if items[i].is_null() {
            items.remove(i);
        } else if !matches!(items[i], Item::List(_)) {
            break;
        }
    }
}

/// Maven lower-cases with Java's `toLowerCase(Locale.ENGLISH)`; an ASCII
/// version without capitals is used as it is.
fn lower_case(version: &str) -> Cow<'_, str> {
    if version.is_ascii() && !version.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Borrowed(version)
    } else {
        Cow::Owned(version.to_lowercase())
    }
}

/// The tree as Maven builds it. Sub-lists are built on a stack of
/// vectors; each is normalized when it is closed (at the end, innermost
/// first), then attached to its parent. Positions are byte offsets; every
/// separator is ASCII.
fn parse(version: &str) -> Vec<Item> {
    let lower = lower_case(version);
    let text = |from: usize, to: usize| -> &str { lower.get(from..to).unwrap_or("") };
    // The open lists, outermost first; each nested list is the last item of
    // its parent once closed.
    let mut stack: Vec<Vec<Item>> = vec![Vec::new()];
    let mut is_digit = false;
    let mut start = 0;
    for (i, c) in lower.char_indices() {
        let Some(current) = stack.last_mut() else {
            break;
        };
        if c == '.' {
            current.push(if i == start {
                Item::Number(Number::Small(0))
            } else {
                parse_item(is_digit, text(start, i))
            });
            start = i + 1;
        } else if c == '-' {
            current.push(if i == start {
                Item::Number(Number::Small(0))
            } else {
                parse_item(is_digit, text(start, i))
            });
            start = i + 1;
            stack.push(Vec::new());
        } else if c.is_ascii_digit() {
            if !is_digit && i > start {
                // `X1`: the qualifier goes into a list of its own (unless the
                // current one is still empty), the number into the next.
                let qualifier = qualifier(text(start, i), true);
                if current.is_empty() {
                    current.push(qualifier);
                    stack.push(Vec::new());
                } else {
                    stack.push(vec![qualifier]);
                    stack.push(Vec::new());
                }
                start = i;
            }
            is_digit = true;
        } else {
            if is_digit && i > start {
                current.push(number(text(start, i)));
                start = i;
                stack.push(Vec::new());
            }
            is_digit = false;
        }
    }
    if lower.len() > start {
        let last = parse_item(is_digit, text(start, lower.len()));
        // A trailing `.X` is treated as `-X` (1.0.0.X1 < 1.0.0-X2).
        if !is_digit && stack.last().is_some_and(|list| !list.is_empty()) {
            stack.push(Vec::new());
        }
        if let Some(current) = stack.last_mut() {
            current.push(last);
        }
    }
    while let Some(mut list) = stack.pop() {
        normalize(&mut list);
        match stack.last_mut() {
            Some(parent) => parent.push(Item::List(list)),
            None => return list,
        }
    }
    Vec::new()
}

/// `comparableQualifier` compared as Java strings: a known qualifier is
/// its index (one digit, 0 to 6), any other `7-<text>`.
fn compare_qualifiers(a: &Qualifier, b: &Qualifier) -> Ordering {
    match (a, b) {
        (Qualifier::Known(x), Qualifier::Known(y)) => x.cmp(y),
        (Qualifier::Known(_), Qualifier::Other(_)) => Ordering::Less,
        (Qualifier::Other(_), Qualifier::Known(_)) => Ordering::Greater,
        (Qualifier::Other(x), Qualifier::Other(y)) => x.encode_utf16().cmp(y.encode_utf16()),
    }
}

fn compare_numbers(a: &Number, b: &Number) -> Ordering {
    match (a, b) {
        (Number::Small(x), Number::Small(y)) => x.cmp(y),
        (Number::Small(_), Number::Big(_)) => Ordering::Less,
        (Number::Big(_), Number::Small(_)) => Ordering::Greater,
        (Number::Big(x), Number::Big(y)) => compare_digit_runs(x.as_bytes(), y.as_bytes()),
    }
}

/// `item.compareTo(null)`: how an item compares with a missing one.
fn compare_with_missing(item: &Item) -> Ordering {
    match item {
        Item::Number(n) => compare_numbers(n, &Number::Small(0)),
        Item::Qualifier(q) => compare_qualifiers(q, &Qualifier::Known(RELEASE_INDEX)),
        Item::List(items) => items
            .iter()
            .map(compare_with_missing)
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal),
    }
}

fn compare_items(a: &Item, b: &Item) -> Ordering {
    use Item::*;
    match (a, b) {
        (Number(x), Number(y)) => compare_numbers(x, y),
        (Number(_), _) => Ordering::Greater,
        (Qualifier(_), Number(_)) | (Qualifier(_), List(_)) => Ordering::Less,
        (Qualifier(x), Qualifier(y)) => compare_qualifiers(x, y),
        (List(_), Number(_)) => Ordering::Less,
        (List(_), Qualifier(_)) => Ordering::Greater,
        (List(x), List(y)) => compare_lists(x, y),
    }
}

fn compare_lists(a: &[Item], b: &[Item]) -> Ordering {
    for i in 0..a.len().max(b.len()) {
        let ord = match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) => compare_items(x, y),
            (Some(x), None) => compare_with_missing(x),
            (None, Some(y)) => compare_with_missing(y).reverse(),
            (None, None) => Ordering::Equal,
        };
        if ord.is_ne() {
            return ord;
        }
    }
    Ordering::Equal
}

impl MavenVersion {
    /// Parses any string, as Maven does.
    pub fn parse(version: &str) -> MavenVersion {
        MavenVersion {
            items: parse(version),
        }
    }
}

impl Ord for MavenVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_lists(&self.items, &other.items)
    }
}

impl PartialOrd for MavenVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

pub fn compare(a: &str, b: &str) -> Ordering {
    MavenVersion::parse(a).cmp(&MavenVersion::parse(b))
}

#[cfg(test)]
mod tests {
    use super::compare;
    use std::cmp::Ordering::*;

    #[test]
    fn known_pairs() {
        for (a, b, want) in [
            ("1", "1.0.0", Equal),
            ("1-ga", "1", Equal),
            ("1.0-final", "1", Equal),
            ("1-alpha1", "1-a1", Equal),
            ("1-alpha", "1-beta", Less),
            ("1-rc1", "1-cr1", Equal),
            ("1-snapshot", "1", Less),
            ("1", "1-sp1", Less),
            ("1-sp1", "1-foo", Less),
            ("1.0.1", "1.0-1", Greater),
            ("2.0", "10.0", Less),
            ("1.0.0.RELEASE", "1.0.0", Equal),
        ] {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }
}
