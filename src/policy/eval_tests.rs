//! Every policy rule, exception edge and mode, on plain values.

use super::compile::PolicySet;
use super::eval::*;
use super::types::*;
use crate::model::DatabaseStatus;
use crate::model::{Finding, Inventory, PackageKind, ScanReport, Severity, SeveritySource};
use jiff::civil::date;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;
use std::sync::Arc;

fn finding(id: &str, severity: Severity, fixed: Option<&str>) -> Finding {
    Finding {
        id: id.into(),
        aliases: vec![format!("ALIAS-{id}").into()],
        package: format!("pkg-{id}").into(),
        kind: PackageKind::Deb,
        ecosystem: "Debian:12".into(),
        installed_version: "1.0".into(),
        fixed_version: fixed.map(str::to_string),
        severity,
        severity_source: SeveritySource::None,
        cvss_score: None,
        cvss_vector: None,
        summary: None,
        published: None,
        location: None,
    }
}

fn scanned(reference: &str, findings: Vec<Finding>) -> ImageOutcome {
    ImageOutcome {
        reference: reference.into(),
        normalized: format!("docker.io/{reference}").into(),
        digest: Some("sha256:aa".into()),
        result: ImageResult::Scanned(Arc::new(ScanReport {
            image: reference.into(),
            digest: "sha256:aa".into(),
            db_revision: "r1".into(),
            scanned_at: "2026-11-01T00:00:00Z".into(),
            inventory: Inventory::default(),
            findings,
            unchecked: vec![],
        })),
        running: None,
    }
}

fn policy(name: &str, spec: ClusterScanPolicySpec) -> ClusterScanPolicy {
    let mut p = ClusterScanPolicy::new(name, spec);
    p.metadata = ObjectMeta {
        name: Some(name.into()),
        ..Default::default()
    };
    p
}

fn high() -> ClusterScanPolicySpec {
    ClusterScanPolicySpec {
        fail_on: FailOn {
            severity: Severity::High,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn exception(ns: &str, vulns: &[&str], images: &[&str], expires: &str) -> ScanException {
    let mut ex = ScanException::new(
        "ex",
        ScanExceptionSpec {
            vulnerabilities: vulns.iter().map(|v| v.to_string()).collect(),
            images: images.iter().map(|v| v.to_string()).collect(),
            namespaces: vec![],
            reason: "accepted".into(),
            reviewed_by: Some("sec".into()),
            expires: expires.into(),
        },
    );
    ex.metadata.namespace = Some(ns.into());
    ex.metadata.name = Some("ex".into());
    ex
}

struct Case {
    namespace: &'static str,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    images: Vec<ImageOutcome>,
    policies: Vec<ClusterScanPolicy>,
    exceptions: Vec<ScanException>,
    today: jiff::civil::Date,
    database: Option<DatabaseStatus>,
}

impl Case {
    fn new(images: Vec<ImageOutcome>, policies: Vec<ClusterScanPolicy>) -> Case {
        Case {
            namespace: "shop",
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            images,
            policies,
            exceptions: vec![],
            today: date(2026, 11, 23),
            database: Some(DatabaseStatus {
                revision: "r1".into(),
                updated_at: "2026-11-23T00:00:00Z".parse().unwrap(),
            }),
        }
    }

    fn run(&self) -> Verdict {
        let cluster_wide = vec!["scangate".to_string()];
        let set = PolicySet::compile(&self.policies, &self.exceptions).expect("valid policies");
        evaluate(&EvalInput {
            namespace: self.namespace,
            namespace_labels: &self.labels,
            annotations: &self.annotations,
            images: &self.images,
            policies: &set.policies,
            exceptions: &set.exceptions,
            today: self.today,
            now: "2026-11-23T12:00:00Z".parse().unwrap(),
            database: self.database.as_ref(),
            cluster_wide_namespaces: &cluster_wide,
            max_listed: 2,
        })
    }
}

fn vulnerable_image() -> ImageOutcome {
    scanned(
        "app:1",
        vec![
            finding("CVE-C", Severity::Critical, Some("1.1")),
            finding("CVE-H", Severity::High, None),
            finding("CVE-M", Severity::Medium, Some("1.2")),
            finding("CVE-U", Severity::Unknown, Some("1.3")),
        ],
    )
}

#[test]
fn threshold_counts_and_top_findings() {
    let v = Case::new(vec![vulnerable_image()], vec![policy("p", high())]).run();
    assert!(!v.allowed());
    assert_eq!(v.problems.len(), 1);
    let p = &v.problems[0];
    assert_eq!(
        (p.policy.as_str(), p.enforced, p.image.as_str()),
        ("p", true, "app:1")
    );
    let ProblemKind::Vulnerable { counts, top } = &p.kind else {
        panic!("{p:?}")
    };
    assert_eq!(
        counts,
        &BTreeMap::from([(Severity::High, 1), (Severity::Critical, 1)])
    );
    assert_eq!(top.len(), 2);
    assert_eq!(top[0].id, "CVE-C");
    assert_eq!(top[0].fixed.as_deref(), Some("1.1"));
    assert_eq!(top[1].id, "CVE-H");
}

#[test]
fn below_threshold_is_allowed_without_problems() {
    let image = scanned("app:1", vec![finding("CVE-M", Severity::Medium, Some("1"))]);
    let v = Case::new(vec![image], vec![policy("p", high())]).run();
    assert!(v.allowed());
    assert!(v.problems.is_empty());
    assert_eq!(v.policies, vec!["p"]);
}

#[test]
fn fixable_only_ignores_unfixed_findings() {
    let mut spec = high();
    spec.fail_on.fixable_only = true;
    let v = Case::new(vec![vulnerable_image()], vec![policy("p", spec)]).run();
    let ProblemKind::Vulnerable { counts, .. } = &v.problems[0].kind else {
        panic!()
    };
    assert_eq!(counts, &BTreeMap::from([(Severity::Critical, 1)]));
}

#[test]
fn unknown_severity_is_treated_as_configured() {
    let image = scanned("app:1", vec![finding("CVE-U", Severity::Unknown, None)]);
    let v = Case::new(vec![image.clone()], vec![policy("p", high())]).run();
    assert!(v.allowed());
    let mut spec = high();
    spec.fail_on.unknown_severity_as = Severity::Critical;
    let v = Case::new(vec![image], vec![policy("p", spec)]).run();
    let ProblemKind::Vulnerable { counts, .. } = &v.problems[0].kind else {
        panic!()
    };
    assert_eq!(counts, &BTreeMap::from([(Severity::Critical, 1)]));
}

#[test]
fn exempt_images_match_written_or_normalized_reference() {
    for glob in ["app:*", "docker.io/*", "*/app:1"] {
        let mut spec = high();
        spec.exempt_images = vec![glob.into()];
        let v = Case::new(vec![vulnerable_image()], vec![policy("p", spec)]).run();
        assert!(v.allowed() && v.problems.is_empty(), "{glob}");
    }
    let mut spec = high();
    spec.exempt_images = vec!["other/*".into()];
    assert!(
        !Case::new(vec![vulnerable_image()], vec![policy("p", spec.clone())])
            .run()
            .allowed()
    );
    spec.exempt_images.push("[invalid".into());
    let err = PolicySet::compile(&[policy("p", spec)], &[]).unwrap_err();
    assert!(
        err[0].to_string().contains("spec.exemptImages[1]"),
        "{err:?}"
    );
}

#[test]
fn audit_mode_reports_without_denying() {
    let mut spec = high();
    spec.mode = PolicyMode::Audit;
    let v = Case::new(vec![vulnerable_image()], vec![policy("p", spec)]).run();
    assert!(v.allowed());
    assert_eq!(v.problems.len(), 1);
    assert!(!v.problems[0].enforced);
}

#[test]
fn every_matching_policy_applies() {
    let audit = ClusterScanPolicySpec {
        mode: PolicyMode::Audit,
        fail_on: FailOn {
            severity: Severity::Medium,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut prod_only = high();
    prod_only.namespace_selector = Some(NamespaceSelector {
        match_labels: Some(BTreeMap::from([("env".into(), "prod".into())])),
        ..Default::default()
    });
    let policies = vec![
        policy("audit-medium", audit),
        policy("prod-high", prod_only),
    ];
    let v = Case::new(vec![vulnerable_image()], policies.clone()).run();
    assert!(
        v.allowed(),
        "prod-high does not select an unlabelled namespace"
    );
    assert_eq!(v.policies, vec!["audit-medium"]);
    let mut case = Case::new(vec![vulnerable_image()], policies);
    case.labels.insert("env".into(), "prod".into());
    let v = case.run();
    assert!(!v.allowed());
    assert_eq!(v.policies, vec!["audit-medium", "prod-high"]);
    assert_eq!(v.problems.len(), 2);
}

#[test]
fn no_matching_policy_means_no_opinion() {
    let v = Case::new(vec![vulnerable_image()], vec![]).run();
    assert!(v.allowed() && v.problems.is_empty() && v.policies.is_empty());
}

fn case_with_exception(ex: ScanException, today: jiff::civil::Date) -> Verdict {
    let image = scanned(
        "app:1",
        vec![finding("CVE-C", Severity::Critical, Some("1.1"))],
    );
    let mut case = Case::new(vec![image], vec![policy("p", high())]);
    case.exceptions = vec![ex];
    case.today = today;
    case.run()
}

#[test]
fn exception_by_id_alias_or_star() {
    for id in ["CVE-C", "alias-cve-c", "*"] {
        let v = case_with_exception(
            exception("shop", &[id], &["*"], "2026-12-31"),
            date(2026, 11, 23),
        );
        assert!(v.allowed(), "{id}");
    }
    let v = case_with_exception(
        exception("shop", &["CVE-OTHER"], &["*"], "2026-12-31"),
        date(2026, 11, 23),
    );
    assert!(!v.allowed());
}

#[test]
fn exception_expiry_day_is_inclusive() {
    let ex = || exception("shop", &["CVE-C"], &["*"], "2026-11-23");
    let before = case_with_exception(ex(), date(2026, 11, 22));
    assert!(before.allowed() && before.expired_exceptions.is_empty());
    let on = case_with_exception(ex(), date(2026, 11, 23));
    assert!(on.allowed() && on.expired_exceptions.is_empty());
    let after = case_with_exception(ex(), date(2026, 11, 24));
    assert!(!after.allowed());
    assert_eq!(
        after.expired_exceptions,
        vec![ExpiredException {
            namespace: "shop".into(),
            name: "ex".into(),
            expires: "2026-11-23".into()
        }]
    );
}

#[test]
fn exception_with_unreadable_date_is_refused_when_compiled() {
    let err =
        PolicySet::compile(&[], &[exception("shop", &["CVE-C"], &["*"], "next week")]).unwrap_err();
    assert!(
        err[0]
            .to_string()
            .starts_with("ScanException shop/ex: spec.expires: \"next week\" is not a date"),
        "{err:?}"
    );
}

#[test]
fn exception_image_globs() {
    let v = case_with_exception(
        exception("shop", &["*"], &["app:*"], "2026-12-31"),
        date(2026, 11, 23),
    );
    assert!(v.allowed());
    let v = case_with_exception(
        exception("shop", &["*"], &["other:*"], "2026-12-31"),
        date(2026, 11, 23),
    );
    assert!(!v.allowed());
    let err =
        PolicySet::compile(&[], &[exception("shop", &["*"], &["[bad"], "2026-12-31")]).unwrap_err();
    assert!(
        err[0].to_string().contains("spec.images[0]: glob \"[bad\""),
        "an invalid glob is refused, never widens the exception: {err:?}"
    );
}

#[test]
fn exception_namespace_scope() {
    let today = date(2026, 11, 23);
    assert!(
        !case_with_exception(exception("other", &["*"], &["*"], "2026-12-31"), today).allowed()
    );
    assert!(
        case_with_exception(exception("scangate", &["*"], &["*"], "2026-12-31"), today).allowed()
    );
    let mut narrowed = exception("scangate", &["*"], &["*"], "2026-12-31");
    narrowed.spec.namespaces = vec!["billing".into()];
    assert!(!case_with_exception(narrowed.clone(), today).allowed());
    narrowed.spec.namespaces.push("shop".into());
    assert!(case_with_exception(narrowed, today).allowed());
    let mut own_other = exception("other", &["*"], &["*"], "2026-12-31");
    own_other.spec.namespaces = vec!["shop".into()];
    assert!(
        !case_with_exception(own_other, today).allowed(),
        "a namespace cannot grant others"
    );
}

#[test]
fn break_glass_only_when_a_matching_policy_enables_it() {
    let mut case = Case::new(vec![vulnerable_image()], vec![policy("p", high())]);
    case.annotations
        .insert(BREAK_GLASS_ANNOTATION.into(), "INC-42 outage".into());
    let v = case.run();
    assert!(!v.allowed());
    assert!(v.break_glass.is_none() && v.break_glass_refused);

    let mut spec = high();
    spec.break_glass.enabled = true;
    case.policies = vec![policy("p", spec)];
    let v = case.run();
    assert!(v.allowed());
    assert_eq!(v.break_glass.as_deref(), Some("INC-42 outage"));
    assert!(v.problems[0].break_glass && !v.problems[0].enforced);

    case.annotations
        .insert(BREAK_GLASS_ANNOTATION.into(), "  ".into());
    assert!(!case.run().allowed(), "an empty reason is no break-glass");
}

#[test]
fn pending_and_error_follow_their_settings_both_ways() {
    let pending = ImageOutcome {
        reference: "app:1".into(),
        normalized: "docker.io/app:1".into(),
        digest: Some("sha256:aa".into()),
        result: ImageResult::Pending,
        running: None,
    };
    let failed = ImageOutcome {
        result: ImageResult::Failed("registry: 503".into()),
        digest: None,
        ..pending.clone()
    };
    for (image, kind) in [
        (pending, ProblemKind::Pending),
        (failed, ProblemKind::ScanFailed("registry: 503".into())),
    ] {
        for action in [PendingAction::Deny, PendingAction::Allow] {
            let mut spec = high();
            spec.on_scan_pending = action;
            spec.on_scan_error = action;
            let v = Case::new(vec![image.clone()], vec![policy("p", spec)]).run();
            assert_eq!(v.allowed(), action == PendingAction::Allow);
            assert_eq!(v.problems[0].kind, kind);
        }
    }
}

#[test]
fn max_database_age_turns_stale_data_into_a_scan_error() {
    let mut spec = high();
    spec.max_database_age = Some("48h".into());
    let clean = scanned("app:1", vec![]);
    let mut case = Case::new(vec![clean], vec![policy("p", spec)]);
    assert!(case.run().allowed());
    case.database = Some(DatabaseStatus {
        revision: "r0".into(),
        updated_at: "2026-11-20T00:00:00Z".parse().unwrap(),
    });
    let v = case.run();
    assert!(!v.allowed());
    let ProblemKind::ScanFailed(msg) = &v.problems[0].kind else {
        panic!()
    };
    assert!(msg.contains("84h old, over maxDatabaseAge 48h"), "{msg}");
}

#[test]
fn running_digest_is_admitted_inside_its_remediation_window_only() {
    // now = 2026-11-23T12:00Z; CRITICAL 24h, HIGH 7d.
    let mut spec = high();
    spec.remediation = BTreeMap::from([
        (Severity::Critical, "24h".to_string()),
        (Severity::High, "7d".to_string()),
    ]);
    let running = |seen: &[(&str, &str)]| {
        let mut image = vulnerable_image();
        image.running = Some(Arc::new(
            seen.iter()
                .map(|(id, at)| (id.to_string(), at.parse().unwrap()))
                .collect(),
        ));
        image
    };
    let judge = |image: ImageOutcome, spec: ClusterScanPolicySpec| {
        Case::new(vec![image], vec![policy("p", spec)]).run()
    };

    // A new digest: judged as usual.
    let verdict = judge(vulnerable_image(), spec.clone());
    assert!(!verdict.allowed());

    // Running, both findings seen 10 h ago: admitted until the CRITICAL's deadline.
    let verdict = judge(
        running(&[
            ("CVE-C", "2026-11-23T02:00:00Z"),
            ("CVE-H", "2026-11-23T02:00:00Z"),
        ]),
        spec.clone(),
    );
    assert!(verdict.allowed(), "{verdict:?}");
    let until: jiff::Timestamp = "2026-11-24T02:00:00Z".parse().unwrap();
    assert!(
        matches!(&verdict.problems[0].kind, ProblemKind::WithinWindow { until: u, counts, .. }
            if *u == until && counts.values().sum::<usize>() == 2),
        "{verdict:?}"
    );

    // Running, never seen before (a new CVE tonight): its window starts now.
    let verdict = judge(running(&[]), spec.clone());
    assert!(verdict.allowed(), "{verdict:?}");

    // The CRITICAL seen 25 h ago is past its window: the normal verdict.
    let verdict = judge(
        running(&[
            ("CVE-C", "2026-11-22T11:00:00Z"),
            ("CVE-H", "2026-11-23T02:00:00Z"),
        ]),
        spec.clone(),
    );
    assert!(!verdict.allowed());
    assert!(matches!(
        verdict.problems[0].kind,
        ProblemKind::Vulnerable { .. }
    ));

    // A severity with no window, or the grace switched off: normal verdict.
    let mut no_high_window = spec.clone();
    no_high_window.remediation.remove(&Severity::High);
    assert!(!judge(running(&[]), no_high_window).allowed());
    let mut off = spec;
    off.grace_for_running_images = false;
    assert!(!judge(running(&[]), off).allowed());
}
