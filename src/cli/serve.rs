//! `scangate serve`.

/// Arguments of `scangate serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {}

pub async fn run(_args: ServeArgs) -> anyhow::Result<i32> {
    anyhow::bail!("scangate serve is not implemented yet")
}
