//! `scangate db`.

#[derive(Debug, clap::Subcommand)]
pub enum DbCommand {
    /// Print each ecosystem's record count, update time and the revision.
    Info {},
}

pub async fn run(_cmd: DbCommand) -> anyhow::Result<i32> {
    anyhow::bail!("scangate db is not implemented yet")
}
