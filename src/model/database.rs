//! What is known about the vulnerability database in service.

/// The state of the vulnerability database a scanner matches against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseStatus {
    /// Content hash of the loaded database; part of every cache key.
    pub revision: String,
    /// When the loaded data was last refreshed from its source.
    pub updated_at: jiff::Timestamp,
}
