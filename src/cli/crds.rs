//! `scangate crds`.

/// Arguments of `scangate crds`.
#[derive(Debug, clap::Args)]
pub struct CrdsArgs {}

pub fn run(_args: CrdsArgs) -> anyhow::Result<i32> {
    anyhow::bail!("scangate crds is not implemented yet")
}
