//! `scangate crds`: the CustomResourceDefinitions, generated from the Rust
//! types, as one multi-document YAML stream (the chart's copy must match).

/// Arguments of `scangate crds`.
#[derive(Debug, clap::Args)]
pub struct CrdsArgs {}

pub fn run(_args: CrdsArgs) -> anyhow::Result<i32> {
    print!("{}", crate::k8s::crds::crds_yaml()?);
    Ok(0)
}
