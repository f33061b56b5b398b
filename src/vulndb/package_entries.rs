//! Every advisory entry of one package in one ecosystem, with a ceiling
//! that lets a match skip most of them.
//!
//! Most installed packages are past every fix of their advisories (a
//! maintained image has a few vulnerable packages among hundreds with a
//! long CVE history). An entry whose every range ends in `fixed`,
//! `last_affected` or `limit` cannot affect a version above its highest
//! event, so one comparison with the highest event of all such entries
//! (the ceiling) settles them together; only the open entries (a range
//! still open at its top, an explicit `versions` list) are checked one by
//! one. Under orders that are not total on every string (Maven's, PHP's)
//! being above the ceiling says nothing about the other events, and every
//! entry is checked.

use super::AffectedEntry;
use super::ranges::{EventKind, event_cmp, is_above};
use crate::version::{Prepared, VersionScheme};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// One package's entries, in the order their records were loaded.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PackageEntries {
    entries: Vec<AffectedEntry>,
    /// The highest event version of the closed entries; `None` when there
    /// is no shortcut (see the module documentation).
    ceiling: Option<Box<str>>,
    /// Positions in `entries` of the entries a version above the ceiling
    /// must still be checked against, ascending.
    open: Box<[u32]>,
}

impl PackageEntries {
    pub fn push(&mut self, entry: AffectedEntry) {
        self.entries.push(entry);
        // Stale until `summarize`: no shortcut in the meantime.
        self.ceiling = None;
    }

    pub fn entries(&self) -> &[AffectedEntry] {
        &self.entries
    }

    /// Computes the ceiling under `scheme` (the ecosystem's; `None`: no
    /// ordering, no shortcut). Done once at load, after the last `push`.
    pub fn summarize(&mut self, scheme: Option<VersionScheme>) {
        self.ceiling = None;
        self.open = Box::default();
        let Some(scheme) = scheme.filter(|s| s.is_total_order()) else {
            return;
        };
        let mut ceiling: Option<&str> = None;
        let mut open = Vec::new();
        for (position, entry) in self.entries.iter().enumerate() {
            if is_open(entry) {
                open.push(u32::try_from(position).unwrap_or(u32::MAX));
                continue;
            }
            for (_, version) in entry.ranges.iter().filter_map(|r| r.last_event()) {
                // Normalized ranges hold only versions the scheme orders.
                let higher = |c| event_cmp(scheme, version, c) == Some(Ordering::Greater);
                if ceiling.is_none_or(higher) {
                    ceiling = Some(version);
                }
            }
        }
        if open.len() < self.entries.len() {
            self.ceiling = ceiling.map(Box::from);
            self.open = open.into_boxed_slice();
        }
    }

    /// The entries that can affect `installed` (prepared under `scheme`):
    /// the open ones alone when it is above the ceiling, else all.
    pub fn candidates<'a>(
        &'a self,
        scheme: VersionScheme,
        installed: Option<&Prepared<'_>>,
    ) -> Candidates<'a> {
        let above = match (&self.ceiling, installed) {
            (Some(ceiling), Some(installed)) => is_above(scheme, installed, ceiling),
            _ => false,
        };
        if above {
            Candidates::Open {
                entries: &self.entries,
                open: self.open.iter(),
            }
        } else {
            Candidates::All(self.entries.iter())
        }
    }

    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
    }
}

/// Whether a version above every event of `entry` may still be affected by
/// it: an explicit `versions` list, a range whose highest event opens it,
/// or a range not in order (its highest event is not known).
fn is_open(entry: &AffectedEntry) -> bool {
    !entry.versions.is_empty()
        || entry.ranges.iter().any(|range| {
            !range.normalized
                || range
                    .last_event()
                    .is_some_and(|(kind, _)| kind == EventKind::Introduced)
        })
}

/// The entries of a package worth checking; see [`PackageEntries::candidates`].
pub enum Candidates<'a> {
    All(std::slice::Iter<'a, AffectedEntry>),
    Open {
        entries: &'a [AffectedEntry],
        open: std::slice::Iter<'a, u32>,
    },
}

impl<'a> Iterator for Candidates<'a> {
    type Item = &'a AffectedEntry;

    fn next(&mut self) -> Option<&'a AffectedEntry> {
        match self {
            Candidates::All(entries) => entries.next(),
            Candidates::Open { entries, open } => {
                open.find_map(|&position| entries.get(position as usize))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::prepare;
    use crate::vulndb::ranges::{CompactRange, VersionList, check_prepared};

    fn entry(record: u32, events: &[(EventKind, &str)], versions: &[&str]) -> AffectedEntry {
        let mut range = CompactRange::from_events(events.iter().copied());
        range.normalize(VersionScheme::Dpkg);
        AffectedEntry {
            record,
            ranges: [range].into_iter().collect(),
            versions: VersionList::from_versions(versions.iter().copied()),
        }
    }

    fn package() -> PackageEntries {
        use EventKind::*;
        let mut p = PackageEntries::default();
        p.push(entry(0, &[(Introduced, "0"), (Fixed, "1.2-1")], &[]));
        p.push(entry(1, &[(Introduced, "0")], &[])); // never fixed: open
        p.push(entry(
            2,
            &[(Introduced, "1.0"), (LastAffected, "2.0-3")],
            &[],
        ));
        p.push(entry(3, &[(Introduced, "0"), (Fixed, "1:0.5")], &[])); // epoch: the ceiling
        p.push(entry(4, &[], &["9.9-1"])); // a versions list: open
        p.push(entry(5, &[(Introduced, "2.0"), (Limit, "3.0")], &[]));
        p.summarize(Some(VersionScheme::Dpkg));
        p
    }

    fn records(p: &PackageEntries, version: &str) -> Vec<u32> {
        let installed = prepare(VersionScheme::Dpkg, version).ok();
        p.candidates(VersionScheme::Dpkg, installed.as_ref())
            .map(|e| e.record)
            .collect()
    }

    #[test]
    fn above_the_ceiling_only_open_entries_are_candidates() {
        let p = package();
        assert_eq!(p.ceiling.as_deref(), Some("1:0.5"));
        assert_eq!(records(&p, "1:0.6"), [1, 4]);
        assert_eq!(
            records(&p, "1:0.5"),
            [0, 1, 2, 3, 4, 5],
            "equal is not above"
        );
        assert_eq!(records(&p, "2.5"), [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn skipping_never_changes_a_verdict() {
        let p = package();
        for version in [
            "0.1", "1.2-1", "2.0-3", "2.0-4", "3.0", "1:0.5", "1:0.5-1", "9.9-1",
        ] {
            let installed = prepare(VersionScheme::Dpkg, version).ok();
            let affected = |entries: &mut dyn Iterator<Item = &AffectedEntry>| -> Vec<u32> {
                entries
                    .filter(|e| {
                        check_prepared(
                            VersionScheme::Dpkg,
                            &e.ranges,
                            &e.versions,
                            version,
                            installed.as_ref(),
                        )
                        .affected
                    })
                    .map(|e| e.record)
                    .collect()
            };
            let all = affected(&mut p.entries().iter());
            let skipped = affected(&mut p.candidates(VersionScheme::Dpkg, installed.as_ref()));
            assert_eq!(all, skipped, "at {version}");
        }
    }

    #[test]
    fn no_shortcut_without_a_total_order_or_a_summary() {
        let mut p = package();
        p.summarize(Some(VersionScheme::Maven));
        assert_eq!(records(&p, "1:0.6").len(), 6);
        p.summarize(None);
        assert_eq!(records(&p, "1:0.6").len(), 6);
        let mut p = package();
        p.push(entry(6, &[(EventKind::Fixed, "5.0")], &[]));
        assert_eq!(records(&p, "1:0.6").len(), 7, "stale after a push");
    }
}
