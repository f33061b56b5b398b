//! The command-line interface: one module per subcommand, each with its
//! clap arguments and a `run` that calls the library.

pub(crate) mod crds;
pub(crate) mod db;
pub(crate) mod diff;
pub(crate) mod policy;
pub(crate) mod report;
pub(crate) mod scan;
pub(crate) mod serve;

use clap::{Parser, Subcommand};

/// The exit code of every error and refused input (a usage error, an
/// invalid configuration or policy file, a failed scan); `main` returns it
/// for any error, as clap does for a usage error.
pub const EXIT_ERROR: i32 = 2;

/// scangate: keeps vulnerable container images out of Kubernetes clusters.
#[derive(Debug, Parser)]
#[command(name = "scangate", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the admission webhook.
    Serve(serve::ServeArgs),
    /// Scan one image and judge it by policy (for CI pipelines).
    Scan(scan::ScanArgs),
    /// Manage the vulnerability database.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Compare two JSON scan reports.
    Diff(diff::DiffArgs),
    /// Summarise the scan history.
    Report(report::ReportArgs),
    /// Print the CustomResourceDefinitions as YAML.
    Crds(crds::CrdsArgs),
    /// Check policy and exception files.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
}

/// Runs the parsed command; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Scan(args) => scan::run(args).await,
        Command::Db(cmd) => db::run(cmd).await,
        Command::Diff(args) => diff::run(args),
        Command::Report(args) => report::run(args),
        Command::Crds(args) => crds::run(args),
        Command::Policy(cmd) => policy::run(cmd),
    }
}
