//! The CLI's error messages name each cause once: an error that writes its
//! cause into its own message does not also hand it on as its `source`
//! (the CLI prints the whole chain).

use std::process::Command;

/// Runs `scangate ARGS`; its exit code and standard error.
fn scangate(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_scangate"))
        .args(args)
        .output()
        .expect("run scangate");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_missing_file_is_named_once_with_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let missing = missing.to_str().unwrap();
    let db = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/db");
    let policy = format!("{missing}/policy.yaml");
    let layout = format!("oci:{missing}/layout");
    let cases: [&[&str]; 3] = [
        &["scan", "--db", missing, "oci:/nowhere"],
        &["scan", "--db", db, "--policy", &policy, "oci:/nowhere"],
        &["scan", "--db", db, &layout],
    ];
    for args in cases {
        let (code, stderr) = scangate(args);
        assert!(code.is_some_and(|code| code != 0), "{args:?}: {stderr}");
        assert_eq!(
            stderr.matches("No such file or directory").count(),
            1,
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains(missing), "{args:?}: {stderr}");
    }
}
