//! Output formats of `scangate scan`: a terminal table, the documented JSON
//! document (`docs/report-format.md`), SARIF and CycloneDX.

pub mod cyclonedx;
pub mod document;
pub mod sarif;
pub mod table;

pub use document::{ExceptedFinding, ScanDocument, VerdictSummary, Violation};
