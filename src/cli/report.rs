//! `scangate report --history DIR`: findings over time per image and
//! overall, as a table, as JSON, and as a self-contained HTML page.

use crate::model::Severity;
use crate::policy::remediation::parse_duration;
use crate::rescan::history::{HistoryStore, Retention};
use crate::rescan::timeline::{HistoryReport, build_report};
use anyhow::Context;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `scangate report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The history directory (one folder per image, JSON scan documents).
    #[arg(long)]
    pub history: PathBuf,
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// Also write a self-contained HTML page with charts to this file.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// A response window, e.g. `CRITICAL=24h` (repeatable). Defaults:
    /// CRITICAL=24h, HIGH=7d, MEDIUM=30d.
    #[arg(long = "remediation", value_name = "SEVERITY=DURATION")]
    pub remediation: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
}

fn windows(args: &[String]) -> anyhow::Result<BTreeMap<Severity, jiff::SignedDuration>> {
    let pairs: Vec<(String, String)> = if args.is_empty() {
        [("CRITICAL", "24h"), ("HIGH", "7d"), ("MEDIUM", "30d")]
            .map(|(s, d)| (s.to_string(), d.to_string()))
            .to_vec()
    } else {
        args.iter()
            .map(|arg| {
                arg.split_once('=')
                    .map(|(s, d)| (s.to_string(), d.to_string()))
                    .with_context(|| format!("--remediation {arg:?}: expected SEVERITY=DURATION"))
            })
            .collect::<anyhow::Result<_>>()?
    };
    pairs
        .into_iter()
        .map(|(severity, duration)| {
            let severity = Severity::parse(&severity)
                .with_context(|| format!("unknown severity {severity:?}"))?;
            Ok((severity, parse_duration(&duration)?))
        })
        .collect()
}

pub fn run(args: ReportArgs) -> anyhow::Result<i32> {
    let windows = windows(&args.remediation)?;
    let store = HistoryStore::new(&args.history, Retention::default());
    let docs = store.load_all()?;
    let report = build_report(&docs, &windows, jiff::Timestamp::now());
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        ReportFormat::Table => write_table(&mut out, &report)?,
    }
    if let Some(path) = &args.html {
        std::fs::write(path, crate::rescan::html::render(&report))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(0)
}

fn write_table(out: &mut impl Write, report: &HistoryReport) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<48} {:>6} {:>7} {:>6} {:>5} {:>8} {:>10}",
        "IMAGE", "SCANS", "OPENED", "FIXED", "OPEN", "OVERDUE", "MTTR"
    )?;
    let mttr = |h: Option<f64>| h.map(|h| format!("{h:.1}h")).unwrap_or_else(|| "-".into());
    for image in &report.images {
        let s = &image.summary;
        writeln!(
            out,
            "{:<48} {:>6} {:>7} {:>6} {:>5} {:>8} {:>10}",
            image.image,
            image.scans,
            s.opened,
            s.fixed,
            s.open,
            s.overdue,
            mttr(s.mean_hours_to_remediate)
        )?;
    }
    let s = &report.overall;
    writeln!(
        out,
        "{:<48} {:>6} {:>7} {:>6} {:>5} {:>8} {:>10}",
        "ALL",
        report.images.iter().map(|i| i.scans).sum::<usize>(),
        s.opened,
        s.fixed,
        s.open,
        s.overdue,
        mttr(s.mean_hours_to_remediate)
    )
}
