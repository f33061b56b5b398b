//! `scangate policy check FILE...`: the loader's validation, for a CI
//! pipeline over a policy repository. Exit 0 when every document is valid;
//! otherwise every refusal is printed and the exit code is
//! [`super::EXIT_ERROR`].

use crate::policy::load::PolicyDocuments;
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Validate ClusterScanPolicy and ScanException documents as `serve`,
    /// `scan --policy` and the cluster watch do.
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// YAML files of policy and exception documents.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}

pub fn run(command: PolicyCommand) -> anyhow::Result<i32> {
    let PolicyCommand::Check(args) = command;
    match PolicyDocuments::read_files(&args.files) {
        Ok(documents) => {
            println!(
                "{} file(s) valid: {} ClusterScanPolicy, {} ScanException",
                args.files.len(),
                documents.policies.len(),
                documents.exceptions.len()
            );
            Ok(0)
        }
        Err(errors) => {
            eprintln!("scangate: {errors}");
            Ok(super::EXIT_ERROR)
        }
    }
}
