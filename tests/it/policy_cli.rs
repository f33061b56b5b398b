//! The built binary refuses invalid policy files and configuration the way
//! a CI pipeline and an operator meet it: `scangate policy check`,
//! `scangate scan --policy`, `scangate serve --policy` and
//! `serve --check-config`, with their exit codes (2 for refused input,
//! never 0 and never the policy-violation code) and messages naming the
//! file, the field path and the expected form.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn scangate(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scangate"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The `image:` typo for `images:`: it used to exempt every finding of
/// every image.
const TYPO_EXCEPTION: &str = "apiVersion: scangate.dev/v1alpha1
kind: ScanException
metadata:
  name: accept-everything-in-payments
  namespace: shop
spec:
  vulnerabilities: [\"*\"]
  image: [\"demo.scangate.dev/payments-api:*\"]
  reason: migrating next sprint
  expires: \"2099-12-31\"
";

const BAD_POLICY: &str = "apiVersion: scangate.dev/v1alpha1
kind: ClusterScanPolicy
metadata:
  name: strict
spec:
  failOn: {severity: HIGH}
  remediation:
    HIGH: 7days
";

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("typo.yaml"), TYPO_EXCEPTION).unwrap();
        std::fs::write(
            dir.path().join("fixed.yaml"),
            TYPO_EXCEPTION.replace("  image:", "  images:"),
        )
        .unwrap();
        std::fs::write(dir.path().join("bad-policy.yaml"), BAD_POLICY).unwrap();
        Files { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

#[test]
fn policy_check_accepts_the_examples_and_refuses_each_mistake() {
    let files = Files::new();
    let ok = scangate(
        &[
            "policy",
            "check",
            "examples/policies/baseline.yaml",
            "examples/policies/exceptions.yaml",
        ],
        root(),
    );
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout).trim(),
        "2 file(s) valid: 2 ClusterScanPolicy, 1 ScanException"
    );

    let refused = scangate(
        &[
            "policy",
            "check",
            &files.path("typo.yaml"),
            &files.path("bad-policy.yaml"),
        ],
        root(),
    );
    assert_eq!(refused.status.code(), Some(2));
    let err = stderr(&refused);
    assert!(err.contains("2 invalid policy documents"), "{err}");
    assert!(
        err.contains(&format!(
            "{}, document 0 (ScanException shop/accept-everything-in-payments): spec.image: unknown field `image`, expected one of `vulnerabilities`, `images`",
            files.path("typo.yaml")
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{}, document 0 (ClusterScanPolicy strict): spec.remediation.HIGH: invalid duration \"7days\": expected a positive whole number and a unit",
            files.path("bad-policy.yaml")
        )),
        "{err}"
    );
    let missing = scangate(&["policy", "check"], root());
    assert_eq!(missing.status.code(), Some(2), "FILE is required");
}

/// The bundled payments-api has HIGH and CRITICAL findings: with the
/// corrected exception it passes; with the typo the file is refused (2),
/// neither passing (0) nor failing as a violation (`--exit-code 1`).
#[test]
fn scan_refuses_an_invalid_policy_file_before_scanning() {
    let files = Files::new();
    let scan = |policy: &str| {
        scangate(
            &[
                "scan",
                "oci:examples/images/payments-api",
                "--db",
                "examples/db",
                "--policy",
                "examples/policies/baseline.yaml",
                "--policy",
                policy,
                "--as",
                "demo.scangate.dev/payments-api:1.4.2",
                "--namespace",
                "shop",
                "--exit-code",
                "1",
                "--format",
                "json",
            ],
            root(),
        )
    };
    let without = scangate(
        &[
            "scan",
            "oci:examples/images/payments-api",
            "--db",
            "examples/db",
            "--policy",
            "examples/policies/baseline.yaml",
            "--as",
            "demo.scangate.dev/payments-api:1.4.2",
            "--namespace",
            "shop",
            "--exit-code",
            "1",
            "--format",
            "json",
        ],
        root(),
    );
    assert_eq!(
        without.status.code(),
        Some(1),
        "the image violates the baseline: {}",
        stderr(&without)
    );
    let fixed = scan(&files.path("fixed.yaml"));
    assert_eq!(fixed.status.code(), Some(0), "{}", stderr(&fixed));
    let typo = scan(&files.path("typo.yaml"));
    assert_eq!(typo.status.code(), Some(2));
    assert!(typo.stdout.is_empty(), "no report for a refused policy");
    let err = stderr(&typo);
    assert!(err.contains("spec.image: unknown field `image`"), "{err}");
    assert_eq!(
        err.matches("unknown field").count(),
        1,
        "the cause once: {err}"
    );

    let reserved = scangate(&["scan", "x", "--exit-code", "2"], root());
    assert_eq!(reserved.status.code(), Some(2));
    assert!(
        stderr(&reserved).contains("the code of errors"),
        "{}",
        stderr(&reserved)
    );
}

#[test]
fn serve_does_not_start_with_an_invalid_policy_file() {
    let files = Files::new();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_scangate"))
        .args([
            "serve",
            "--dev",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .args(["--policy", &files.path("bad-policy.yaml")])
        .current_dir(files.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("serve started with an invalid policy file");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("(ClusterScanPolicy strict): spec.remediation.HIGH"),
        "{err}"
    );
    assert!(
        !files.dir.path().join(".cache").exists(),
        "refused before anything was written"
    );
}

#[test]
fn check_config_exits_non_zero_on_any_problem() {
    let files = Files::new();
    let write = |name: &str, text: &str| {
        std::fs::write(files.dir.path().join(name), text).unwrap();
        files.path(name)
    };
    let good = write(
        "good.yaml",
        "scanner:\n  scanTimeout: 2m\nkubernetes:\n  events:\n    flushInterval: 5s\n",
    );
    let ok = scangate(&["serve", "--check-config", "--config", &good], root());
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("scanTimeout: 120s"));

    for (name, text, named) in [
        (
            "config-typo.yaml",
            "db:\n  refreshIntervall: 5m\n",
            "refreshIntervall",
        ),
        (
            "flat.yaml",
            "scanner:\n  insecureRegistry: [a]\n",
            "insecureRegistry",
        ),
        (
            "events.yaml",
            "kubernetes:\n  events:\n    flushIntervalSeconds: 5\n",
            "flushIntervalSeconds",
        ),
        (
            "old.yaml",
            "scanner:\n  scanTimeoutSeconds: 120\n",
            "scanTimeoutSeconds",
        ),
        (
            "unitless.yaml",
            "scanner:\n  scanTimeout: 120\n",
            "invalid duration",
        ),
        (
            "zero.yaml",
            "kubernetes:\n  pullSecrets:\n    cacheTtl: 0s\n",
            "expected a positive duration",
        ),
    ] {
        let path = write(name, text);
        let refused = scangate(&["serve", "--check-config", "--config", &path], root());
        assert_eq!(refused.status.code(), Some(2), "{name}");
        assert!(
            refused.stdout.is_empty(),
            "{name}: no configuration printed"
        );
        let err = stderr(&refused);
        assert!(err.contains(named) && err.contains(name), "{name}: {err}");
    }
    let with_policy = scangate(
        &[
            "serve",
            "--check-config",
            "--config",
            &good,
            "--policy",
            &files.path("typo.yaml"),
        ],
        root(),
    );
    assert_eq!(with_policy.status.code(), Some(2));
    assert!(
        stderr(&with_policy).contains("spec.image"),
        "{}",
        stderr(&with_policy)
    );
}
