//! Policy and exception types (the CRD specs) and the pure evaluation of
//! findings into a verdict. No I/O here.

pub mod types;

pub use types::*;
