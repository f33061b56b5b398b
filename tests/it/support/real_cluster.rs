//! A real Kubernetes control plane for tests: etcd and kube-apiserver built
//! from their Go modules by `scripts/deps/cluster.sh`, started on loopback by
//! `scripts/cluster.sh up` in a temporary directory and stopped on drop;
//! `kubectl` and `helm` from the same build.
//!
//! Tests skip (with the reason printed) only when the binaries are absent
//! and `SCANGATE_REQUIRE_CLUSTER` is unset; CI sets it, so a missing build
//! fails there instead of passing silently.
#![allow(dead_code)]

use super::serve::root;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

/// Where `scripts/deps/cluster.sh` puts the binaries.
pub fn bin_dir() -> PathBuf {
    root().join(".cache/cluster/bin")
}

/// Whether the control plane can run here; prints why not when skipping,
/// panics when it is required (`SCANGATE_REQUIRE_CLUSTER`) but not built.
pub fn available(test: &str) -> bool {
    let bin = bin_dir();
    let built = ["etcd", "kube-apiserver", "kubectl", "helm"]
        .iter()
        .all(|tool| bin.join(tool).is_file());
    if built {
        return true;
    }
    assert!(
        std::env::var_os("SCANGATE_REQUIRE_CLUSTER").is_none(),
        "SCANGATE_REQUIRE_CLUSTER is set but {} lacks the cluster binaries: run scripts/deps/cluster.sh",
        bin.display()
    );
    eprintln!(
        "SKIPPED {test}: no real control plane in {} (run scripts/deps/cluster.sh; set SCANGATE_REQUIRE_CLUSTER=1 to make this a failure)",
        bin.display()
    );
    false
}

/// A running etcd + kube-apiserver; `scripts/cluster.sh down` on drop.
pub struct RealCluster {
    dir: tempfile::TempDir,
    /// The admin (`system:masters`) kubeconfig.
    pub kubeconfig: PathBuf,
}

impl RealCluster {
    /// Starts a control plane, or `None` when [`available`] says to skip.
    pub fn up(test: &str) -> Option<RealCluster> {
        if !available(test) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let output = Command::new("bash")
            .arg(root().join("scripts/cluster.sh"))
            .arg("up")
            .arg(dir.path())
            // The watcher downs the cluster if this test process dies first.
            .env("CLUSTER_OWNER_PID", std::process::id().to_string())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let cluster = RealCluster {
            kubeconfig: dir.path().join("admin.kubeconfig"),
            dir,
        };
        assert!(
            output.status.success(),
            "scripts/cluster.sh up failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        eprintln!(
            "control plane ready in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Some(cluster)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `kubectl --kubeconfig <admin> ARGS`.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with_input(args, "")
    }

    /// `kubectl` with `input` on its standard input (`-f -`).
    pub fn kubectl_with_input(&self, args: &[&str], input: &str) -> Output {
        let mut command = Command::new(bin_dir().join("kubectl"));
        command.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        run_with_input(command, input)
    }

    /// `kubectl ARGS`, which must succeed; its standard output.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let output = self.kubectl(args);
        expect_success(&format!("kubectl {}", args.join(" ")), &output)
    }

    /// `kubectl apply -f -` of `yaml`, which must succeed.
    pub fn apply(&self, yaml: &str) -> String {
        let output = self.kubectl_with_input(&["apply", "-f", "-"], yaml);
        expect_success(&format!("kubectl apply of\n{yaml}"), &output)
    }

    /// `helm ARGS` against this cluster, with helm's own state in the
    /// cluster's directory (never the user's home).
    pub fn helm(&self, args: &[&str]) -> Output {
        let home = self.dir.path().join("helm");
        let mut command = Command::new(bin_dir().join("helm"));
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_DATA_HOME", home.join("data"));
        run_with_input(command, "")
    }

    /// A kubeconfig authenticating as `namespace/service_account` with a
    /// token from the TokenRequest API (`scripts/cluster.sh sa-kubeconfig`).
    pub fn sa_kubeconfig(&self, namespace: &str, service_account: &str) -> PathBuf {
        let out = self
            .dir
            .path()
            .join(format!("{namespace}-{service_account}.kubeconfig"));
        let mut command = Command::new("bash");
        command
            .arg(root().join("scripts/cluster.sh"))
            .args(["sa-kubeconfig"])
            .arg(self.dir.path())
            .args([namespace, service_account])
            .arg(&out);
        let output = run_with_input(command, "");
        expect_success("scripts/cluster.sh sa-kubeconfig", &output);
        out
    }

    /// The API server's log so far.
    pub fn apiserver_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("logs/kube-apiserver.log")).unwrap_or_default()
    }
}

impl Drop for RealCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.apiserver_log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "--- kube-apiserver log, last lines ---\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        let _ = Command::new("bash")
            .arg(root().join("scripts/cluster.sh"))
            .arg("down")
            .arg(self.dir.path())
            .status();
    }
}

fn run_with_input(mut command: Command, input: &str) -> Output {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

/// Standard output of a successful `output`; panics with both streams otherwise.
pub fn expect_success(what: &str, output: &Output) -> String {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error of a failed `output`; panics if it succeeded.
pub fn expect_failure(what: &str, output: &Output) -> String {
    assert!(
        !output.status.success(),
        "{what} succeeded but should have been refused:\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}
