//! OSV `affected` evaluation, as the schema defines it: `ECOSYSTEM` and
//! `SEMVER` ranges of `introduced`, `fixed`, `last_affected` and `limit`
//! events, and explicit `versions` lists. `GIT` ranges are ignored.

use crate::version::{Prepared, VersionScheme, compare, compare_prepared, prepare};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    Introduced,
    Fixed,
    LastAffected,
    Limit,
}

/// One range's events, compact: their versions back to back in one string
/// and their kinds and ends inline, so that a range is one allocation.
/// Half a million records hold millions of events: one allocation per
/// event was most of a snapshot load, and a pointer chase per event much of
/// matching an inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactRange {
    /// Each event's kind and the end of its version in `text`.
    ends: SmallVec<[(EventKind, u32); 4]>,
    text: Box<str>,
    /// The events are in ascending order under the ecosystem's scheme and
    /// hold no version it cannot order ([`CompactRange::normalize`], done
    /// once at load); otherwise every check sorts a copy.
    pub normalized: bool,
}

impl CompactRange {
    /// A range as written in the record.
    pub fn new(events: Vec<(EventKind, Box<str>)>) -> CompactRange {
        Self::from_events(events.iter().map(|(kind, v)| (*kind, &**v)))
    }

    /// A range of `events`, in the order given.
    pub fn from_events<'a>(events: impl IntoIterator<Item = (EventKind, &'a str)>) -> CompactRange {
        let mut range = CompactRange {
            ends: SmallVec::new(),
            text: Box::from(""),
            normalized: false,
        };
        let mut text = String::new();
        for (kind, version) in events {
            push_event(&mut range.ends, &mut text, kind, version);
        }
        range.text = text.into_boxed_str();
        range
    }

    /// Adds an event at the end (the range is no longer normalized).
    pub fn push(&mut self, kind: EventKind, version: &str) {
        let mut text = std::mem::take(&mut self.text).into_string();
        push_event(&mut self.ends, &mut text, kind, version);
        self.text = text.into_boxed_str();
        self.normalized = false;
    }

    /// The events: kind and version.
    pub fn events(&self) -> impl Iterator<Item = (EventKind, &str)> + '_ {
        let kinds = self.ends.iter().map(|&(kind, _)| kind);
        kinds.zip(pieces(&self.text, self.ends.iter().map(|&(_, end)| end)))
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The last event as stored (the highest, once normalized).
    pub fn last_event(&self) -> Option<(EventKind, &str)> {
        let (kind, end) = *self.ends.last()?;
        let start = match self.ends.len() {
            0 | 1 => 0,
            n => self.ends[n - 2].1,
        };
        let version = self.text.get(start as usize..end as usize).unwrap_or("");
        Some((kind, version))
    }

    /// Drops the events `scheme` cannot order and sorts the rest, so that
    /// checks need one comparison per event and can stop early.
    pub fn normalize(&mut self, scheme: VersionScheme) {
        let events: Vec<(EventKind, &str)> = self.events().collect();
        let mut sorted = CompactRange::from_events(sorted_events(scheme, &events));
        sorted.normalized = true;
        *self = sorted;
    }
}

/// Appends one event (see [`append`]).
fn push_event(
    ends: &mut SmallVec<[(EventKind, u32); 4]>,
    text: &mut String,
    kind: EventKind,
    version: &str,
) {
    if let Some(end) = append(text, version) {
        ends.push((kind, end));
    }
}

/// Appends `piece` to packed `text` and returns where it ends; `None`, and
/// nothing appended, when that would take the text past 4 GiB (no record is
/// that large: the loader caps a record at megabytes).
fn append(text: &mut String, piece: &str) -> Option<u32> {
    let end = u32::try_from(text.len() + piece.len()).ok()?;
    text.push_str(piece);
    Some(end)
}

/// The pieces of packed `text`, each ending at the next of `ends`.
fn pieces<'a>(
    text: &'a str,
    ends: impl Iterator<Item = u32> + 'a,
) -> impl Iterator<Item = &'a str> + 'a {
    let mut start = 0;
    ends.map(move |end| {
        let end = end as usize;
        let piece = text.get(start..end).unwrap_or("");
        start = end;
        piece
    })
}

/// The events `scheme` can order, in order (stable).
fn sorted_events<'a>(
    scheme: VersionScheme,
    events: &[(EventKind, &'a str)],
) -> Vec<(EventKind, &'a str)> {
    let mut sorted: Vec<(EventKind, &str)> = events
        .iter()
        .filter(|(_, v)| event_cmp(scheme, v, v).is_some())
        .copied()
        .collect();
    merge_sort(&mut sorted, &|a, b| {
        event_cmp(scheme, a.1, b.1).unwrap_or(Ordering::Equal)
    });
    sorted
}

/// An entry's explicit `versions`, back to back in one string (packed as
/// a range's event versions are). PyPI's
/// advisories list hundreds each; one allocation per version made checking
/// an installed version against them a pointer chase per version.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VersionList {
    /// The end of each version in `text`.
    ends: Vec<u32>,
    text: Box<str>,
}

impl VersionList {
    /// The list of `versions` (see [`append`] for the one bound).
    pub fn from_versions<'a>(versions: impl IntoIterator<Item = &'a str>) -> VersionList {
        let mut ends = Vec::new();
        let mut text = String::new();
        for version in versions {
            ends.extend(append(&mut text, version));
        }
        VersionList {
            ends,
            text: text.into_boxed_str(),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        pieces(&self.text, self.ends.iter().copied())
    }

    pub fn contains(&self, version: &str) -> bool {
        self.iter().any(|v| v == version)
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }
}

/// A stable merge sort that never panics, whatever the comparison does.
/// `slice::sort_by` may panic when the ordering is not total, and some
/// real orderings are not on odd strings (Maven's own `ComparableVersion`,
/// PHP's `version_compare`): hostile advisory data must not crash a load.
fn merge_sort<T: Copy>(items: &mut [T], cmp: &dyn Fn(&T, &T) -> Ordering) {
    if items.len() < 2 {
        return;
    }
    let mid = items.len() / 2;
    merge_sort(&mut items[..mid], cmp);
    merge_sort(&mut items[mid..], cmp);
    let mut merged = Vec::with_capacity(items.len());
    let (mut i, mut j) = (0, mid);
    while i < mid && j < items.len() {
        if cmp(&items[j], &items[i]) == Ordering::Less {
            merged.push(items[j]);
            j += 1;
        } else {
            merged.push(items[i]);
            i += 1;
        }
    }
    merged.extend_from_slice(&items[i..mid]);
    merged.extend_from_slice(&items[j..]);
    items.copy_from_slice(&merged);
}

/// The result of checking one installed version against one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub affected: bool,
    /// The lowest `fixed` above the installed version in an affecting range.
    pub fixed: Option<String>,
}

/// Orders event versions, with `introduced: "0"` before everything.
pub(super) fn event_cmp(scheme: VersionScheme, a: &str, b: &str) -> Option<Ordering> {
    match (a == "0", b == "0") {
        (true, true) => Some(Ordering::Equal),
        (true, false) => Some(Ordering::Less),
        (false, true) => Some(Ordering::Greater),
        _ => compare(scheme, a, b).ok(),
    }
}

/// Whether the installed version falls in `range`; events whose version
/// cannot be ordered under the scheme are skipped (they cannot be placed).
/// Events are visited in order; once one is above the installed version
/// the verdict is settled, and only the fix (the first `fixed` above it)
/// remains to be found.
fn in_range(
    scheme: VersionScheme,
    range: &CompactRange,
    installed: &Prepared<'_>,
) -> (bool, Option<String>) {
    if range.normalized {
        if let Some(settled) = above_every_event(scheme, range.last_event(), installed) {
            return settled;
        }
        in_ordered_events(scheme, range.events(), installed)
    } else {
        let events: Vec<(EventKind, &str)> = range.events().collect();
        let sorted = sorted_events(scheme, &events);
        if let Some(settled) = above_every_event(scheme, sorted.last().copied(), installed) {
            return settled;
        }
        in_ordered_events(scheme, sorted.into_iter(), installed)
    }
}

/// The verdict when the installed version is above the range's highest
/// event (`last` of the ordered events): the kind of that event alone
/// decides, so one comparison replaces the walk. That is the common case
/// (most installed packages are past every fix of their advisories).
/// Only under total orders: where the order is not transitive on odd
/// strings (Maven's, PHP's), being above the last event does not put the
/// version above the others, and the walk decides.
fn above_every_event(
    scheme: VersionScheme,
    last: Option<(EventKind, &str)>,
    installed: &Prepared<'_>,
) -> Option<(bool, Option<String>)> {
    if !scheme.is_total_order() {
        return None;
    }
    let (kind, at) = last?;
    is_above(scheme, installed, at).then_some((kind == EventKind::Introduced, None))
}

/// Whether the installed version is above the event version `at` (every
/// version is above `"0"`, the beginning).
pub(super) fn is_above(scheme: VersionScheme, installed: &Prepared<'_>, at: &str) -> bool {
    at == "0" || compare_prepared(scheme, installed, at) == Ok(Ordering::Greater)
}

/// [`in_range`] over events already in order (no allocation: this runs
/// for every range of every record of every installed package).
fn in_ordered_events<'e>(
    scheme: VersionScheme,
    mut events: impl Iterator<Item = (EventKind, &'e str)>,
    installed: &Prepared<'_>,
) -> (bool, Option<String>) {
    let mut affected = false;
    while let Some((kind, at)) = events.next() {
        let order = if at == "0" {
            Some(Ordering::Greater)
        } else {
            compare_prepared(scheme, installed, at).ok()
        };
        let Some(order) = order else { continue };
        if order == Ordering::Less {
            // Every later event is above the installed version too.
            if !affected {
                return (false, None);
            }
            // The first `fixed` that is itself above the installed version:
            // under an ordering that is not transitive on odd strings
            // (Maven's, PHP's), a later event is not always above it, and
            // a "fix" below the installed version would mislead.
            let fixed = std::iter::once((kind, at))
                .chain(events)
                .find(|&(k, v)| {
                    k == EventKind::Fixed
                        && compare_prepared(scheme, installed, v) == Ok(Ordering::Less)
                })
                .map(|(_, v)| v.to_string());
            return (true, fixed);
        }
        match kind {
            EventKind::Introduced => affected = true,
            EventKind::Fixed | EventKind::Limit => affected = false,
            EventKind::LastAffected if order == Ordering::Greater => affected = false,
            EventKind::LastAffected => {}
        }
    }
    (affected, None)
}

/// Checks `version` against one `affected` entry's ranges and versions.
pub fn check(
    scheme: VersionScheme,
    ranges: &[CompactRange],
    versions: &VersionList,
    version: &str,
) -> Verdict {
    check_prepared(
        scheme,
        ranges,
        versions,
        version,
        prepare(scheme, version).ok().as_ref(),
    )
}

/// [`check`] with the installed version already prepared (`None` when the
/// scheme cannot parse it: then only an explicit `versions` list can match).
pub fn check_prepared(
    scheme: VersionScheme,
    ranges: &[CompactRange],
    versions: &VersionList,
    version: &str,
    installed: Option<&Prepared<'_>>,
) -> Verdict {
    let mut verdict = Verdict {
        affected: versions.contains(version),
        fixed: None,
    };
    let Some(installed) = installed else {
        return verdict;
    };
    for range in ranges {
        let (affected, fixed) = in_range(scheme, range, installed);
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
        CompactRange::new(events.iter().map(|(k, v)| (*k, (*v).into())).collect())
    }

    /// Checks as written and as normalized at load: both must agree.
    fn at(ranges: &[CompactRange], v: &str) -> (bool, Option<String>) {
        let verdict = check(VersionScheme::Dpkg, ranges, &VersionList::default(), v);
        let mut normalized = ranges.to_vec();
        for range in &mut normalized {
            range.normalize(VersionScheme::Dpkg);
        }
        let again = check(VersionScheme::Dpkg, &normalized, &VersionList::default(), v);
        assert_eq!(verdict, again, "normalized ranges disagree at {v}");
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
        let listed = check(
            VersionScheme::Dpkg,
            &[],
            &VersionList::from_versions(["1.2.0", "1.2.3"]),
            "1.2.3",
        );
        assert!(listed.affected && listed.fixed.is_none());
    }

    #[test]
    fn unsorted_events_and_a_fix_past_a_later_introduction() {
        let r = [range(&[
            (Fixed, "3.0"),
            (Introduced, "2.0"),
            (Introduced, "0"),
        ])];
        assert_eq!(at(&r, "1.0"), (true, Some("3.0".into())));
        assert_eq!(at(&r, "2.5"), (true, Some("3.0".into())));
        assert_eq!(at(&r, "3.0"), (false, None));
        let semver = [CompactRange::new(vec![
            (Introduced, "1.0.0".into()),
            (Fixed, "not a version".into()),
            (Fixed, "1.2.0".into()),
        ])];
        let v = check(
            VersionScheme::Npm,
            &semver,
            &VersionList::default(),
            "1.1.0",
        );
        assert_eq!((v.affected, v.fixed.as_deref()), (true, Some("1.2.0")));
        let bad = check(
            VersionScheme::Npm,
            &semver,
            &VersionList::from_versions(["junk"]),
            "junk",
        );
        assert!(
            bad.affected && bad.fixed.is_none(),
            "only the versions list can match junk"
        );
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
