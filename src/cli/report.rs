//! `scangate report`.

/// Arguments of `scangate report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {}

pub fn run(_args: ReportArgs) -> anyhow::Result<i32> {
    anyhow::bail!("scangate report is not implemented yet")
}
