//! The terminal table: findings grouped by package, worst first, severity
//! coloured when the output is a terminal.

use super::ScanDocument;
use crate::model::{ArcStr, Finding, Severity};
use std::collections::BTreeMap;
use std::io::{self, Write};

fn colour(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "\x1b[1;31m",
        Severity::High => "\x1b[31m",
        Severity::Medium => "\x1b[33m",
        Severity::Low => "\x1b[36m",
        Severity::Unknown => "\x1b[37m",
    }
}

fn severity_cell(severity: Severity, ansi: bool) -> String {
    if ansi {
        format!("{}{:<8}\x1b[0m", colour(severity), severity.as_str())
    } else {
        format!("{:<8}", severity.as_str())
    }
}

pub fn render(doc: &ScanDocument, out: &mut impl Write, ansi: bool) -> io::Result<()> {
    let os = doc
        .os
        .as_ref()
        .map(|o| format!("{} {}", o.family, o.version))
        .unwrap_or_else(|| "unknown".into());
    writeln!(out, "{} ({})", doc.image, doc.digest)?;
    writeln!(
        out,
        "OS: {os}   packages: {}   database: {}",
        doc.packages.len(),
        doc.db_revision
    )?;
    let totals: Vec<String> = doc
        .counts
        .iter()
        .rev()
        .map(|(severity, n)| format!("{severity}: {n}"))
        .collect();
    writeln!(
        out,
        "Findings: {}   ({})",
        doc.findings.len(),
        totals.join(", ")
    )?;
    if !doc.unchecked.is_empty() {
        writeln!(out, "Not checked (no data): {}", doc.unchecked.join(", "))?;
    }
    let mut by_package: BTreeMap<(&str, &str), Vec<&Finding>> = BTreeMap::new();
    for finding in &doc.findings {
        by_package
            .entry((finding.package.as_str(), finding.installed_version.as_str()))
            .or_default()
            .push(finding);
    }
    let mut groups: Vec<_> = by_package.into_iter().collect();
    groups.sort_by_key(|(key, findings)| {
        let worst = findings
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or_default();
        (std::cmp::Reverse(worst), *key)
    });
    for ((package, version), mut findings) in groups {
        findings.sort_by_key(|f| (std::cmp::Reverse(f.severity), f.id.as_str()));
        writeln!(out)?;
        writeln!(out, "{package} {version}")?;
        for f in findings {
            let alias = f.aliases.iter().find(|a| a.starts_with("CVE-"));
            writeln!(
                out,
                "  {} {:<20} {:<16} fixed: {:<14} {}",
                severity_cell(f.severity, ansi),
                f.id,
                alias.map(ArcStr::as_str).unwrap_or(""),
                f.fixed_version.as_deref().unwrap_or("-"),
                f.summary
                    .as_deref()
                    .unwrap_or("")
                    .chars()
                    .take(70)
                    .collect::<String>()
            )?;
        }
    }
    if let Some(verdict) = &doc.verdict {
        writeln!(out)?;
        let result = if verdict.passed { "PASSED" } else { "FAILED" };
        writeln!(out, "Policy {}: {result}", verdict.policies.join(", "))?;
        for v in &verdict.violations {
            writeln!(
                out,
                "  violation: {} {} in {} {} (policy {})",
                v.severity, v.id, v.package, v.installed_version, v.policy
            )?;
        }
        for e in &verdict.excepted {
            writeln!(
                out,
                "  excepted: {} in {} by {} until {} ({})",
                e.id, e.package, e.exception, e.expires, e.reason
            )?;
        }
        for w in &verdict.warnings {
            writeln!(out, "  warning: {w}")?;
        }
    }
    Ok(())
}
