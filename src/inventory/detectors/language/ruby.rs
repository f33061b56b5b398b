//! Ruby gems: `specifications/*.gemspec`, the Ruby source rubygems writes
//! for every installed gem (`s.name = "rake".freeze`,
//! `s.version = "13.0.6"`). Read as text, never evaluated: only the first
//! string literal assigned to `name` and `version` counts.

use super::common::package;
use crate::inventory::detectors::{DetectError, Detected, Detector, DetectorLimits, FileMeta};
use crate::inventory::purl::purl;
use crate::model::PackageKind;

pub struct RubyGemspec;

/// Largest gemspec read.
pub const MAX_GEMSPEC_BYTES: u64 = 1 << 20;

/// The string literal at the start of `expr`: `"x"`, `'x'`, `%q{x}`, also
/// inside `Gem::Version.new("x")`.
fn string_literal(expr: &str) -> Option<&str> {
    let expr = expr.trim();
    let expr = expr
        .strip_prefix("Gem::Version.new(")
        .map(str::trim_start)
        .unwrap_or(expr);
    if let Some(rest) = expr.strip_prefix("%q{") {
        return rest.split_once('}').map(|(s, _)| s);
    }
    let quote = expr.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &expr[1..];
    rest.split_once(quote).map(|(s, _)| s)
}

/// The value assigned to `ATTR` on the spec variable (`s.name = ...`).
fn attribute<'a>(text: &'a str, attr: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (lhs, rhs) = line.split_once('=')?;
        let (_, field) = lhs.trim().split_once('.')?;
        if field.trim() != attr || rhs.starts_with('=') {
            return None;
        }
        string_literal(rhs)
    })
}

impl Detector for RubyGemspec {
    fn name(&self) -> &'static str {
        "ruby"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.path.ends_with(".gemspec") && file.path.contains("specifications/")
    }

    fn size_limit(&self, limits: &DetectorLimits) -> Option<(&'static str, u64)> {
        Some(("maxGemspecBytes", limits.max_gemspec_bytes))
    }

    fn detect(&self, file: &FileMeta<'_>, data: &[u8]) -> Result<Detected, DetectError> {
        let text = String::from_utf8_lossy(data);
        let (Some(name), Some(version)) = (attribute(&text, "name"), attribute(&text, "version"))
        else {
            return Ok(Detected::Nothing);
        };
        if name.is_empty() || version.is_empty() {
            return Ok(Detected::Nothing);
        }
        let purl = purl("gem", None, name, version, &[]);
        Ok(Detected::Packages(vec![package(
            name,
            version,
            PackageKind::Gem,
            purl,
            file.path,
        )]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_forms() {
        assert_eq!(string_literal(" \"rake\".freeze"), Some("rake"));
        assert_eq!(string_literal(" 'rake'"), Some("rake"));
        assert_eq!(string_literal(" %q{rake}"), Some("rake"));
        assert_eq!(string_literal(" Gem::Version.new(\"1.2\")"), Some("1.2"));
        assert_eq!(string_literal(" \"unterminated"), None);
        assert_eq!(string_literal(""), None);
        assert_eq!(string_literal(" \u{e9}"), None);
    }

    #[test]
    fn comparisons_are_not_assignments() {
        let text = "if s.name == \"x\"\ns.name = \"y\"\ns.version = \"1\"";
        assert_eq!(attribute(text, "name"), Some("y"));
    }
}
