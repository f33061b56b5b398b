//! `scangate scan`.

/// Arguments of `scangate scan`.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {}

pub async fn run(_args: ScanArgs) -> anyhow::Result<i32> {
    anyhow::bail!("scangate scan is not implemented yet")
}
