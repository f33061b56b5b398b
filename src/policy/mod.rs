//! Policy and exception types (the CRD specs), their validation and
//! compilation when loaded, and the pure evaluation of findings into a
//! verdict. No I/O here except reading policy files.

pub(crate) mod compile;
pub(crate) mod eval;
pub mod load;
pub(crate) mod refusal;
pub mod remediation;
pub(crate) mod selector;
pub(crate) mod types;

#[cfg(test)]
mod eval_tests;

pub use compile::{CompiledException, CompiledPolicy, InvalidObject, PolicySet, ValidationError};
pub use eval::{
    BREAK_GLASS_ANNOTATION, EvalInput, ImageOutcome, ImageResult, ProblemKind, Verdict, evaluate,
};
pub use types::*;

/// Namespaces whose ScanExceptions apply in every namespace unless
/// configured otherwise: scangate's own.
pub fn default_cluster_wide_exception_namespaces() -> Vec<String> {
    vec!["scangate".into()]
}
