//! Maven version ordering, as Maven 3.8's `ComparableVersion`
//! (maven-artifact): any string is a version. It is lower-cased and cut
//! into a tree of items: numbers, qualifiers and sub-lists (opened by `-`
//! and by each switch between digits and letters).

use super::numeric::compare_digit_runs;
use std::cmp::Ordering;

/// One item of the parsed tree.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// Digits with leading zeros stripped (`0` is the empty string).
    Number(String),
    /// A qualifier after aliases (`ga`, `final`, `release` → ``; `cr` → `rc`).
    Qualifier(String),
    List(Vec<Item>),
}

/// The well-known qualifiers, in order; `""` is the release itself.
const QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
const RELEASE_INDEX: usize = 5;

/// A parsed Maven version; `Ord` is `ComparableVersion.compareTo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MavenVersion {
    items: Vec<Item>,
}

fn number(digits: &str) -> Item {
    Item::Number(digits.trim_start_matches('0').to_string())
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
    Item::Qualifier(text.to_string())
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
            Item::Number(n) => n.is_empty(),
            Item::Qualifier(q) => q.is_empty(),
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

/// The tree as Maven builds it. Sub-lists are built on a stack of
/// vectors; each is normalised when it is closed (at the end, innermost
/// first), then attached to its parent.
fn parse(version: &str) -> Vec<Item> {
    let lower = version.to_lowercase();
    let chars: Vec<char> = lower.chars().collect();
    let text = |from: usize, to: usize| -> String { chars[from..to].iter().collect() };
    // The open lists, outermost first; each nested list is the last item of
    // its parent once closed.
    let mut stack: Vec<Vec<Item>> = vec![Vec::new()];
    let mut is_digit = false;
    let mut start = 0;
    for (i, &c) in chars.iter().enumerate() {
        let Some(current) = stack.last_mut() else {
            break;
        };
        if c == '.' {
            current.push(if i == start {
                Item::Number(String::new())
            } else {
                parse_item(is_digit, &text(start, i))
            });
            start = i + 1;
        } else if c == '-' {
            current.push(if i == start {
                Item::Number(String::new())
            } else {
                parse_item(is_digit, &text(start, i))
            });
            start = i + 1;
            stack.push(Vec::new());
        } else if c.is_ascii_digit() {
            if !is_digit && i > start {
                // `X1`: the qualifier goes into a list of its own (unless the
                // current one is still empty), the number into the next.
                let qualifier = qualifier(&text(start, i), true);
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
                current.push(number(&text(start, i)));
                start = i;
                stack.push(Vec::new());
            }
            is_digit = false;
        }
    }
    if chars.len() > start {
        let last = parse_item(is_digit, &text(start, chars.len()));
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

/// `comparableQualifier`: a known qualifier's index, else `7-<text>`,
/// compared as Java strings.
fn comparable_qualifier(q: &str) -> String {
    match QUALIFIERS.iter().position(|k| *k == q) {
        Some(i) => i.to_string(),
        None => format!("{}-{q}", QUALIFIERS.len()),
    }
}

fn java_string_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// `item.compareTo(null)`: how an item compares with a missing one.
fn compare_with_missing(item: &Item) -> Ordering {
    match item {
        Item::Number(n) => {
            if n.is_empty() {
                Ordering::Equal
            } else {
                Ordering::Greater
            }
        }
        Item::Qualifier(q) => java_string_cmp(&comparable_qualifier(q), &RELEASE_INDEX.to_string()),
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
        (Number(x), Number(y)) => compare_digit_runs(x.as_bytes(), y.as_bytes()),
        (Number(_), _) => Ordering::Greater,
        (Qualifier(_), Number(_)) | (Qualifier(_), List(_)) => Ordering::Less,
        (Qualifier(x), Qualifier(y)) => {
            java_string_cmp(&comparable_qualifier(x), &comparable_qualifier(y))
        }
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
