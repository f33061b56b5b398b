//! CycloneDX 1.5 JSON: the image's packages as components (an SBOM) and the
//! findings as vulnerabilities that affect them.

use super::ScanDocument;
use crate::model::{Severity, SeveritySource};
use serde_json::{Value, json};

fn rating_method(source: &SeveritySource) -> Option<&'static str> {
    match source {
        SeveritySource::Cvss { version } if version.starts_with('2') => Some("CVSSv2"),
        SeveritySource::Cvss { version } if version.starts_with('3') => Some("CVSSv31"),
        SeveritySource::Cvss { version } if version.starts_with('4') => Some("CVSSv4"),
        _ => None,
    }
}

fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "critical",
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
        Severity::Unknown => "unknown",
    }
}

pub fn render(doc: &ScanDocument) -> Value {
    let mut components: Vec<Value> = Vec::with_capacity(doc.packages.len() + 1);
    if let Some(os) = &doc.os {
        components.push(json!({
            "type": "operating-system",
            "bom-ref": format!("os:{}@{}", os.family, os.version),
            "name": os.family,
            "version": os.version,
        }));
    }
    for package in &doc.packages {
        components.push(json!({
            "type": "library",
            "bom-ref": package.purl,
            "name": package.name,
            "version": package.version,
            "purl": package.purl,
            "properties": [
                { "name": "scangate:kind", "value": package.kind.as_str() },
                { "name": "scangate:path", "value": package.location.path },
            ],
        }));
    }
    let vulnerabilities: Vec<Value> = doc
        .findings
        .iter()
        .map(|finding| {
            let affected_ref = doc
                .packages
                .iter()
                .find(|p| {
                    p.name == finding.package
                        && p.version == finding.installed_version
                        && finding.location.as_ref().is_none_or(|l| l.path == p.location.path)
                })
                .map(|p| p.purl.clone())
                .unwrap_or_else(|| finding.package.to_string());
            let mut rating = json!({ "severity": severity_name(finding.severity) });
            if let Some(score) = finding.cvss_score {
                rating["score"] = json!(score);
            }
            if let Some(vector) = &finding.cvss_vector {
                rating["vector"] = json!(vector);
            }
            if let Some(method) = rating_method(&finding.severity_source) {
                rating["method"] = json!(method);
            }
            let mut vulnerability = json!({
                "bom-ref": format!("{}:{}", finding.id, affected_ref),
                "id": finding.id,
                "source": { "name": "OSV", "url": format!("https://osv.dev/vulnerability/{}", finding.id) },
                "ratings": [rating],
                "affects": [{ "ref": affected_ref }],
                "references": finding.aliases.iter().map(|a| json!({ "id": a, "source": { "name": "alias" } })).collect::<Vec<_>>(),
            });
            if let Some(summary) = &finding.summary {
                vulnerability["description"] = json!(summary);
            }
            if let Some(published) = &finding.published {
                vulnerability["published"] = json!(published);
            }
            if let Some(fixed) = &finding.fixed_version {
                vulnerability["recommendation"] = json!(format!("Upgrade {} to {}", finding.package, fixed));
            }
            vulnerability
        })
        .collect();
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "timestamp": doc.scanned_at,
            "tools": { "components": [{ "type": "application", "name": "scangate", "version": env!("CARGO_PKG_VERSION") }] },
            "component": {
                "type": "container",
                "bom-ref": format!("{}@{}", doc.image, doc.digest),
                "name": doc.image,
                "version": doc.digest,
            },
        },
        "components": components,
        "vulnerabilities": vulnerabilities,
    })
}
