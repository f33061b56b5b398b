//! `scangate diff`.

/// Arguments of `scangate diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {}

pub fn run(_args: DiffArgs) -> anyhow::Result<i32> {
    anyhow::bail!("scangate diff is not implemented yet")
}
