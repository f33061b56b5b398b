//! `scangate db`: what the vulnerability database holds, and mirroring it.

use crate::vulndb::source::DEFAULT_DB_CACHE_DIR;
use crate::vulndb::sync::EcosystemSync;
use crate::vulndb::{DbMetrics, DbSource, LoadOptions, SyncConfig};
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum DbCommand {
    /// Print each ecosystem's record count, update time and the revision.
    Info {
        /// The database root (`<Ecosystem>/all.zip` folders), or a
        /// `file://` / `https://` mirror synced into `--cache-dir` first.
        #[arg(long, default_value = "examples/db")]
        db: String,
        /// Where a mirrored database is kept.
        #[arg(long, default_value = DEFAULT_DB_CACHE_DIR)]
        cache_dir: PathBuf,
    },
    /// Download the mirror's ecosystem zips into DIR (conditional requests,
    /// verified, swapped atomically; a failed download keeps the old zip).
    Sync {
        #[arg(long)]
        mirror: String,
        #[arg(long)]
        dir: PathBuf,
        /// Base ecosystems to fetch (repeatable); default: the mirror's list.
        #[arg(long = "ecosystem")]
        ecosystems: Vec<String>,
    },
}

pub async fn run(cmd: DbCommand) -> anyhow::Result<i32> {
    match cmd {
        DbCommand::Info { db, cache_dir } => {
            let source = DbSource::parse(&db, &cache_dir);
            let database =
                crate::vulndb::open(&source, &LoadOptions::default(), &DbMetrics::default())
                    .await?;
            println!("revision: {}", database.revision());
            println!("updated:  {}", database.updated_at());
            println!(
                "{:<16} {:>9} {:>8}  {:<22} releases",
                "ECOSYSTEM", "RECORDS", "SKIPPED", "NEWEST RECORD"
            );
            for (name, info) in database.ecosystems() {
                let releases: Vec<&str> = info.releases.iter().map(String::as_str).collect();
                println!(
                    "{:<16} {:>9} {:>8}  {:<22} {}",
                    name,
                    info.records,
                    info.skipped,
                    info.updated.as_deref().unwrap_or("-"),
                    if releases.is_empty() {
                        "-".to_string()
                    } else {
                        releases.join(" ")
                    }
                );
            }
            Ok(0)
        }
        DbCommand::Sync {
            mirror,
            dir,
            ecosystems,
        } => {
            std::fs::create_dir_all(&dir)?;
            let config = SyncConfig {
                ecosystems,
                ..SyncConfig::default()
            };
            let report =
                crate::vulndb::sync_mirror(&mirror, &dir, &config, &DbMetrics::default()).await?;
            for (eco, outcome) in &report.ecosystems {
                match outcome {
                    EcosystemSync::Updated { records } => {
                        println!("{eco:<16} updated ({records} records)")
                    }
                    EcosystemSync::Unchanged => println!("{eco:<16} unchanged"),
                    EcosystemSync::Failed(e) => println!("{eco:<16} FAILED: {e}"),
                }
            }
            Ok(if report.failed() > 0 { 1 } else { 0 })
        }
    }
}
