//! Policy files as users write them, and each refusal: the message names
//! the file and document, the field path and the expected form.

use super::*;
use crate::policy::PolicyMode;

const POLICY_HEAD: &str =
    "apiVersion: scangate.dev/v1alpha1\nkind: ClusterScanPolicy\nmetadata: {name: base}\n";
const EXCEPTION_HEAD: &str = "apiVersion: scangate.dev/v1alpha1\nkind: ScanException\nmetadata: {name: x, namespace: shop}\n";

/// The one-line refusals of `text` read as `p.yaml`.
fn refusals(text: &str) -> Vec<String> {
    let mut docs = PolicyDocuments::default();
    docs.add_text(Path::new("p.yaml"), text)
        .iter()
        .map(|e| describe(e))
        .collect()
}

/// The refusal of a single bad document, which must mention every `parts`.
fn refused(text: &str, parts: &[&str]) {
    let errors = refusals(text);
    assert_eq!(errors.len(), 1, "{text}\n{errors:?}");
    for part in parts {
        assert!(errors[0].contains(part), "{:?} lacks {part:?}", errors[0]);
    }
}

fn policy(spec: &str) -> String {
    format!("{POLICY_HEAD}spec:\n{spec}")
}

fn exception(spec: &str) -> String {
    format!("{EXCEPTION_HEAD}spec:\n{spec}")
}

#[test]
fn reads_both_kinds_from_one_file() {
    let mut docs = PolicyDocuments::default();
    let errors = docs.add_text(
        Path::new("p.yaml"),
        &format!(
            "{}---\n{}",
            policy("  mode: Audit\n  failOn: {severity: HIGH}\n  remediation: {CRITICAL: 24h, HIGH: 7d}\n  maxDatabaseAge: 48h\n"),
            exception("  vulnerabilities: [CVE-1]\n  images: ['*']\n  reason: r\n  expires: 2026-12-31\n")
        ),
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(docs.policies.len(), 1);
    assert_eq!(docs.policies[0].spec.mode, PolicyMode::Audit);
    assert_eq!(docs.exceptions[0].spec.expires, "2026-12-31");
    let compiled = &docs.compiled.policies[0];
    assert_eq!(compiled.remediation.len(), 2);
    assert_eq!(compiled.max_database_age.as_ref().unwrap().0.as_hours(), 48);
    assert_eq!(
        docs.compiled.exceptions[0].expires,
        jiff::civil::date(2026, 12, 31)
    );
}

#[test]
fn the_image_typo_is_refused_not_an_exception_for_every_image() {
    refused(
        &exception(
            "  vulnerabilities: ['*']\n  image: [app:*]\n  reason: r\n  expires: 2026-12-31\n",
        ),
        &[
            "p.yaml, document 0 (ScanException shop/x)",
            "spec.image",
            "unknown field `image`",
            "images",
        ],
    );
}

#[test]
fn an_exception_names_at_least_one_image_and_one_vulnerability() {
    refused(
        &exception("  vulnerabilities: ['*']\n  reason: r\n  expires: 2026-12-31\n"),
        &["spec", "missing field `images`"],
    );
    refused(
        &exception("  vulnerabilities: ['*']\n  images: []\n  reason: r\n  expires: 2026-12-31\n"),
        &["spec.images: missing or empty: expected at least one image glob"],
    );
    refused(
        &exception("  vulnerabilities: []\n  images: ['*']\n  reason: r\n  expires: 2026-12-31\n"),
        &["spec.vulnerabilities: empty: expected at least one vulnerability"],
    );
    refused(
        &exception(
            "  vulnerabilities: ['  ']\n  images: ['*']\n  reason: r\n  expires: 2026-12-31\n",
        ),
        &["spec.vulnerabilities[0]: empty"],
    );
}

#[test]
fn unknown_fields_anywhere_in_a_policy_are_refused_with_their_path() {
    for (spec, path, field) in [
        ("  exemptImage: [a]\n", "spec.exemptImage", "exemptImage"),
        (
            "  failOn: {severity: HIGH, fixableonly: true}\n",
            "spec.failOn.fixableonly",
            "fixableonly",
        ),
        (
            "  breakGlass: {enable: true}\n",
            "spec.breakGlass.enable",
            "enable",
        ),
        (
            "  namespaceSelector: {matchLabel: {env: prod}}\n",
            "spec.namespaceSelector.matchLabel",
            "matchLabel",
        ),
        (
            "  namespaceSelector:\n    matchExpressions: [{key: env, operator: In, value: [a]}]\n",
            "spec.namespaceSelector.matchExpressions[0].value",
            "value",
        ),
    ] {
        refused(
            &policy(spec),
            &[
                "p.yaml, document 0 (ClusterScanPolicy base)",
                path,
                &format!("unknown field `{field}`"),
            ],
        );
    }
    refused(
        &format!("{POLICY_HEAD}specs: {{}}\n"),
        &["specs: unknown field: expected apiVersion, kind, metadata, spec"],
    );
}

#[test]
fn durations_must_parse_and_be_positive() {
    for (spec, path, value) in [
        (
            "  remediation: {HIGH: 7days}\n",
            "spec.remediation.HIGH",
            "7days",
        ),
        (
            "  remediation: {CRITICAL: -7d}\n",
            "spec.remediation.CRITICAL",
            "-7d",
        ),
        ("  remediation: {LOW: 0d}\n", "spec.remediation.LOW", "0d"),
        ("  maxDatabaseAge: 7days\n", "spec.maxDatabaseAge", "7days"),
    ] {
        refused(
            &policy(spec),
            &[
                path,
                &format!("invalid duration {value:?}"),
                "expected a positive whole number and a unit",
            ],
        );
    }
    refused(
        &policy("  remediation: {SEVERE: 1d}\n"),
        &["spec.remediation", "unknown variant `SEVERE`"],
    );
}

#[test]
fn api_version_kind_and_enums_are_checked() {
    refused(
        &POLICY_HEAD.replace("v1alpha1", "v1").to_string(),
        &["apiVersion \"scangate.dev/v1\": expected scangate.dev/v1alpha1"],
    );
    refused(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
        &[
            "document 0 (ConfigMap a): kind \"ConfigMap\": expected ClusterScanPolicy or ScanException",
        ],
    );
    refused(
        &policy("  mode: audit\n"),
        &["spec.mode", "unknown variant `audit`"],
    );
}

#[test]
fn dates_globs_selectors_and_metadata_are_checked() {
    refused(
        &exception(
            "  vulnerabilities: [CVE-1]\n  images: ['*']\n  reason: r\n  expires: next week\n",
        ),
        &["spec.expires: \"next week\" is not a date: expected YYYY-MM-DD"],
    );
    refused(
        &exception(
            "  vulnerabilities: [CVE-1]\n  images: ['app:[bad']\n  reason: r\n  expires: 2026-12-31\n",
        ),
        &["spec.images[0]: glob \"app:[bad\" does not compile"],
    );
    refused(
        &policy("  exemptImages: ['registry.k8s.io/{a']\n"),
        &["spec.exemptImages[0]: glob"],
    );
    refused(
        &policy("  namespaceSelector:\n    matchExpressions: [{key: env, operator: In}]\n"),
        &["spec.namespaceSelector: matchExpressions[0].values: empty"],
    );
    refused(
        &exception(
            "  vulnerabilities: [CVE-1]\n  images: ['*']\n  reason: ''\n  expires: 2026-12-31\n",
        ),
        &["spec.reason: empty"],
    );
    refused(
        "apiVersion: scangate.dev/v1alpha1\nkind: ScanException\nmetadata: {name: a}\nspec: {vulnerabilities: [a], images: ['*'], reason: r, expires: 2026-01-01}\n",
        &["metadata.namespace: missing"],
    );
}

#[test]
fn every_refusal_of_every_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&good, policy("  mode: Audit\n")).unwrap();
    std::fs::write(
        &bad,
        format!(
            "{}---\n{}",
            policy("  remediation: {HIGH: 7days}\n"),
            exception(
                "  vulnerabilities: ['*']\n  image: [a]\n  reason: r\n  expires: 2026-12-31\n"
            )
        ),
    )
    .unwrap();
    assert_eq!(
        PolicyDocuments::compile_files(std::slice::from_ref(&good))
            .unwrap()
            .policies
            .len(),
        1
    );
    let err = PolicyDocuments::compile_files(&[good, bad.clone(), dir.path().join("absent.yaml")])
        .unwrap_err();
    let text = err.to_string();
    assert_eq!(err.0.len(), 3, "{text}");
    assert!(text.starts_with("3 invalid policy documents:"), "{text}");
    assert!(
        text.contains(&format!(
            "{}, document 0 (ClusterScanPolicy base): spec.remediation.HIGH",
            bad.display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{}, document 1 (ScanException shop/x): spec.image",
            bad.display()
        )),
        "{text}"
    );
    assert!(text.contains("absent.yaml: No such file"), "{text}");
    let err = PolicyDocuments::compile_files(&[dir.path().join("x.yaml")]).unwrap_err();
    assert!(
        !err.to_string().contains("invalid policy documents"),
        "{err}"
    );
}

#[test]
fn broken_yaml_is_refused() {
    refused("kind: [\n", &["p.yaml, document 0: not valid YAML"]);
}
