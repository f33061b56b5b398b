//! NuGet ordering, as NuGet.Versioning's `NuGetVersion.Parse` and
//! `VersionComparer.Default` define it (NuGet/NuGet.Client,
//! `src/NuGet.Core/NuGet.Versioning`):
//!
//! - `MAJOR[.MINOR[.PATCH[.REVISION]]]` (a lone `MAJOR` gets `.0`), each a
//!   non-negative 32-bit number, leading zeros and surrounding whitespace
//!   allowed (`System.Version` rules); a missing part is zero, so
//!   `1.0` = `1.0.0.0` and `1.0.01` = `1.0.1`;
//! - `-LABEL.LABEL…`: each label non-empty `[0-9A-Za-z-]`, a numeric label
//!   without leading zeros; a version with labels sorts below the one
//!   without; labels compare left to right, numeric ones (what .NET's
//!   `int.TryParse` accepts: `-?digits` within 32 bits) as numbers and
//!   below the others, the others case-insensitively (`1.0.0-BETA` =
//!   `1.0.0-beta`); more labels sort above a prefix;
//! - `+METADATA` is validated and then ignored.

use std::cmp::Ordering;

/// A parsed NuGet version; `Ord` is `VersionComparer.Default`.
#[derive(Debug, Clone)]
pub struct NuGetVersion {
    /// Major, minor, patch (`Build`), revision.
    numbers: [u32; 4],
    labels: Vec<Label>,
}

#[derive(Debug, Clone)]
enum Label {
    Numeric(i32),
    /// Uppercased, as `StringComparer.OrdinalIgnoreCase` compares.
    Text(Vec<u8>),
}

impl Label {
    fn new(text: &str) -> Label {
        match text.parse::<i32>() {
            // `int.TryParse` takes a leading `-`, never a `+` here (`+` starts the metadata).
            Ok(n) if !text.starts_with('+') => Label::Numeric(n),
            _ => Label::Text(text.bytes().map(|b| b.to_ascii_uppercase()).collect()),
        }
    }
}

fn compare_labels(a: &Label, b: &Label) -> Ordering {
    match (a, b) {
        (Label::Numeric(x), Label::Numeric(y)) => x.cmp(y),
        (Label::Numeric(_), Label::Text(_)) => Ordering::Less,
        (Label::Text(_), Label::Numeric(_)) => Ordering::Greater,
        (Label::Text(x), Label::Text(y)) => x.cmp(y),
    }
}

/// `.NET` `NumberStyles.Integer` white space.
fn is_dotnet_space(c: char) -> bool {
    matches!(c, '\u{9}'..='\u{d}' | ' ')
}

/// One `System.Version` component: optional white space around ASCII
/// digits, at most `int.MaxValue`.
fn version_component(text: &str) -> Option<u32> {
    let digits = text.trim_matches(is_dotnet_space);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u64 = digits.bytes().try_fold(0u64, |acc, d| {
        let next = acc * 10 + u64::from(d - b'0');
        (next <= i32::MAX as u64).then_some(next)
    })?;
    u32::try_from(value).ok()
}

/// `SemanticVersion.IsValidPart`.
fn is_valid_part(part: &str, allow_leading_zeros: bool) -> bool {
    if part.is_empty() {
        return false;
    }
    let bytes = part.as_bytes();
    if !allow_leading_zeros
        && bytes.len() > 1
        && bytes[0] == b'0'
        && bytes[1..].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
}

/// `SemanticVersion.ParseSections`, quirks included: the version part ends
/// at the first `-` or `+`, the labels at the next `+`; a separator that is
/// the last character stays inside the part before it (so `1.0-` and
/// `1.0-a+` are invalid).
fn sections(value: &str) -> (Option<&str>, Option<&str>, Option<&str>) {
    let (mut version, mut labels, mut metadata) = (None, None, None);
    let mut dash: Option<usize> = None;
    let mut plus: Option<usize> = None;
    let mut chars = value.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let end = chars.peek().is_none();
        let end_pos = if end { i + c.len_utf8() } else { i };
        match (dash, plus) {
            (None, _) => {
                if end || c == '-' || c == '+' {
                    version = Some(&value[..end_pos]);
                    dash = Some(i);
                    if c == '+' {
                        plus = Some(i);
                    }
                }
            }
            (Some(d), None) => {
                if end || c == '+' {
                    labels = Some(&value[d + 1..end_pos]);
                    plus = Some(i);
                }
            }
            (Some(_), Some(p)) => {
                if end {
                    metadata = Some(&value[p + 1..end_pos]);
                }
            }
        }
    }
    (version, labels, metadata)
}

impl NuGetVersion {
    /// `NuGetVersion.TryParse`.
    pub fn parse(text: &str) -> Result<NuGetVersion, String> {
        let value = text.trim();
        let (version, labels, metadata) = sections(value);
        let version = version
            .filter(|v| !v.is_empty())
            .ok_or_else(|| "no version number".to_string())?;
        let mut parts: Vec<&str> = version.split('.').collect();
        if parts.len() == 1 {
            parts.push("0");
        }
        if parts.len() > 4 {
            return Err(format!("{version:?} has more than four parts"));
        }
        let mut numbers = [0u32; 4];
        for (slot, part) in numbers.iter_mut().zip(&parts) {
            *slot = version_component(part)
                .ok_or_else(|| format!("{part:?} is not a number from 0 to 2147483647"))?;
        }
        let labels = match labels {
            None => Vec::new(),
            Some(labels) => {
                let parts: Vec<&str> = labels.split('.').collect();
                if let Some(bad) = parts.iter().find(|p| !is_valid_part(p, false)) {
                    return Err(format!(
                        "release label {bad:?} is not [0-9A-Za-z-]+ without leading zeros"
                    ));
                }
                parts.into_iter().map(Label::new).collect()
            }
        };
        if let Some(metadata) = metadata
            && !metadata.split('.').all(|p| is_valid_part(p, true))
        {
            return Err(format!(
                "build metadata {metadata:?} is not dot-separated [0-9A-Za-z-]+"
            ));
        }
        Ok(NuGetVersion { numbers, labels })
    }
}

impl Ord for NuGetVersion {
    fn cmp(&self, other: &NuGetVersion) -> Ordering {
        self.numbers.cmp(&other.numbers).then_with(|| {
            match (self.labels.is_empty(), other.labels.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.labels.iter().zip(&other.labels) {
                        let order = compare_labels(a, b);
                        if order != Ordering::Equal {
                            return order;
                        }
                    }
                    self.labels.len().cmp(&other.labels.len())
                }
            }
        })
    }
}

impl PartialOrd for NuGetVersion {
    fn partial_cmp(&self, other: &NuGetVersion) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for NuGetVersion {
    fn eq(&self, other: &NuGetVersion) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for NuGetVersion {}

#[cfg(test)]
mod tests {
    use super::NuGetVersion;

    fn v(s: &str) -> NuGetVersion {
        NuGetVersion::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn parts_default_to_zero_and_metadata_is_ignored() {
        assert_eq!(v("1"), v("1.0.0.0"));
        assert_eq!(v(" 1.0.01 "), v("1.0.1"));
        assert_eq!(v("1.0.0+build.5"), v("1.0.0"));
        assert!(v("1.0.0.1") > v("1.0.0"));
        assert!(v("1.0.0-rc.1") < v("1.0.0"));
        assert!(v("1.0.0-2") < v("1.0.0-10"));
        assert!(v("1.0.0-10") < v("1.0.0-a"));
        assert!(
            v("1.0.0-2147483648") > v("1.0.0-9"),
            "too large for int: a string"
        );
    }

    #[test]
    fn what_nuget_refuses() {
        for bad in [
            "",
            "-1.0",
            "1.0-",
            "1.0+",
            "1.0-a+",
            "1.0-+a",
            "1.0-01",
            "1.0+a..b",
            "1.2.3.4.5",
            "2147483648.0",
            "1.0-ä",
            "1 .0x",
        ] {
            assert!(NuGetVersion::parse(bad).is_err(), "{bad:?}");
        }
    }
}
