//! The difference between two scans of an image: what is new, what is gone,
//! what stayed, and which findings got a fix since.

use crate::model::Finding;
use serde::Serialize;
use std::collections::BTreeMap;

/// Identifies one finding across scans: the same vulnerability in the same
/// package at the same place. The installed version is left out on purpose:
/// an upgrade that is still vulnerable keeps the finding (and its age).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct FindingKey {
    pub id: String,
    pub package: String,
    pub ecosystem: String,
    pub path: String,
}

impl FindingKey {
    pub fn of(finding: &Finding) -> FindingKey {
        FindingKey {
            id: finding.id.to_string(),
            package: finding.package.to_string(),
            ecosystem: finding.ecosystem.to_string(),
            path: finding
                .location
                .as_ref()
                .map(|l| l.path.to_string())
                .unwrap_or_default(),
        }
    }
}

/// Findings sorted into what changed between an older and a newer scan.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScanDiff {
    /// In the newer scan only.
    pub new: Vec<Finding>,
    /// In the older scan only: fixed or otherwise gone.
    pub fixed: Vec<Finding>,
    /// In both (as the newer scan reports them).
    pub unchanged: Vec<Finding>,
    /// Among `unchanged`: no fix in the older scan, a fix in the newer.
    pub fix_available: Vec<Finding>,
}

/// Compares two scans' findings. Each output list is in a stable order
/// (by vulnerability ID, package, place).
pub fn diff(older: &[Finding], newer: &[Finding]) -> ScanDiff {
    let old_by_key: BTreeMap<FindingKey, &Finding> =
        older.iter().map(|f| (FindingKey::of(f), f)).collect();
    let new_by_key: BTreeMap<FindingKey, &Finding> =
        newer.iter().map(|f| (FindingKey::of(f), f)).collect();
    let mut out = ScanDiff::default();
    for (key, finding) in &new_by_key {
        match old_by_key.get(key) {
            None => out.new.push((*finding).clone()),
            Some(old) => {
                if !old.is_fixable() && finding.is_fixable() {
                    out.fix_available.push((*finding).clone());
                }
                out.unchanged.push((*finding).clone());
            }
        }
    }
    for (key, finding) in &old_by_key {
        if !new_by_key.contains_key(key) {
            out.fixed.push((*finding).clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Location, PackageKind, Severity, SeveritySource};

    fn finding(id: &str, package: &str, version: &str, fixed: Option<&str>) -> Finding {
        Finding {
            id: id.into(),
            aliases: vec![],
            package: package.into(),
            kind: PackageKind::Golang,
            ecosystem: "Go".into(),
            installed_version: version.into(),
            fixed_version: fixed.map(String::from),
            severity: Severity::High,
            severity_source: SeveritySource::None,
            cvss_score: None,
            cvss_vector: None,
            summary: None,
            published: None,
            location: Some(Location {
                layer: None,
                path: "app/bin".into(),
            }),
        }
    }

    fn ids(list: &[Finding]) -> Vec<&str> {
        list.iter().map(|f| f.id.as_str()).collect()
    }

    #[test]
    fn sorts_findings_into_new_fixed_and_unchanged() {
        let older = vec![
            finding("GO-1", "stdlib", "1.19.8", Some("1.19.9")),
            finding("GO-2", "stdlib", "1.19.8", None),
            finding("GO-3", "golang.org/x/net", "0.1.0", Some("0.7.0")),
        ];
        let newer = vec![
            finding("GO-2", "stdlib", "1.19.8", Some("1.21.0")),
            finding("GO-3", "golang.org/x/net", "0.1.0", Some("0.7.0")),
            finding("GO-4", "stdlib", "1.19.8", None),
        ];
        let d = diff(&older, &newer);
        assert_eq!(ids(&d.new), ["GO-4"]);
        assert_eq!(ids(&d.fixed), ["GO-1"]);
        assert_eq!(ids(&d.unchanged), ["GO-2", "GO-3"]);
        assert_eq!(ids(&d.fix_available), ["GO-2"]);
    }

    #[test]
    fn an_upgrade_that_stays_vulnerable_keeps_the_finding() {
        let older = vec![finding("GO-1", "stdlib", "1.19.8", Some("1.22.0"))];
        let newer = vec![finding("GO-1", "stdlib", "1.20.1", Some("1.22.0"))];
        let d = diff(&older, &newer);
        assert!(d.new.is_empty() && d.fixed.is_empty());
        assert_eq!(d.unchanged[0].installed_version, "1.20.1");
    }

    #[test]
    fn the_same_vulnerability_in_two_places_is_two_findings() {
        let mut elsewhere = finding("GO-1", "stdlib", "1.19.8", None);
        elsewhere.location = Some(Location {
            layer: None,
            path: "app/other".into(),
        });
        let older = vec![finding("GO-1", "stdlib", "1.19.8", None)];
        let newer = vec![finding("GO-1", "stdlib", "1.19.8", None), elsewhere];
        let d = diff(&older, &newer);
        assert_eq!(d.new.len(), 1);
        assert_eq!(
            d.new[0].location.as_ref().map(|l| l.path.as_str()),
            Some("app/other")
        );
    }
}
