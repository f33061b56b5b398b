//! `scangate diff OLD.json NEW.json`: what is new, fixed and unchanged
//! between two JSON scan reports.

use crate::model::Finding;
use crate::rescan::diff::{ScanDiff, diff};
use anyhow::Context;
use serde::Deserialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Arguments of `scangate diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The older report (`scangate scan --format json`).
    pub old: PathBuf,
    /// The newer report.
    pub new: PathBuf,
    #[arg(long, value_enum, default_value_t = DiffFormat::Table)]
    pub format: DiffFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    Table,
    Json,
}

/// The part of a scan report a diff needs; everything else is ignored so
/// reports from newer versions still compare.
#[derive(Deserialize)]
struct FindingsOnly {
    findings: Vec<Finding>,
}

fn read_findings(path: &Path) -> anyhow::Result<Vec<Finding>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let report: FindingsOnly = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a scangate JSON report", path.display()))?;
    Ok(report.findings)
}

pub fn run(args: DiffArgs) -> anyhow::Result<i32> {
    let changes = diff(&read_findings(&args.old)?, &read_findings(&args.new)?);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        DiffFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &changes)?;
            writeln!(out)?;
        }
        DiffFormat::Table => write_table(&mut out, &changes)?,
    }
    Ok(0)
}

fn write_table(out: &mut impl Write, changes: &ScanDiff) -> std::io::Result<()> {
    let sections: [(&str, &[Finding]); 3] = [
        ("NEW", &changes.new),
        ("FIXED", &changes.fixed),
        ("UNCHANGED", &changes.unchanged),
    ];
    for (title, findings) in sections {
        writeln!(out, "{title} ({})", findings.len())?;
        for f in findings {
            writeln!(
                out,
                "  {:<9} {:<24} {:<32} {:<20} -> {}",
                f.severity,
                f.id,
                f.package,
                f.installed_version,
                f.fixed_version.as_deref().unwrap_or("(no fix)")
            )?;
        }
    }
    Ok(())
}
