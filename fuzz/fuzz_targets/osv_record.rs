//! OSV record parsing and range evaluation: arbitrary JSON never panics
//! the loader, and any version can be checked against what it loaded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scangate::model::{Inventory, Location, Package, PackageKind};
use scangate::vulndb::load::from_records;
use scangate::vulndb::osv::Record;

fuzz_target!(|data: &[u8]| {
    let Some((version, json)) = data.split_first().map(|(n, rest)| {
        let cut = usize::from(*n).min(rest.len());
        (
            String::from_utf8_lossy(&rest[..cut]).into_owned(),
            &rest[cut..],
        )
    }) else {
        return;
    };
    let Ok(record) = serde_json::from_slice::<Record>(json) else {
        return;
    };
    let packages: Vec<Package> = record
        .affected
        .iter()
        .filter_map(|a| a.package.as_ref())
        .map(|p| Package {
            name: p.name.to_string(),
            version: version.clone(),
            kind: PackageKind::Golang,
            purl: String::new(),
            source_name: None,
            source_version: None,
            arch: None,
            location: Location::default(),
        })
        .collect();
    let db = from_records(
        vec![("Go".to_string(), record)],
        "fuzz".into(),
        jiff::Timestamp::UNIX_EPOCH,
    );
    let _ = db.match_inventory(&Inventory { os: None, packages });
});
