//! `scangate scan IMAGE`: the same engine, database, policy and exceptions
//! as the webhook, for CI pipelines.

use crate::model::DatabaseStatus;
use crate::model::{ScanReport, Severity};
use crate::policy::compile::{Origin, compile_policy};
use crate::policy::eval::{FindingBrief, ProblemKind};
use crate::policy::load::PolicyDocuments;
use crate::policy::{
    ClusterScanPolicy, ClusterScanPolicySpec, CompiledException, CompiledPolicy, EvalInput, FailOn,
    ImageOutcome, ImageResult, PolicyMode, PolicySet, Verdict, evaluate,
};
use crate::registry::Credentials;
use crate::registry::docker_config::read_docker_config;
use crate::registry::local::ImageSource;
use crate::scan::Scanner;
use crate::scan::engine::ImageScanner;
use crate::scan::format::{ExceptedFinding, ScanDocument, VerdictSummary, Violation};
use crate::scan::limits::ScannerConfig;
use crate::vulndb::source::DEFAULT_DB_CACHE_DIR;
use crate::vulndb::{DbHandle, DbMetrics, DbSource};
use anyhow::Context;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// Arguments of `scangate scan`.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// A registry reference (`nginx:1.27`), `oci:DIR[:TAG]` or `docker-archive:FILE`.
    pub image: String,
    /// The vulnerability database root (`<Ecosystem>/all.zip` folders), or
    /// a `file://` / `https://` mirror synced into `--cache-dir` first.
    #[arg(long, env = "SCANGATE_DB", default_value = "examples/db")]
    pub db: String,
    /// Where a mirrored database is kept; its index snapshots go to
    /// `<cache-dir>/snapshots` (the server's `db.cacheDir` layout).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DB_CACHE_DIR)]
    pub cache_dir: PathBuf,
    /// Policy and exception documents (the custom resources' YAML); repeatable.
    #[arg(long = "policy", value_name = "FILE")]
    pub policies: Vec<PathBuf>,
    /// Without --policy: the severities that fail, e.g. `HIGH,CRITICAL`
    /// (the lowest one listed is the threshold). Also filters the output.
    #[arg(long, value_delimiter = ',')]
    pub severity: Vec<String>,
    /// Only findings with a fixed version count (and are shown).
    #[arg(long)]
    pub fixable_only: bool,
    /// The exit code when the policy is violated (not 2, the code of
    /// errors and refused input).
    #[arg(long, default_value_t = 0, value_parser = violation_exit_code)]
    pub exit_code: u8,
    /// Judge the image under this reference (the name it will be pushed
    /// as): policies' exemptions and exceptions' image globs match it.
    /// Useful with `oci:` and `docker-archive:` sources.
    #[arg(long = "as", value_name = "REFERENCE")]
    pub judge_as: Option<String>,
    /// The namespace whose policies and exceptions apply.
    #[arg(long, default_value = "default")]
    pub namespace: String,
    #[arg(long, value_enum, default_value_t = ScanFormat::Table)]
    pub format: ScanFormat,
    /// Write the report here instead of standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Registry credentials: a Docker config JSON (a dockerconfigjson pull secret's content).
    #[arg(long)]
    pub docker_config: Option<PathBuf>,
    /// A registry reached over plain HTTP (`HOST:PORT`); repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    pub insecure_registries: Vec<String>,
    /// The platform chosen from a multi-arch index (`linux/arm64`).
    #[arg(long)]
    pub platform: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScanFormat {
    Table,
    Json,
    Sarif,
    Cyclonedx,
}

/// `--exit-code`: any code but [`super::EXIT_ERROR`], so that a violation
/// is never mistaken for a refused policy file or a failed scan.
fn violation_exit_code(text: &str) -> Result<u8, String> {
    let code: u8 = text.parse().map_err(|e| format!("{e}"))?;
    if i32::from(code) == super::EXIT_ERROR {
        return Err(format!(
            "{code} is the code of errors (a refused policy file, a failed scan); choose another"
        ));
    }
    Ok(code)
}

/// The policy the flags describe when no policy file is given.
fn flag_policy(args: &ScanArgs) -> anyhow::Result<CompiledPolicy> {
    let severities = parse_severities(&args.severity)?;
    let threshold = severities
        .iter()
        .min()
        .copied()
        .unwrap_or(Severity::Unknown);
    let mut policy = ClusterScanPolicy::new(
        "command-line",
        ClusterScanPolicySpec {
            mode: PolicyMode::Enforce,
            fail_on: FailOn {
                severity: threshold,
                fixable_only: args.fixable_only,
                unknown_severity_as: Severity::Unknown,
            },
            ..ClusterScanPolicySpec::default()
        },
    );
    policy.metadata.name = Some("command-line".into());
    let origin = Origin::Object {
        kind: "command line".into(),
        namespace: None,
        name: "flags".into(),
    };
    Ok(compile_policy(&policy, &origin)?)
}

fn parse_severities(list: &[String]) -> anyhow::Result<BTreeSet<Severity>> {
    list.iter()
        .map(|s| Severity::parse(s).with_context(|| format!("unknown severity {s:?}")))
        .collect()
}

fn brief_to_violation(brief: &FindingBrief, policy: &str) -> Violation {
    Violation {
        id: brief.id.clone(),
        package: brief.package.clone(),
        installed_version: brief.installed.clone(),
        fixed_version: brief.fixed.clone(),
        severity: brief.severity,
        policy: policy.to_string(),
    }
}

fn violations(verdict: &Verdict) -> Vec<Violation> {
    let mut out = Vec::new();
    for problem in &verdict.problems {
        if let ProblemKind::Vulnerable { top, .. } = &problem.kind {
            out.extend(top.iter().map(|b| brief_to_violation(b, &problem.policy)));
        }
    }
    out
}

/// Findings an exception set aside: violating without exceptions, not with.
fn excepted(
    without: &[Violation],
    with: &[Violation],
    exceptions: &[CompiledException],
    report: &ScanReport,
) -> Vec<ExceptedFinding> {
    let kept: BTreeSet<(&str, &str)> = with
        .iter()
        .map(|v| (v.id.as_str(), v.package.as_str()))
        .collect();
    let mut out: Vec<ExceptedFinding> = Vec::new();
    let mut seen = BTreeSet::new();
    for v in without {
        if kept.contains(&(v.id.as_str(), v.package.as_str()))
            || !seen.insert((v.id.clone(), v.package.clone()))
        {
            continue;
        }
        let finding = report
            .findings
            .iter()
            .find(|f| f.id == v.id && f.package == v.package);
        let exception = exceptions
            .iter()
            .find(|e| e.every_vulnerability || finding.is_some_and(|f| e.names(f)));
        out.push(ExceptedFinding {
            id: v.id.clone(),
            package: v.package.clone(),
            exception: exception
                .map(|e| format!("{}/{}", e.namespace, e.name))
                .unwrap_or_default(),
            reason: exception.map(|e| e.reason.clone()).unwrap_or_default(),
            expires: exception.map(|e| e.expires.to_string()).unwrap_or_default(),
        });
    }
    out
}

fn judge(
    args: &ScanArgs,
    report: &Arc<ScanReport>,
    documents: &PolicySet,
    database: Option<&DatabaseStatus>,
) -> anyhow::Result<VerdictSummary> {
    let policies = if documents.policies.is_empty() {
        vec![flag_policy(args)?]
    } else {
        documents.policies.clone()
    };
    let name = match &args.judge_as {
        Some(reference) => crate::registry::ImageRef::parse(reference)?.to_string(),
        None => report.image.clone(),
    };
    let images = [ImageOutcome {
        reference: name.clone(),
        normalized: name.into(),
        digest: Some(report.digest.clone()),
        result: ImageResult::Scanned(report.clone()),
        running: None,
    }];
    let labels = BTreeMap::new();
    // As in the cluster: exceptions in scangate's own namespace apply everywhere.
    let cluster_wide = crate::admission::WebhookConfig::default().cluster_wide_exception_namespaces;
    let now = jiff::Timestamp::now();
    let run = |exceptions: &[CompiledException]| {
        evaluate(&EvalInput {
            namespace: &args.namespace,
            namespace_labels: &labels,
            annotations: &labels,
            images: &images,
            policies: &policies,
            exceptions,
            today: now.to_zoned(jiff::tz::TimeZone::UTC).date(),
            now,
            database,
            cluster_wide_namespaces: &cluster_wide,
            max_listed: usize::MAX,
        })
    };
    let verdict = run(&documents.exceptions);
    let with = violations(&verdict);
    let without = violations(&run(&[]));
    let mut warnings: Vec<String> = verdict
        .expired_exceptions
        .iter()
        .map(|e| {
            format!(
                "exception {}/{} expired on {}",
                e.namespace, e.name, e.expires
            )
        })
        .collect();
    warnings.extend(
        report
            .unchecked
            .iter()
            .map(|u| format!("not checked, no data: {u}")),
    );
    Ok(VerdictSummary {
        passed: verdict.allowed(),
        policies: verdict.policies.clone(),
        excepted: excepted(&without, &with, &documents.exceptions, report),
        violations: with,
        warnings,
    })
}

/// Keeps the findings the severity and fixable filters select.
fn filter_findings(args: &ScanArgs, doc: &mut ScanDocument) -> anyhow::Result<()> {
    let severities = parse_severities(&args.severity)?;
    doc.findings.retain(|f| {
        (severities.is_empty() || severities.contains(&f.severity))
            && (!args.fixable_only || f.is_fixable())
    });
    doc.counts = crate::scan::format::document::count_by_severity(&doc.findings);
    Ok(())
}

pub async fn run(args: ScanArgs) -> anyhow::Result<i32> {
    // First, so that a refused policy file costs no scan.
    let documents = PolicyDocuments::compile_files(&args.policies)?;
    let source = ImageSource::parse(&args.image)?;
    // The server's loading path: the same source parsing, mirror sync and snapshot.
    let db_config = crate::vulndb::DbConfig {
        root: Some(PathBuf::from(&args.db)),
        cache_dir: args.cache_dir.clone(),
        ..crate::vulndb::DbConfig::default()
    };
    let database = crate::vulndb::open(
        &DbSource::parse(&args.db, &db_config.cache_dir),
        &db_config.loader(),
        &DbMetrics::default(),
    )
    .await
    .with_context(|| format!("loading the vulnerability database {}", args.db))?;
    let db = DbHandle::default();
    db.replace(database);
    let mut config = ScannerConfig::default();
    config.registries.insecure_registries = args.insecure_registries.clone();
    if let Some(platform) = &args.platform {
        config.platform = platform
            .parse()
            .map_err(|e| anyhow::anyhow!("--platform {platform:?}: {e:?}"))?;
    }
    let creds = match &args.docker_config {
        Some(path) => read_docker_config(path)?,
        None => Credentials::anonymous(),
    };
    let scanner = ImageScanner::new(config, db);
    let report = Arc::new(scanner.scan_source(&source, &creds).await?);
    let verdict = judge(&args, &report, &documents, scanner.database().as_ref())?;
    let passed = verdict.passed;
    let mut doc = ScanDocument::new(&report, Some(verdict));
    filter_findings(&args, &mut doc)?;

    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    match args.format {
        ScanFormat::Table => {
            let ansi = args.output.is_none() && std::io::stdout().is_terminal();
            crate::scan::format::table::render(&doc, &mut out, ansi)?;
        }
        ScanFormat::Json => serde_json::to_writer_pretty(&mut out, &doc)?,
        ScanFormat::Sarif => {
            serde_json::to_writer_pretty(&mut out, &crate::scan::format::sarif::render(&doc))?
        }
        ScanFormat::Cyclonedx => {
            serde_json::to_writer_pretty(&mut out, &crate::scan::format::cyclonedx::render(&doc))?
        }
    }
    if args.format != ScanFormat::Table {
        writeln!(out)?;
    }
    out.flush()?;
    Ok(if passed { 0 } else { i32::from(args.exit_code) })
}
