//! Output formats of `scangate scan`: a terminal table, the documented JSON
//! document (`docs/report-format.md`), SARIF and CycloneDX.

pub(crate) mod cyclonedx;
pub(crate) mod document;
pub(crate) mod sarif;
pub(crate) mod table;

pub use document::{ExceptedFinding, ScanDocument, VerdictSummary, Violation};
