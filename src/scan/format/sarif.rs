//! SARIF 2.1.0 for code-scanning UIs: one rule per vulnerability, one
//! result per finding, located at the file the package was found in.

use super::ScanDocument;
use crate::model::{Finding, Severity};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// SARIF `level` of a severity.
fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Unknown => "note",
    }
}

/// GitHub code scanning reads `security-severity` as a 0–10 score.
fn security_severity(finding: &Finding) -> String {
    let score = finding.cvss_score.unwrap_or(match finding.severity {
        Severity::Critical => 9.5,
        Severity::High => 8.0,
        Severity::Medium => 5.5,
        Severity::Low => 2.0,
        Severity::Unknown => 0.0,
    });
    format!("{score:.1}")
}

fn message(finding: &Finding, image: &str) -> String {
    format!(
        "{} {}: {} in {} {} (fixed in {}), image {}",
        finding.severity,
        finding.id,
        finding.summary.as_deref().unwrap_or("vulnerability"),
        finding.package,
        finding.installed_version,
        finding
            .fixed_version
            .as_deref()
            .unwrap_or("no released version"),
        image
    )
}

pub fn render(doc: &ScanDocument) -> Value {
    let mut rules: BTreeMap<&str, Value> = BTreeMap::new();
    let mut results = Vec::with_capacity(doc.findings.len());
    for finding in &doc.findings {
        rules.entry(finding.id.as_str()).or_insert_with(|| {
            json!({
                "id": finding.id,
                "shortDescription": { "text": finding.summary.clone().unwrap_or_else(|| finding.id.clone()) },
                "helpUri": format!("https://osv.dev/vulnerability/{}", finding.id),
                "properties": {
                    "security-severity": security_severity(finding),
                    "tags": ["security", "vulnerability", finding.severity.as_str()],
                    "aliases": finding.aliases,
                }
            })
        });
        let uri = finding
            .location
            .as_ref()
            .map(|l| l.path.to_string())
            .unwrap_or_else(|| doc.image.clone());
        results.push(json!({
            "ruleId": finding.id,
            "level": level(finding.severity),
            "message": { "text": message(finding, &doc.image) },
            "locations": [{
                "physicalLocation": { "artifactLocation": { "uri": uri } },
                "message": { "text": format!("{}@{}", doc.image, doc.digest) }
            }],
            "properties": {
                "package": finding.package,
                "installedVersion": finding.installed_version,
                "fixedVersion": finding.fixed_version,
            }
        }));
    }
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "scangate",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://scangate.dev",
                "rules": rules.into_values().collect::<Vec<_>>(),
            }},
            "results": results,
        }]
    })
}
