//! The chart checks (helm lint, renders validated by kubernetes-validate,
//! manifests/ and the chart's CRDs up to date) via scripts/check-chart.py.
//! Needs the venv of scripts/deps/k8s.sh (`$VENV`, default `.venv`).

use std::path::PathBuf;
use std::process::Command;

/// Runs `script` with the venv's Python and the built binary; its output
/// is the failure message.
fn run_venv_script(script: &str) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let venv = std::env::var("VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join(".venv"));
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "{} missing: run scripts/deps/k8s.sh",
        python.display()
    );
    let output = Command::new(&python)
        .arg(root.join(script))
        .env("SCANGATE_BIN", env!("CARGO_BIN_EXE_scangate"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn chart_lints_renders_validates_and_manifests_are_current() {
    run_venv_script("scripts/check-chart.py");
}

/// The CRD schemas refuse what the loader refuses
/// (scripts/checks/policy-schemas.py: jsonschema and strict field
/// validation against every bad document, `scangate policy check` too).
#[test]
fn crd_schemas_refuse_what_the_loader_refuses() {
    run_venv_script("scripts/checks/policy-schemas.py");
}
