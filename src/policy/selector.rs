//! Kubernetes label selectors (`matchLabels` and `matchExpressions`),
//! checked when a policy is compiled so that matching never meets an
//! operator it does not know.

use super::types::{NamespaceSelector, SelectorOperator};
use std::collections::BTreeMap;

/// A selector whose requirements have been checked; an absent or empty
/// one selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    labels: BTreeMap<String, String>,
    requirements: Vec<(String, SelectorOperator, Vec<String>)>,
}

/// Why a selector cannot be used: the field path below `namespaceSelector`
/// and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct SelectorError {
    pub path: String,
    pub problem: &'static str,
}

impl Selector {
    /// Everything.
    pub fn all() -> Selector {
        Selector::default()
    }

    /// Checks the Kubernetes rules: a key per requirement; `In` and `NotIn`
    /// with values, `Exists` and `DoesNotExist` without.
    pub fn compile(selector: Option<&NamespaceSelector>) -> Result<Selector, SelectorError> {
        let Some(selector) = selector else {
            return Ok(Selector::all());
        };
        let mut requirements = Vec::new();
        for (i, expr) in selector.match_expressions.iter().flatten().enumerate() {
            let path = |field: &str| format!("matchExpressions[{i}].{field}");
            if expr.key.trim().is_empty() {
                return Err(SelectorError {
                    path: path("key"),
                    problem: "empty: expected a label key",
                });
            }
            let values = expr.values.clone().unwrap_or_default();
            match (expr.operator, values.is_empty()) {
                (SelectorOperator::In | SelectorOperator::NotIn, true) => {
                    return Err(SelectorError {
                        path: path("values"),
                        problem: "empty: In and NotIn need at least one value",
                    });
                }
                (SelectorOperator::Exists | SelectorOperator::DoesNotExist, false) => {
                    return Err(SelectorError {
                        path: path("values"),
                        problem: "Exists and DoesNotExist take no values",
                    });
                }
                _ => {}
            }
            requirements.push((expr.key.clone(), expr.operator, values));
        }
        Ok(Selector {
            labels: selector.match_labels.clone().unwrap_or_default(),
            requirements,
        })
    }

    /// True if `labels` satisfy every pair and every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let labels_match = self
            .labels
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value));
        labels_match
            && self.requirements.iter().all(|(key, operator, values)| {
                let current = labels.get(key);
                match operator {
                    SelectorOperator::In => current.is_some_and(|v| values.contains(v)),
                    SelectorOperator::NotIn => current.is_none_or(|v| !values.contains(v)),
                    SelectorOperator::Exists => current.is_some(),
                    SelectorOperator::DoesNotExist => current.is_none(),
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::types::SelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, operator: SelectorOperator, values: &[&str]) -> SelectorRequirement {
        SelectorRequirement {
            key: key.into(),
            operator,
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    fn with(e: SelectorRequirement) -> Selector {
        Selector::compile(Some(&NamespaceSelector {
            match_expressions: Some(vec![e]),
            ..Default::default()
        }))
        .unwrap()
    }

    #[test]
    fn absent_and_empty_selectors_select_everything() {
        assert!(Selector::compile(None).unwrap().matches(&labels(&[])));
        let empty = Selector::compile(Some(&NamespaceSelector::default())).unwrap();
        assert!(empty.matches(&labels(&[])));
    }

    #[test]
    fn match_labels_need_every_pair() {
        let sel = Selector::compile(Some(&NamespaceSelector {
            match_labels: Some(labels(&[("env", "prod"), ("team", "pay")])),
            ..Default::default()
        }))
        .unwrap();
        assert!(sel.matches(&labels(&[("env", "prod"), ("team", "pay"), ("x", "y")])));
        assert!(!sel.matches(&labels(&[("env", "prod")])));
        assert!(!sel.matches(&labels(&[("env", "dev"), ("team", "pay")])));
    }

    #[test]
    fn every_operator() {
        use SelectorOperator::*;
        let prod = labels(&[("env", "prod")]);
        let dev = labels(&[("env", "dev")]);
        let none = labels(&[]);
        let in_ = with(expr("env", In, &["prod", "staging"]));
        assert!(in_.matches(&prod) && !in_.matches(&dev) && !in_.matches(&none));
        let not_in = with(expr("env", NotIn, &["prod"]));
        assert!(!not_in.matches(&prod) && not_in.matches(&dev) && not_in.matches(&none));
        let exists = with(expr("env", Exists, &[]));
        assert!(exists.matches(&dev) && !exists.matches(&none));
        let absent = with(expr("env", DoesNotExist, &[]));
        assert!(!absent.matches(&dev) && absent.matches(&none));
    }

    #[test]
    fn requirements_that_kubernetes_refuses_are_refused() {
        use SelectorOperator::*;
        let compile = |e| {
            Selector::compile(Some(&NamespaceSelector {
                match_expressions: Some(vec![e]),
                ..Default::default()
            }))
            .unwrap_err()
            .to_string()
        };
        let err = compile(expr("env", In, &[]));
        assert!(
            err.starts_with("matchExpressions[0].values: empty"),
            "{err}"
        );
        let err = compile(expr("env", Exists, &["x"]));
        assert!(err.contains("take no values"), "{err}");
        let err = compile(expr(" ", Exists, &[]));
        assert!(err.starts_with("matchExpressions[0].key"), "{err}");
    }
}
