//! Kubernetes label selectors (`matchLabels` and `matchExpressions`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;

/// True if `labels` satisfy `selector`; an absent or empty selector selects
/// everything.
pub fn selects(selector: Option<&LabelSelector>, labels: &BTreeMap<String, String>) -> bool {
    let Some(selector) = selector else {
        return true;
    };
    let labels_match = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(key, value)| labels.get(key) == Some(value));
    let expressions_match = selector.match_expressions.iter().flatten().all(|expr| {
        let values = expr.values.as_deref().unwrap_or_default();
        let current = labels.get(&expr.key);
        match expr.operator.as_str() {
            "In" => current.is_some_and(|v| values.contains(v)),
            "NotIn" => current.is_none_or(|v| !values.contains(v)),
            "Exists" => current.is_some(),
            "DoesNotExist" => current.is_none(),
            // The API server rejects other operators in a CRD with a schema;
            // if one slips through, the policy still applies (fail closed).
            _ => true,
        }
    });
    labels_match && expressions_match
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn absent_and_empty_selectors_select_everything() {
        assert!(selects(None, &labels(&[])));
        assert!(selects(Some(&LabelSelector::default()), &labels(&[])));
    }

    #[test]
    fn match_labels_need_every_pair() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("env", "prod"), ("team", "pay")])),
            ..Default::default()
        };
        assert!(selects(
            Some(&sel),
            &labels(&[("env", "prod"), ("team", "pay"), ("x", "y")])
        ));
        assert!(!selects(Some(&sel), &labels(&[("env", "prod")])));
        assert!(!selects(
            Some(&sel),
            &labels(&[("env", "dev"), ("team", "pay")])
        ));
    }

    #[test]
    fn every_operator() {
        let with = |e| LabelSelector {
            match_expressions: Some(vec![e]),
            ..Default::default()
        };
        let prod = labels(&[("env", "prod")]);
        let dev = labels(&[("env", "dev")]);
        let none = labels(&[]);
        let in_ = with(expr("env", "In", &["prod", "staging"]));
        assert!(
            selects(Some(&in_), &prod) && !selects(Some(&in_), &dev) && !selects(Some(&in_), &none)
        );
        let not_in = with(expr("env", "NotIn", &["prod"]));
        assert!(
            !selects(Some(&not_in), &prod)
                && selects(Some(&not_in), &dev)
                && selects(Some(&not_in), &none)
        );
        let exists = with(expr("env", "Exists", &[]));
        assert!(selects(Some(&exists), &dev) && !selects(Some(&exists), &none));
        let absent = with(expr("env", "DoesNotExist", &[]));
        assert!(!selects(Some(&absent), &dev) && selects(Some(&absent), &none));
    }
}
