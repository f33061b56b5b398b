//! A verdict as the API server shows it: a denial message a developer can
//! act on, short warnings for kubectl, audit annotations for the audit log.

use super::review::AdmissionResponse;
use crate::model::Severity;
use crate::policy::eval::{FindingBrief, Problem, ProblemKind, Verdict};
use std::collections::BTreeMap;

/// The response to a reviewed object.
pub fn build(
    uid: &str,
    kind: &str,
    namespace: &str,
    name: &str,
    verdict: &Verdict,
) -> AdmissionResponse {
    let mut response = if verdict.allowed() {
        AdmissionResponse::allow(uid)
    } else {
        let problems: Vec<String> = verdict
            .problems
            .iter()
            .filter(|p| p.enforced)
            .map(describe)
            .collect();
        AdmissionResponse::deny(
            uid,
            format!(
                "scangate denied {kind} {namespace}/{name}: {}",
                problems.join("; ")
            ),
        )
    };
    response.warnings = warnings(verdict);
    response.audit_annotations = audit_annotations(verdict);
    response
}

/// `sha256:0123456789ab` (enough to find it, short enough to read).
fn short_digest(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

fn image_label(problem: &Problem) -> String {
    match &problem.digest {
        Some(digest) => format!("{} ({})", problem.image, short_digest(digest)),
        None => problem.image.clone(),
    }
}

fn counts_text(counts: &BTreeMap<Severity, usize>) -> String {
    counts
        .iter()
        .rev()
        .map(|(severity, n)| format!("{n} {severity}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn finding_text(f: &FindingBrief) -> String {
    let fix = match &f.fixed {
        Some(fixed) => format!("fixed in {fixed}"),
        None => "no fix yet".to_string(),
    };
    format!(
        "{} ({}) in {} {}, {fix}",
        f.id, f.severity, f.package, f.installed
    )
}

/// One problem in full, for a denial message.
pub fn describe(problem: &Problem) -> String {
    let image = image_label(problem);
    let policy = &problem.policy;
    match &problem.kind {
        ProblemKind::Vulnerable { counts, top } => format!(
            "image {image} has {} violating policy {policy:?}: {}",
            counts_text(counts),
            top.iter().map(finding_text).collect::<Vec<_>>().join("; ")
        ),
        ProblemKind::WithinWindow { counts, top, until } => format!(
            "image {image} already runs in the cluster; its {} are within the response window of policy {policy:?} until {until}: {}",
            counts_text(counts),
            top.iter().map(finding_text).collect::<Vec<_>>().join("; ")
        ),
        ProblemKind::Pending => {
            format!("image {image} is being scanned (policy {policy:?}); retry in a few seconds")
        }
        ProblemKind::ScanFailed(cause) if problem.enforced => {
            format!(
                "image {image} could not be scanned: {cause} (policy {policy:?} denies on scan errors)"
            )
        }
        ProblemKind::ScanFailed(cause) => {
            format!("image {image} could not be scanned: {cause} (policy {policy:?})")
        }
        ProblemKind::InvalidPolicy(why) => format!(
            "policy {policy:?} is invalid and {} image {image} until it is fixed: {why}",
            if problem.enforced {
                "denies"
            } else {
                "cannot judge"
            }
        ),
    }
}

/// One problem in a line short enough for kubectl.
fn short(problem: &Problem) -> String {
    let image = &problem.image;
    let policy = &problem.policy;
    let tag = if problem.break_glass {
        "break-glass"
    } else {
        "audit"
    };
    match &problem.kind {
        ProblemKind::Vulnerable { counts, top } => {
            let ids: Vec<&str> = top.iter().take(3).map(|f| f.id.as_str()).collect();
            format!(
                "[{tag}] {image}: {} ({}) violate policy {policy}",
                counts_text(counts),
                ids.join(", ")
            )
        }
        ProblemKind::WithinWindow { counts, top, until } => {
            let ids: Vec<&str> = top.iter().take(3).map(|f| f.id.as_str()).collect();
            format!(
                "{image} already runs: {} ({}) admitted until {until}, the deadline of policy {policy}; fix before then",
                counts_text(counts),
                ids.join(", ")
            )
        }
        ProblemKind::Pending => format!("{image} not scanned yet; admitted by policy {policy}"),
        ProblemKind::ScanFailed(cause) => {
            let cause: String = cause.chars().take(120).collect();
            format!("{image} could not be scanned ({cause}); admitted by policy {policy}")
        }
        ProblemKind::InvalidPolicy(why) => {
            let why: String = why.chars().take(200).collect();
            format!("[{tag}] policy {policy} is invalid, {image} not judged by it: {why}")
        }
    }
}

fn warnings(verdict: &Verdict) -> Vec<String> {
    let mut warnings: Vec<String> = verdict
        .problems
        .iter()
        .filter(|p| !p.enforced)
        .map(short)
        .collect();
    if let Some(reason) = &verdict.break_glass {
        let reason: String = reason.chars().take(120).collect();
        warnings.push(format!(
            "admitted by break-glass despite policy violations: {reason}"
        ));
    }
    if verdict.break_glass_refused {
        warnings
            .push("break-glass annotation ignored: no matching policy enables break-glass".into());
    }
    for ex in &verdict.expired_exceptions {
        warnings.push(format!(
            "ScanException {}/{} expired ({}) and no longer applies",
            ex.namespace, ex.name, ex.expires
        ));
    }
    warnings
}

fn audit_annotations(verdict: &Verdict) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::new();
    // Findings are facts about the image worth keeping in the audit log;
    // pending scans and scan failures are in the warnings and the logs.
    let reported: Vec<String> = verdict
        .problems
        .iter()
        .filter(|p| {
            matches!(
                p.kind,
                ProblemKind::Vulnerable { .. } | ProblemKind::WithinWindow { .. }
            )
        })
        .map(describe)
        .collect();
    if !reported.is_empty() {
        annotations.insert("violations".to_string(), reported.join("; "));
    }
    if let Some(reason) = &verdict.break_glass {
        annotations.insert("break-glass".to_string(), reason.clone());
    }
    if !verdict.expired_exceptions.is_empty() {
        let names: Vec<String> = verdict
            .expired_exceptions
            .iter()
            .map(|ex| format!("{}/{}", ex.namespace, ex.name))
            .collect();
        annotations.insert("expired-exceptions".to_string(), names.join(","));
    }
    annotations
}
