//! A record's severity, in order of trust: its own CVSS vectors, the
//! `database_specific.severity` of GitHub advisories, a distribution's
//! priority (Ubuntu severity, Debian urgency); later, records with none
//! borrow it from loaded records that share a CVE (see `index`).

use super::osv::{Record, SeverityEntry};
use crate::model::{ArcStr, Severity, SeveritySource};

/// What a record says of its own severity.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rated {
    pub severity: Severity,
    pub source: SeveritySource,
    pub score: Option<f64>,
    pub vector: Option<String>,
}

fn from_cvss(severity: cvss::Severity) -> Severity {
    match severity {
        cvss::Severity::None => Severity::Unknown,
        cvss::Severity::Low => Severity::Low,
        cvss::Severity::Medium => Severity::Medium,
        cvss::Severity::High => Severity::High,
        cvss::Severity::Critical => Severity::Critical,
    }
}

/// Scores one CVSS vector; `None` if it does not parse.
pub fn score_vector(kind: &str, vector: &str) -> Option<Rated> {
    let (score, severity, version) = match kind {
        "CVSS_V3" => {
            let v: cvss::v3::Vector = vector.parse().ok()?;
            let score = v.score();
            (score.value(), from_cvss(score.severity()), "3")
        }
        "CVSS_V4" => {
            let v: cvss::v4::Vector = vector.parse().ok()?;
            let score = v.score();
            (score.clone().value(), from_cvss(score.severity()), "4.0")
        }
        "CVSS_V2" => {
            let v: cvss::v2::Vector = vector.parse().ok()?;
            let score = v.score();
            (score.value(), from_cvss(score.severity()), "2.0")
        }
        _ => return None,
    };
    let version = if version == "3" {
        vector
            .strip_prefix("CVSS:")
            .and_then(|v| v.split('/').next())
            .unwrap_or("3")
    } else {
        version
    };
    Some(Rated {
        severity,
        source: SeveritySource::Cvss {
            version: cvss_version(version),
        },
        score: Some(score),
        vector: Some(vector.to_string()),
    })
}

/// The CVSS version as a shared string: the few real ones are static, so
/// half a million records do not each hold a copy of `3.1`.
fn cvss_version(version: &str) -> ArcStr {
    match version {
        "2.0" => arcstr::literal!("2.0"),
        "3.0" => arcstr::literal!("3.0"),
        "3.1" => arcstr::literal!("3.1"),
        "4.0" => arcstr::literal!("4.0"),
        other => ArcStr::from(other),
    }
}

/// Preference among vector kinds: v3 is what most data and policies are
/// written against, then v4, then v2.
fn kind_rank(kind: &str) -> u8 {
    match kind {
        "CVSS_V3" => 0,
        "CVSS_V4" => 1,
        "CVSS_V2" => 2,
        _ => 3,
    }
}

fn best_vector<'a, 'r: 'a>(entries: impl Iterator<Item = &'a SeverityEntry<'r>>) -> Option<Rated> {
    let mut entries: Vec<&SeverityEntry> = entries.collect();
    entries.sort_by_key(|e| kind_rank(&e.kind));
    entries
        .into_iter()
        .find_map(|e| score_vector(&e.kind, &e.score))
}

/// A distribution's or GitHub's word for a severity.
pub fn from_label(label: &str) -> Option<Severity> {
    Some(match label.trim().to_ascii_lowercase().as_str() {
        "critical" => Severity::Critical,
        "high" | "important" => Severity::High,
        "medium" | "moderate" => Severity::Medium,
        "low" | "negligible" | "unimportant" => Severity::Low,
        _ => return None,
    })
}

/// The severity a record gives itself, or `Unknown` with source `None`.
pub fn rate(record: &Record<'_>) -> Rated {
    let own = record
        .severity
        .iter()
        .chain(record.affected.iter().flat_map(|a| a.severity.iter()));
    if let Some(rated) = best_vector(own) {
        return rated;
    }
    if let Some(severity) = record.database_severity.as_deref().and_then(from_label) {
        return Rated {
            severity,
            source: SeveritySource::DatabaseSpecific,
            ..Rated::default()
        };
    }
    if let Some(entry) = record.severity.iter().find(|e| &*e.kind == "Ubuntu")
        && let Some(severity) = from_label(&entry.score)
    {
        return Rated {
            severity,
            source: SeveritySource::Distro {
                name: arcstr::literal!("Ubuntu"),
            },
            ..Rated::default()
        };
    }
    let urgency = record
        .affected
        .iter()
        .find_map(|a| a.urgency.as_deref().and_then(from_label));
    if let Some(severity) = urgency {
        return Rated {
            severity,
            source: SeveritySource::Distro {
                name: arcstr::literal!("Debian"),
            },
            ..Rated::default()
        };
    }
    Rated::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_scored() {
        let r = score_vector("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").unwrap();
        assert_eq!((r.severity, r.score), (Severity::Critical, Some(9.8)));
        assert_eq!(
            r.source,
            SeveritySource::Cvss {
                version: "3.1".into()
            }
        );
        let r = score_vector("CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P/A:P").unwrap();
        assert_eq!((r.severity, r.score), (Severity::High, Some(7.5)));
        let r = score_vector(
            "CVSS_V4",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        )
        .unwrap();
        assert_eq!(r.severity, Severity::Critical);
        assert!(score_vector("CVSS_V3", "nonsense").is_none());
        assert!(score_vector("CVSS_V9", "CVSS:9/…").is_none());
    }
}
