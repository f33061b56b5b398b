//! The in-memory vulnerability index, OSV loaders, sync from a mirror,
//! severity derivation, and matching of an inventory against it.

use crate::model::{Finding, Inventory};
use arc_swap::ArcSwapOption;
use std::sync::Arc;

/// What matching an inventory produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchOutcome {
    pub findings: Vec<Finding>,
    /// Ecosystems the inventory needs that the database does not cover.
    pub unchecked: Vec<String>,
}

/// A loaded, immutable vulnerability database. Swapped whole on refresh.
#[derive(Debug)]
pub struct Database {
    revision: String,
    updated_at: jiff::Timestamp,
}

impl Database {
    /// Content hash of the loaded records.
    pub fn revision(&self) -> &str {
        &self.revision
    }

    /// When the data was last refreshed from its source.
    pub fn updated_at(&self) -> jiff::Timestamp {
        self.updated_at
    }

    /// Every finding for every package of the inventory.
    pub fn match_inventory(&self, _inventory: &Inventory) -> MatchOutcome {
        // Placeholder until the OSV index lands (issue 6).
        MatchOutcome::default()
    }
}

/// The database in service, shared by everything that matches; a refresh
/// swaps it atomically and readers never wait.
#[derive(Debug, Clone, Default)]
pub struct DbHandle {
    current: Arc<ArcSwapOption<Database>>,
}

impl DbHandle {
    pub fn current(&self) -> Option<Arc<Database>> {
        self.current.load_full()
    }

    pub fn replace(&self, db: Database) {
        self.current.store(Some(Arc::new(db)));
    }
}
