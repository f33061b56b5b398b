//! The in-memory vulnerability index, OSV loaders, sync from a mirror,
//! severity derivation, and matching of an inventory against it.

use crate::model::{Finding, Inventory};

/// What matching an inventory produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchOutcome {
    pub findings: Vec<Finding>,
    /// Ecosystems the inventory needs that the database does not cover.
    pub unchecked: Vec<String>,
}

/// A loaded, immutable vulnerability database. Swapped whole on refresh.
#[derive(Debug, Default)]
pub struct Database {
    revision: String,
}

impl Database {
    /// Content hash of the loaded records.
    pub fn revision(&self) -> &str {
        &self.revision
    }

    /// Every finding for every package of the inventory.
    pub fn match_inventory(&self, _inventory: &Inventory) -> MatchOutcome {
        // Placeholder until the OSV index lands (issue 6).
        MatchOutcome::default()
    }
}
