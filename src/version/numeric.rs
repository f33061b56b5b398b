//! Comparing runs of ASCII digits as numbers of any length (no overflow).

use std::cmp::Ordering;

/// Compares two digit runs numerically: leading zeros are ignored, then the
/// longer number is larger, then the digits decide. Empty counts as zero.
pub fn compare_digit_runs(a: &[u8], b: &[u8]) -> Ordering {
    let a = trim_zeros(a);
    let b = trim_zeros(b);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let first = digits
        .iter()
        .position(|&d| d != b'0')
        .unwrap_or(digits.len());
    &digits[first..]
}
