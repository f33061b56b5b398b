//! `scangate db`: what the vulnerability database holds.

use crate::vulndb::{DbConfig, load_dir};
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum DbCommand {
    /// Print each ecosystem's record count, update time and the revision.
    Info {
        /// The database root (`<Ecosystem>/all.zip` folders).
        #[arg(long, default_value = "examples/db")]
        db: PathBuf,
    },
}

pub async fn run(cmd: DbCommand) -> anyhow::Result<i32> {
    match cmd {
        DbCommand::Info { db } => {
            let database = load_dir(&db, &DbConfig::default())?;
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
    }
}
