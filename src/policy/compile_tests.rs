//! The cluster's objects compiled one by one: what an invalid one keeps.

use super::*;
use serde_json::json;
use std::collections::BTreeMap;

fn policy(name: &str, spec: Value) -> Value {
    json!({"apiVersion": API_VERSION, "kind": POLICY_KIND, "metadata": {"name": name}, "spec": spec})
}

fn labels(env: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("env".to_string(), env.to_string())])
}

#[test]
fn an_invalid_cluster_policy_is_kept_with_what_can_be_read() {
    let set = PolicySet::from_objects(
        &[
            policy("ok", json!({"failOn": {"severity": "HIGH"}})),
            // Readable selector and mode: it selects prod, and only warns.
            policy(
                "audit-typo",
                json!({"mode": "Audit", "namespaceSelector": {"matchLabels": {"env": "prod"}},
                    "exemptImage": ["a"]}),
            ),
            // Unreadable selector: every namespace; unreadable mode: Enforce.
            policy(
                "selector-typo",
                json!({"mode": "enforce", "namespaceSelector": {"matchLabel": {"env": "prod"}}}),
            ),
        ],
        &[json!({"apiVersion": API_VERSION, "kind": EXCEPTION_KIND,
            "metadata": {"name": "x", "namespace": "shop"},
            "spec": {"vulnerabilities": ["*"], "reason": "r", "expires": "2030-01-01"}})],
    );
    assert_eq!(set.policies.len(), 3);
    assert!(set.policies[0].invalid.is_none());
    let audit = &set.policies[1];
    assert_eq!(audit.mode, PolicyMode::Audit);
    assert!(audit.selector.matches(&labels("prod")) && !audit.selector.matches(&labels("dev")));
    assert!(
        audit.invalid.as_deref().unwrap().starts_with(
            "ClusterScanPolicy audit-typo: spec.exemptImage: unknown field `exemptImage`"
        ),
        "{:?}",
        audit.invalid
    );
    let typo = &set.policies[2];
    assert_eq!(typo.mode, PolicyMode::Enforce);
    assert!(
        typo.selector.matches(&labels("dev")),
        "fails closed: every namespace"
    );
    assert!(
        set.exceptions.is_empty(),
        "an invalid exception exempts nothing"
    );
    assert_eq!(set.invalid_count(POLICY_KIND), 2);
    assert_eq!(set.invalid_count(EXCEPTION_KIND), 1);
    let exception = set
        .invalid
        .iter()
        .find(|o| o.kind == EXCEPTION_KIND)
        .unwrap();
    assert_eq!(exception.namespace.as_deref(), Some("shop"));
    assert!(
        exception
            .message
            .starts_with("ScanException shop/x: spec: missing field `images`"),
        "{}",
        exception.message
    );
}

#[test]
fn the_wrong_api_version_or_kind_is_invalid() {
    let mut old = policy("old", json!({}));
    old["apiVersion"] = json!("scangate.dev/v1");
    let set = PolicySet::from_objects(&[old], &[]);
    assert_eq!(
        set.invalid[0].message,
        "ClusterScanPolicy old: apiVersion \"scangate.dev/v1\": expected scangate.dev/v1alpha1"
    );
}
