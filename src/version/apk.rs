//! Alpine (apk-tools) version ordering: `1.2.3a_rc1_p2~hash-r4`, tokenised
//! and compared the way apk-tools' `apk_version_compare` does.

use super::numeric::compare_digit_runs;
use std::cmp::Ordering;

/// Token kinds, in apk-tools' order: when two versions' tokens differ in
/// kind, the later kind sorts lower (`1.2` < `1.2.1`, `1.2a` < `1.2.1`),
/// except that a pre-release suffix always sorts lower.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    Digits { text: &'a str, first: bool },
    Letter(u8),
    Suffix { rank: i8 },
    SuffixNumber(&'a str),
    Hash(&'a str),
    Revision(&'a str),
    End,
}

impl Token<'_> {
    fn kind(&self) -> u8 {
        match self {
            Token::Digits { .. } => 1,
            Token::Letter(_) => 2,
            Token::Suffix { .. } => 3,
            Token::SuffixNumber(_) => 4,
            Token::Hash(_) => 5,
            Token::Revision(_) => 6,
            Token::End => 7,
        }
    }

    fn is_prerelease(&self) -> bool {
        matches!(self, Token::Suffix { rank } if *rank < 0)
    }
}

/// Suffix ranks: pre-releases below zero (before the release itself).
fn suffix_rank(word: &str) -> Option<i8> {
    Some(match word {
        "alpha" => -4,
        "beta" => -3,
        "pre" => -2,
        "rc" => -1,
        "cvs" => 1,
        "svn" => 2,
        "git" => 3,
        "hg" => 4,
        "p" => 5,
        _ => return None,
    })
}

fn take_while(s: &str, pred: impl Fn(u8) -> bool) -> (&str, &str) {
    let end = s.bytes().position(|b| !pred(b)).unwrap_or(s.len());
    s.split_at(end)
}

/// Splits a version into tokens; `Err` names what is not an apk version.
fn tokenize(version: &str) -> Result<Vec<Token<'_>>, String> {
    let mut tokens = Vec::new();
    let (digits, mut rest) = take_while(version.trim(), |b| b.is_ascii_digit());
    if digits.is_empty() {
        return Err("must start with a digit".into());
    }
    tokens.push(Token::Digits {
        text: digits,
        first: true,
    });
    while let Some(after_dot) = rest.strip_prefix('.') {
        let (digits, after) = take_while(after_dot, |b| b.is_ascii_digit());
        if digits.is_empty() {
            return Err("a '.' must be followed by digits".into());
        }
        tokens.push(Token::Digits {
            text: digits,
            first: false,
        });
        rest = after;
    }
    if let Some(&letter) = rest.as_bytes().first()
        && letter.is_ascii_lowercase()
    {
        tokens.push(Token::Letter(letter));
        rest = &rest[1..];
    }
    while let Some(after) = rest.strip_prefix('_') {
        let (word, after_word) = take_while(after, |b| b.is_ascii_lowercase());
        let rank = suffix_rank(word).ok_or_else(|| format!("unknown suffix _{word}"))?;
        tokens.push(Token::Suffix { rank });
        let (number, after_number) = take_while(after_word, |b| b.is_ascii_digit());
        if !number.is_empty() {
            tokens.push(Token::SuffixNumber(number));
        }
        rest = after_number;
    }
    if let Some(after) = rest.strip_prefix('~') {
        let (hash, after_hash) = take_while(after, |b| b.is_ascii_hexdigit());
        if hash.is_empty() {
            return Err("'~' must be followed by a commit hash".into());
        }
        tokens.push(Token::Hash(hash));
        rest = after_hash;
    }
    if let Some(after) = rest.strip_prefix("-r") {
        let (number, after_number) = take_while(after, |b| b.is_ascii_digit());
        if number.is_empty() {
            return Err("'-r' must be followed by digits".into());
        }
        tokens.push(Token::Revision(number));
        rest = after_number;
    }
    if !rest.is_empty() {
        return Err(format!("unexpected {rest:?}"));
    }
    tokens.push(Token::End);
    Ok(tokens)
}

fn compare_same_kind(a: &Token<'_>, b: &Token<'_>) -> Ordering {
    match (a, b) {
        (Token::Digits { text: x, first: fx }, Token::Digits { text: y, first: fy }) => {
            // After the first component, a leading zero makes the number a
            // fraction (`1.02` < `1.1`), compared digit by digit.
            if !fx && !fy && (x.starts_with('0') || y.starts_with('0')) {
                x.cmp(y)
            } else {
                compare_digit_runs(x.as_bytes(), y.as_bytes())
            }
        }
        (Token::Letter(x), Token::Letter(y)) => x.cmp(y),
        (Token::Suffix { rank: x }, Token::Suffix { rank: y }) => x.cmp(y),
        (Token::SuffixNumber(x), Token::SuffixNumber(y))
        | (Token::Revision(x), Token::Revision(y)) => {
            compare_digit_runs(x.as_bytes(), y.as_bytes())
        }
        (Token::Hash(x), Token::Hash(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

pub fn compare(a: &str, b: &str) -> Result<Ordering, String> {
    let (ta, tb) = (tokenize(a)?, tokenize(b)?);
    for (x, y) in ta.iter().zip(&tb) {
        if x.kind() == y.kind() {
            let ord = compare_same_kind(x, y);
            if ord != Ordering::Equal {
                return Ok(ord);
            }
            continue;
        }
        if x.is_prerelease() {
            return Ok(Ordering::Less);
        }
        if y.is_prerelease() {
            return Ok(Ordering::Greater);
        }
        return Ok(y.kind().cmp(&x.kind()));
    }
    Ok(Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::compare;
    use std::cmp::Ordering::*;

    #[test]
    fn known_pairs() {
        for (a, b, want) in [
            ("1.2.3", "1.2.3", Equal),
            ("1.2", "1.2.1", Less),
            ("1.2a", "1.2.1", Less),
            ("1.2_rc1", "1.2", Less),
            ("1.2_alpha", "1.2_beta", Less),
            ("1.2_p1", "1.2", Greater),
            ("1.2_p1", "1.2.1", Less),
            ("1.2-r1", "1.2", Greater),
            ("1.2-r10", "1.2-r9", Greater),
            ("1.02", "1.1", Less),
            ("3.0.13-r0", "3.0.8-r0", Greater),
            ("1.36.1-r29", "1.36.1-r30", Less),
            ("2.4.58a", "2.4.58", Greater),
        ] {
            assert_eq!(compare(a, b), Ok(want), "{a} vs {b}");
            assert_eq!(compare(b, a), Ok(want.reverse()), "{b} vs {a}");
        }
        for bad in ["", "a1", "1.", "1_foo", "1-x"] {
            assert!(compare(bad, "1").is_err(), "{bad:?}");
        }
    }
}
