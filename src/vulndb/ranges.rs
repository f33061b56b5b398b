//! OSV `affected` evaluation, as the schema defines it: `ECOSYSTEM` and
//! `SEMVER` ranges of `introduced`, `fixed`, `last_affected` and `limit`
//! events, and explicit `versions` lists. `GIT` ranges are ignored.

use crate::version::{VersionScheme, compare};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    Introduced,
    Fixed,
    LastAffected,
    Limit,
}

/// One range's events, compact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactRange {
    pub events: Vec<(EventKind, Box<str>)>,
}

/// The result of checking one installed version against one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub affected: bool,
    /// The lowest `fixed` above the installed version in an affecting range.
    pub fixed: Option<String>,
}

/// Orders event versions, with `introduced: "0"` before everything.
fn event_cmp(scheme: VersionScheme, a: &str, b: &str) -> Option<Ordering> {
    match (a == "0", b == "0") {
        (true, true) => Some(Ordering::Equal),
        (true, false) => Some(Ordering::Less),
        (false, true) => Some(Ordering::Greater),
        _ => compare(scheme, a, b).ok(),
    }
}

/// Whether `version` falls in `range`; events whose version cannot be
/// ordered under the scheme are skipped (they cannot be placed).
///
/// The schema's algorithm sorts the events and walks them: the last event at
/// or below `version` decides (introduced: affected; fixed, limit: not; a
/// last_affected below it: not), and the fix to report is the lowest `fixed`
/// above it. That is computed here with one pass and no sort: a sort with an
/// ordering that is not total (Maven's own `ComparableVersion` is not, on odd
/// strings) may panic, and hostile advisory data must not crash the scanner.
/// Ties go as a stable sort would put them: the later event decides, the
/// earlier fix is reported.
fn in_range(scheme: VersionScheme, range: &CompactRange, version: &str) -> (bool, Option<String>) {
    let mut decider: Option<&(EventKind, Box<str>)> = None;
    let mut fixed_above: Option<&str> = None;
    for event in &range.events {
        let (kind, at) = event;
        if event_cmp(scheme, at, at).is_none() {
            continue;
        }
        let order = if &**at == "0" {
            Some(Ordering::Greater)
        } else {
            compare(scheme, version, at).ok()
        };
        let Some(order) = order else { continue };
        let decides = match kind {
            EventKind::Introduced | EventKind::Fixed | EventKind::Limit => order != Ordering::Less,
            EventKind::LastAffected => order == Ordering::Greater,
        };
        if decides
            && decider.is_none_or(|(_, last)| {
                event_cmp(scheme, at, last).is_some_and(|o| o != Ordering::Less)
            })
        {
            decider = Some(event);
        }
        if *kind == EventKind::Fixed
            && order == Ordering::Less
            && fixed_above.is_none_or(|lowest| {
                event_cmp(scheme, at, lowest).is_some_and(|o| o == Ordering::Less)
            })
        {
            fixed_above = Some(at);
        }
    }
    let affected = matches!(decider, Some((EventKind::Introduced, _)));
    (
        affected,
        fixed_above.filter(|_| affected).map(str::to_string),
    )
}

/// Checks `version` against one `affected` entry's ranges and versions.
pub fn check(
    scheme: VersionScheme,
    ranges: &[CompactRange],
    versions: &[Box<str>],
    version: &str,
) -> Verdict {
    let mut verdict = Verdict {
        affected: versions.iter().any(|v| &**v == version),
        fixed: None,
    };
    for range in ranges {
        let (affected, fixed) = in_range(scheme, range, version);
        if affected {
            verdict.affected = true;
            let lower = match (&verdict.fixed, &fixed) {
                (Some(current), Some(new)) => {
                    compare(scheme, new, current).is_ok_and(|o| o == Ordering::Less)
                }
                (None, Some(_)) => true,
                _ => false,
            };
            if lower {
                verdict.fixed = fixed;
            }
        }
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventKind::*;

    fn range(events: &[(EventKind, &str)]) -> CompactRange {
        CompactRange {
            events: events.iter().map(|(k, v)| (*k, (*v).into())).collect(),
        }
    }

    fn at(ranges: &[CompactRange], v: &str) -> (bool, Option<String>) {
        let verdict = check(VersionScheme::Dpkg, ranges, &[], v);
        (verdict.affected, verdict.fixed)
    }

    #[test]
    fn introduced_and_fixed_bounds() {
        let r = [range(&[(Introduced, "1.0"), (Fixed, "1.5")])];
        assert_eq!(at(&r, "0.9"), (false, None));
        assert_eq!(
            at(&r, "1.0"),
            (true, Some("1.5".into())),
            "introduced is inclusive"
        );
        assert_eq!(at(&r, "1.4~rc1"), (true, Some("1.5".into())));
        assert_eq!(at(&r, "1.5"), (false, None), "fixed is exclusive");
        assert_eq!(
            at(&r, "1.5~rc1"),
            (true, Some("1.5".into())),
            "a tilde sorts before"
        );
    }

    #[test]
    fn last_affected_is_inclusive_and_means_no_fix() {
        let r = [range(&[(Introduced, "0"), (LastAffected, "2.0")])];
        assert_eq!(at(&r, "0.1"), (true, None));
        assert_eq!(at(&r, "2.0"), (true, None));
        assert_eq!(at(&r, "2.0.1"), (false, None));
    }

    #[test]
    fn several_introduced_fixed_pairs_and_limits() {
        let r = [range(&[
            (Introduced, "1.0"),
            (Fixed, "1.2"),
            (Introduced, "2.0"),
            (Fixed, "2.3"),
        ])];
        assert_eq!(at(&r, "1.1"), (true, Some("1.2".into())));
        assert_eq!(at(&r, "1.5"), (false, None));
        assert_eq!(at(&r, "2.1"), (true, Some("2.3".into())));
        let limited = [range(&[(Introduced, "0"), (Limit, "3.0")])];
        assert_eq!(at(&limited, "2.9"), (true, None));
        assert_eq!(at(&limited, "3.0"), (false, None));
    }

    #[test]
    fn epochs_and_explicit_versions() {
        let r = [range(&[(Introduced, "0"), (Fixed, "1:1.0")])];
        assert_eq!(
            at(&r, "9.9"),
            (true, Some("1:1.0".into())),
            "no epoch is epoch 0"
        );
        assert_eq!(at(&r, "1:0.9"), (true, Some("1:1.0".into())));
        assert_eq!(at(&r, "1:1.0"), (false, None));
        let listed = check(VersionScheme::Dpkg, &[], &["1.2.3".into()], "1.2.3");
        assert!(listed.affected && listed.fixed.is_none());
    }

    #[test]
    fn the_lowest_fix_across_ranges_wins() {
        let r = [
            range(&[(Introduced, "0"), (Fixed, "3.0")]),
            range(&[(Introduced, "0"), (Fixed, "2.5")]),
        ];
        assert_eq!(at(&r, "2.0"), (true, Some("2.5".into())));
    }
}
