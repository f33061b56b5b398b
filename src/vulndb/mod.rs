//! The in-memory vulnerability index, OSV loaders, severity derivation,
//! and matching of an inventory against it.

pub(crate) mod config;
pub(crate) mod ecosystem;
pub mod load;
pub(crate) mod metrics;
pub mod osv;
pub(crate) mod package_entries;
pub mod ranges;
pub(crate) mod severity;
pub mod snapshot;
pub(crate) mod source;
mod stored;
pub mod sync;
pub mod trivy;

pub use config::DbConfig;
pub use load::{LoadError, LoadOptions, load_dir};
pub use metrics::{DbMetrics, register_metrics};
pub use source::{DbSource, OpenError, open, refresh_once, spawn_refresher};
pub use sync::{SyncConfig, SyncReport, sync_mirror};

use crate::model::{ArcStr, Finding, Inventory, Severity, SeveritySource};
use crate::version::VersionScheme;
use arc_swap::ArcSwapOption;
use package_entries::PackageEntries;
use ranges::{CompactRange, VersionList};
use smallvec::SmallVec;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// What matching an inventory produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchOutcome {
    pub findings: Vec<Finding>,
    /// Ecosystems the inventory needs that the database does not cover.
    pub unchecked: Vec<String>,
}

/// One vulnerability record, as much of it as findings report.
#[derive(Debug, Clone, PartialEq)]
pub struct VulnRecord {
    pub id: ArcStr,
    pub aliases: Vec<ArcStr>,
    pub upstream: Vec<ArcStr>,
    pub summary: Option<ArcStr>,
    pub published: Option<ArcStr>,
    pub severity: Severity,
    pub severity_source: SeveritySource,
    pub cvss_score: Option<f64>,
    pub cvss_vector: Option<ArcStr>,
}

/// Ecosystem with release → package name → that package's entries.
pub type PackageIndex = HashMap<Box<str>, HashMap<Box<str>, PackageEntries>>;

/// One `affected` entry of a record, compact.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AffectedEntry {
    /// Index into [`Database::records`].
    pub record: u32,
    /// Most entries have one range: kept inline, one pointer chase less
    /// per entry checked.
    pub ranges: SmallVec<[CompactRange; 1]>,
    pub versions: VersionList,
}

/// What was loaded of one ecosystem (an `<Ecosystem>/all.zip`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EcosystemInfo {
    pub records: usize,
    /// Releases named by its records (`12` of `Debian:12`).
    pub releases: BTreeSet<String>,
    /// The newest `modified` time among its records.
    pub updated: Option<String>,
    /// Records skipped because they did not parse.
    pub skipped: usize,
}

/// A loaded, immutable vulnerability database. Swapped whole on refresh.
#[derive(Debug)]
pub struct Database {
    revision: String,
    updated_at: jiff::Timestamp,
    records: Vec<VulnRecord>,
    /// Ecosystem with release → package name → entries (two levels, so
    /// that a lookup borrows the names instead of allocating a key).
    index: PackageIndex,
    ecosystems: BTreeMap<String, EcosystemInfo>,
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

    pub fn ecosystems(&self) -> &BTreeMap<String, EcosystemInfo> {
        &self.ecosystems
    }

    pub fn records(&self) -> &[VulnRecord] {
        &self.records
    }

    /// Whether the database holds records for `ecosystem` (with release).
    fn covers(&self, ecosystem: &str) -> bool {
        let base = ecosystem::base(ecosystem);
        let Some(info) = self.ecosystems.get(base) else {
            return false;
        };
        match ecosystem.split_once(':') {
            None => true,
            Some((_, release)) => info.releases.contains(release),
        }
    }

    /// Every finding for every package of the inventory.
    pub fn match_inventory(&self, inventory: &Inventory) -> MatchOutcome {
        let os_target = ecosystem::os_target(inventory);
        let mut unchecked = BTreeSet::new();
        // The rank of each package's name, so that ordering the findings
        // compares numbers, not names.
        let name_rank = name_ranks(&inventory.packages);
        // What matched, small and in inventory order; the findings are
        // built once their order is known (below).
        let mut hits: Vec<Hit<'_>> = Vec::new();
        let mut package_text: Vec<PackageText> = Vec::new();
        let mut seen: HashSet<u32> = HashSet::new();
        // Records an earlier (higher-priority) key of the package has an
        // entry for: that entry's verdict stands (see `ecosystem::OsTarget`).
        let mut settled: HashSet<u32> = HashSet::new();
        for (package_index, package) in inventory.packages.iter().enumerate() {
            let keys = match ecosystem::lookup_keys(package, &os_target) {
                Ok(keys) => keys,
                Err(reason) => {
                    unchecked.insert(reason);
                    continue;
                }
            };
            let rank = name_rank.get(package_index).copied().unwrap_or(u32::MAX);
            seen.clear();
            settled.clear();
            let mut checked = false;
            for key in &keys {
                let scheme = VersionScheme::for_osv_ecosystem(&key.ecosystem)
                    .filter(|_| self.covers(&key.ecosystem));
                let Some(scheme) = scheme else {
                    if key.required {
                        unchecked.insert(key.ecosystem.clone());
                    }
                    continue;
                };
                checked = true;
                let Some(entries) = self
                    .index
                    .get(key.ecosystem.as_str())
                    .and_then(|e| e.get(key.name.as_str()))
                else {
                    continue;
                };
                let installed = crate::version::prepare(scheme, &key.version).ok();
                let first_hit = hits.len();
                for entry in entries.candidates(scheme, installed.as_ref()) {
                    if settled.contains(&entry.record) {
                        continue;
                    }
                    let verdict = ranges::check_prepared(
                        scheme,
                        &entry.ranges,
                        &entry.versions,
                        &key.version,
                        installed.as_ref(),
                    );
                    // One finding per record and package, the first entry's.
                    if !verdict.affected || !seen.insert(entry.record) {
                        continue;
                    }
                    let Some(record) = self.records.get(entry.record as usize) else {
                        continue;
                    };
                    hits.push(Hit {
                        order: (u64::from(u8::MAX - record.severity as u8) << 32) | u64::from(rank),
                        id: &record.id,
                        position: package_index,
                        record,
                        package,
                        text: package_text.len(),
                        // A fix this image cannot install is no fix for it.
                        fixed: verdict.fixed.filter(|_| key.fixes),
                    });
                }
                settled.extend(entries.entries().iter().map(|e| e.record));
                if hits.len() > first_hit {
                    // Shared by every finding of this package and key.
                    package_text.push(PackageText {
                        name: ArcStr::from(package.name.as_str()),
                        ecosystem: ArcStr::from(key.ecosystem.as_str()),
                        version: ArcStr::from(package.version.as_str()),
                    });
                }
            }
            // Optional streams alone: checked only if one of them is held.
            if !checked && let Some(first) = keys.first() {
                unchecked.insert(first.ecosystem.clone());
            }
        }
        // Most severe first, then by package name and ID; ties (one record
        // on two packages of one name) in inventory order.
        hits.sort_unstable_by(|a, b| (a.order, a.id, a.position).cmp(&(b.order, b.id, b.position)));
        let findings = hits
            .into_iter()
            .filter_map(|hit| {
                let (record, package) = (hit.record, hit.package);
                let text = package_text.get(hit.text)?;
                Some(Finding {
                    id: record.id.clone(),
                    aliases: record.aliases.clone(),
                    package: text.name.clone(),
                    kind: package.kind,
                    ecosystem: text.ecosystem.clone(),
                    installed_version: text.version.clone(),
                    fixed_version: hit.fixed,
                    severity: record.severity,
                    severity_source: record.severity_source.clone(),
                    cvss_score: record.cvss_score,
                    cvss_vector: record.cvss_vector.clone(),
                    summary: record.summary.clone(),
                    published: record.published.clone(),
                    location: Some(package.location.clone()),
                })
            })
            .collect();
        MatchOutcome {
            findings,
            unchecked: unchecked.into_iter().collect(),
        }
    }
}

/// One record affecting one installed package, before it becomes a
/// [`Finding`]: ordering these moves a few dozen bytes each, not the
/// findings' hundreds.
struct Hit<'a> {
    /// Severity (most severe first) and the package name's rank.
    order: u64,
    /// The record's ID, beside the order key for the sort.
    id: &'a str,
    /// The package's place in the inventory (the last tie-break).
    position: usize,
    record: &'a VulnRecord,
    package: &'a crate::model::Package,
    /// Index into the package texts of the match.
    text: usize,
    fixed: Option<String>,
}

/// A matched package's text, shared by all its findings.
struct PackageText {
    name: ArcStr,
    ecosystem: ArcStr,
    version: ArcStr,
}

/// Each package's place in the order of their names (equal names, equal
/// ranks).
fn name_ranks(packages: &[crate::model::Package]) -> Vec<u32> {
    let mut by_name: Vec<usize> = (0..packages.len()).collect();
    by_name.sort_by(|&a, &b| packages[a].name.cmp(&packages[b].name));
    let mut ranks = vec![0; packages.len()];
    let mut rank = 0u32;
    for (i, &package) in by_name.iter().enumerate() {
        if i > 0 && packages[by_name[i - 1]].name != packages[package].name {
            rank = rank.saturating_add(1);
        }
        ranks[package] = rank;
    }
    ranks
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
