//! Findings + policies + exceptions + the clock → a verdict. Pure: every
//! input (including today's date and the namespace's labels) is passed in,
//! and the policies arrive compiled ([`super::compile`]): nothing is parsed
//! here.

use super::compile::{CompiledException, CompiledPolicy};
use super::types::{PendingAction, PolicyMode};
use crate::model::DatabaseStatus;
use crate::model::{Finding, ScanReport, Severity};
use globset::GlobMatcher;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The annotation that admits a pod despite violations, when a matching
/// policy enables break-glass. Its value is the reason.
pub const BREAK_GLASS_ANNOTATION: &str = "scangate.dev/break-glass";

/// What is known about one image of the object under review.
#[derive(Debug, Clone)]
pub struct ImageOutcome {
    /// The reference as written in the object.
    pub reference: String,
    /// The normalized reference (`docker.io/library/nginx:1.27`), shared
    /// with the parsed reference.
    pub normalized: Arc<str>,
    /// The resolved manifest digest, when resolution succeeded.
    pub digest: Option<String>,
    pub result: ImageResult,
    /// `Some` when the digest already runs in the cluster: when each
    /// finding (by ID) was first seen on it. A finding not listed is new.
    pub running: Option<Arc<RunningFindings>>,
}

/// Finding ID → when it was first seen on a running digest.
pub type RunningFindings = BTreeMap<String, jiff::Timestamp>;

#[derive(Debug, Clone)]
pub enum ImageResult {
    Scanned(Arc<ScanReport>),
    /// The scan did not finish within the budget; it goes on in the background.
    Pending,
    /// Resolution or scan failed; the message names the cause.
    Failed(String),
}

/// Everything a verdict depends on.
#[derive(Debug, Clone, Copy)]
pub struct EvalInput<'a> {
    pub namespace: &'a str,
    pub namespace_labels: &'a BTreeMap<String, String>,
    /// The annotations of the object under review (break-glass).
    pub annotations: &'a BTreeMap<String, String>,
    pub images: &'a [ImageOutcome],
    pub policies: &'a [CompiledPolicy],
    pub exceptions: &'a [CompiledException],
    /// Today in UTC (exceptions expire at the end of their `expires` day).
    pub today: jiff::civil::Date,
    pub now: jiff::Timestamp,
    pub database: Option<&'a DatabaseStatus>,
    /// Namespaces whose exceptions apply everywhere.
    pub cluster_wide_namespaces: &'a [String],
    /// How many findings a problem lists by ID.
    pub max_listed: usize,
}

/// One finding as a denial message lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingBrief {
    pub id: String,
    pub severity: Severity,
    pub package: String,
    pub installed: String,
    pub fixed: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// Findings that violate `failOn`, after exceptions.
    Vulnerable {
        counts: BTreeMap<Severity, usize>,
        top: Vec<FindingBrief>,
    },
    /// Violating findings of an already running digest, all inside their
    /// `remediation` window: admitted, with the earliest deadline.
    WithinWindow {
        counts: BTreeMap<Severity, usize>,
        top: Vec<FindingBrief>,
        until: jiff::Timestamp,
    },
    Pending,
    ScanFailed(String),
    /// The policy failed validation (a cluster object written before the
    /// schema refused it): the message names it, the field and the fix.
    InvalidPolicy(String),
}

/// One policy's objection to one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub policy: String,
    pub mode: PolicyMode,
    /// True if this problem denies the object.
    pub enforced: bool,
    /// True if it would have denied but break-glass admitted it.
    pub break_glass: bool,
    pub image: String,
    pub digest: Option<String>,
    pub kind: ProblemKind,
}

/// An exception that would have applied but has expired.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExpiredException {
    pub namespace: String,
    pub name: String,
    pub expires: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Names of the policies that matched the namespace.
    pub policies: Vec<String>,
    pub problems: Vec<Problem>,
    /// The break-glass reason, when break-glass admitted the object.
    pub break_glass: Option<String>,
    /// The annotation was set but no matching policy enables break-glass.
    pub break_glass_refused: bool,
    pub expired_exceptions: Vec<ExpiredException>,
}

impl Verdict {
    pub fn allowed(&self) -> bool {
        !self.problems.iter().any(|p| p.enforced)
    }
}

/// Judges the images of one object.
pub fn evaluate(input: &EvalInput<'_>) -> Verdict {
    let break_glass_reason = input
        .annotations
        .get(BREAK_GLASS_ANNOTATION)
        .map(|r| r.trim())
        .filter(|r| !r.is_empty());
    let exceptions = ExceptionIndex::new(input);
    let mut verdict = Verdict::default();
    let mut break_glass_used = false;
    let mut break_glass_enabled = false;
    for policy in input.policies {
        if !policy.selector.matches(input.namespace_labels) {
            continue;
        }
        let name = policy.name.as_str();
        verdict.policies.push(name.to_string());
        let bypass = break_glass_reason.is_some() && policy.break_glass;
        break_glass_enabled |= policy.break_glass;
        let database_problem = database_problem(policy, input);
        for image in input.images {
            if matches_any(&policy.exempt_images, image) {
                continue;
            }
            let judged = match &policy.invalid {
                Some(why) => Some((ProblemKind::InvalidPolicy(why.clone()), PendingAction::Deny)),
                None => judge_image(
                    policy,
                    image,
                    database_problem.as_deref(),
                    &exceptions,
                    input,
                    &mut verdict,
                ),
            };
            let Some((kind, action)) = judged else {
                continue;
            };
            let would_deny = policy.mode == PolicyMode::Enforce && action == PendingAction::Deny;
            break_glass_used |= would_deny && bypass;
            verdict.problems.push(Problem {
                policy: name.to_string(),
                mode: policy.mode,
                enforced: would_deny && !bypass,
                break_glass: would_deny && bypass,
                image: image.reference.clone(),
                digest: image.digest.clone(),
                kind,
            });
        }
    }
    if break_glass_used {
        verdict.break_glass = break_glass_reason.map(str::to_string);
    }
    verdict.break_glass_refused =
        break_glass_reason.is_some() && !break_glass_enabled && !verdict.policies.is_empty();
    verdict.expired_exceptions.sort();
    verdict.expired_exceptions.dedup();
    verdict
}

/// The problem one policy has with one image, and the action its settings
/// prescribe (`Deny` for violations).
fn judge_image(
    policy: &CompiledPolicy,
    image: &ImageOutcome,
    database_problem: Option<&str>,
    exceptions: &ExceptionIndex,
    input: &EvalInput<'_>,
    verdict: &mut Verdict,
) -> Option<(ProblemKind, PendingAction)> {
    if let Some(problem) = database_problem {
        return Some((
            ProblemKind::ScanFailed(problem.to_string()),
            policy.on_scan_error,
        ));
    }
    let report = match &image.result {
        ImageResult::Pending => return Some((ProblemKind::Pending, policy.on_scan_pending)),
        ImageResult::Failed(cause) => {
            return Some((ProblemKind::ScanFailed(cause.clone()), policy.on_scan_error));
        }
        ImageResult::Scanned(report) => report,
    };
    let fail_on = &policy.fail_on;
    let mut violating: Vec<(&Finding, Severity)> = report
        .findings
        .iter()
        .filter_map(|f| {
            let severity = match f.severity {
                Severity::Unknown => fail_on.unknown_severity_as,
                known => known,
            };
            let violates =
                severity >= fail_on.severity && (!fail_on.fixable_only || f.is_fixable());
            violates.then_some((f, severity))
        })
        .filter(|(f, _)| !exceptions.excepts(image, f, &mut verdict.expired_exceptions))
        .collect();
    if violating.is_empty() {
        return None;
    }
    violating.sort_by(|(a, sa), (b, sb)| {
        sb.cmp(sa)
            .then(b.is_fixable().cmp(&a.is_fixable()))
            .then(a.id.cmp(&b.id))
            .then(a.package.cmp(&b.package))
    });
    if let Some(until) = grace_until(policy, image, &violating, input.now) {
        let (counts, top) = summarize(&violating, input.max_listed);
        return Some((
            ProblemKind::WithinWindow { counts, top, until },
            PendingAction::Allow,
        ));
    }
    let (counts, top) = summarize(&violating, input.max_listed);
    Some((ProblemKind::Vulnerable { counts, top }, PendingAction::Deny))
}

/// Counts by severity and the first `max_listed` findings.
fn summarize(
    violating: &[(&Finding, Severity)],
    max_listed: usize,
) -> (BTreeMap<Severity, usize>, Vec<FindingBrief>) {
    let mut counts = BTreeMap::new();
    for (_, severity) in violating {
        *counts.entry(*severity).or_insert(0) += 1;
    }
    let top = violating
        .iter()
        .take(max_listed)
        .map(|(f, severity)| FindingBrief {
            id: f.id.to_string(),
            severity: *severity,
            package: f.package.to_string(),
            installed: f.installed_version.to_string(),
            fixed: f.fixed_version.clone(),
        })
        .collect();
    (counts, top)
}

/// For a digest already running, under a policy that grants it: the
/// earliest deadline, if every violating finding is still inside its
/// `remediation` window (a finding never seen before starts its window
/// now). `None` means the normal verdict applies.
fn grace_until(
    policy: &CompiledPolicy,
    image: &ImageOutcome,
    violating: &[(&Finding, Severity)],
    now: jiff::Timestamp,
) -> Option<jiff::Timestamp> {
    let running = image.running.as_ref()?;
    if !policy.grace_for_running_images || policy.remediation.is_empty() {
        return None;
    }
    let windows = &policy.remediation;
    let mut earliest: Option<jiff::Timestamp> = None;
    for (finding, severity) in violating {
        let window = windows.get(severity)?;
        let first_seen = running.get(finding.id.as_str()).copied().unwrap_or(now);
        let deadline = first_seen.checked_add(*window).ok()?;
        if deadline <= now {
            return None;
        }
        earliest = Some(earliest.map_or(deadline, |e| e.min(deadline)));
    }
    earliest
}

/// Why the database cannot be trusted under this policy's `maxDatabaseAge`.
fn database_problem(policy: &CompiledPolicy, input: &EvalInput<'_>) -> Option<String> {
    let (max, max_age) = policy.max_database_age.as_ref()?;
    let Some(db) = input.database else {
        return Some("no vulnerability database is loaded".into());
    };
    let age = input.now.duration_since(db.updated_at);
    (age > *max).then(|| {
        format!(
            "vulnerability database is {}h old, over maxDatabaseAge {max_age}",
            age.as_secs() / 3600
        )
    })
}

/// An exception in scope and whether it is active today.
type ScopedException<'a> = (&'a CompiledException, bool);

/// The exceptions that may apply in the request's namespace.
struct ExceptionIndex<'a> {
    entries: Vec<ScopedException<'a>>,
}

impl<'a> ExceptionIndex<'a> {
    fn new(input: &EvalInput<'a>) -> ExceptionIndex<'a> {
        ExceptionIndex::scoped(
            input.exceptions,
            input.namespace,
            input.cluster_wide_namespaces,
            input.today,
        )
    }

    fn scoped(
        exceptions: &'a [CompiledException],
        namespace: &str,
        cluster_wide: &[String],
        today: jiff::civil::Date,
    ) -> ExceptionIndex<'a> {
        let entries = exceptions
            .iter()
            .filter(|ex| in_scope(ex, namespace, cluster_wide))
            .map(|ex| (ex, today <= ex.expires))
            .collect();
        ExceptionIndex { entries }
    }

    /// True if an active exception covers `finding` in `image`; records the
    /// expired ones that would have.
    fn excepts(
        &self,
        image: &ImageOutcome,
        finding: &Finding,
        expired: &mut Vec<ExpiredException>,
    ) -> bool {
        self.covers(&image.reference, &image.normalized, finding, expired)
    }

    fn covers(
        &self,
        reference: &str,
        normalized: &str,
        finding: &Finding,
        expired: &mut Vec<ExpiredException>,
    ) -> bool {
        let mut covered = false;
        for (ex, active) in &self.entries {
            if !ex.names(finding) || !ex.matches_image(reference, normalized) {
                continue;
            }
            if *active {
                covered = true;
            } else {
                expired.push(ExpiredException {
                    namespace: ex.namespace.clone(),
                    name: ex.name.clone(),
                    expires: ex.expires.to_string(),
                });
            }
        }
        covered
    }
}

/// The exceptions in force in one namespace on one day, compiled once:
/// which findings of an image they set aside, as admission's verdicts do
/// (the re-scan gauges count those findings as `excepted`).
pub struct NamespaceExceptions<'a> {
    index: ExceptionIndex<'a>,
}

impl<'a> NamespaceExceptions<'a> {
    pub fn new(
        exceptions: &'a [CompiledException],
        namespace: &str,
        cluster_wide: &[String],
        today: jiff::civil::Date,
    ) -> NamespaceExceptions<'a> {
        NamespaceExceptions {
            index: ExceptionIndex::scoped(exceptions, namespace, cluster_wide, today),
        }
    }

    /// No exception is in scope: nothing is excepted.
    pub fn is_empty(&self) -> bool {
        self.index.entries.is_empty()
    }

    /// True if an active exception covers `finding` in the image named
    /// `reference` (normalized: `normalized`).
    pub fn covers(&self, reference: &str, normalized: &str, finding: &Finding) -> bool {
        self.index
            .covers(reference, normalized, finding, &mut Vec::new())
    }
}

/// An exception applies in its own namespace, or everywhere if it lives in a
/// cluster-wide namespace; `namespaces` narrows that further.
fn in_scope(ex: &CompiledException, namespace: &str, cluster_wide: &[String]) -> bool {
    let own = ex.namespace.as_str();
    let granted = own == namespace || cluster_wide.iter().any(|ns| ns == own);
    granted && (ex.namespaces.is_empty() || ex.namespaces.iter().any(|ns| ns == namespace))
}

/// Globs are tried against the reference as written and as normalized.
fn matches_any(globs: &[GlobMatcher], image: &ImageOutcome) -> bool {
    globs
        .iter()
        .any(|g| g.is_match(&image.reference) || g.is_match(&*image.normalized))
}
