//! Helpers for tests that run the built `scangate serve` against the fake
//! API server: the process (killed on drop, its log printed when the test
//! fails), free ports, a kubeconfig naming the fake, and polling until a
//! condition holds.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A `scangate serve` process; its log is printed if the test fails.
pub struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Spawns `command` with stdout into `log` (stderr inherited).
    pub fn spawn(mut command: Command, log: &Path) -> Server {
        let child = command
            .stdout(std::fs::File::create(log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        Server {
            child,
            log: log.to_path_buf(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the process has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM (a graceful shutdown).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {}", self.pid());
    }

    /// Sends SIGKILL (no shutdown at all).
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
    }

    /// Waits up to `within` for the process to exit.
    pub async fn exited(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "scangate serve (pid {}) did not exit within {within:?}",
                self.pid()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("--- scangate serve log ({}) ---\n{log}", self.log.display());
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Writes `dir/kubeconfig` naming the API server at `url` (plain HTTP, no
/// credentials) and returns its path.
pub fn write_kubeconfig(dir: &Path, url: &str) -> PathBuf {
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {url}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: scangate\nusers:\n- name: scangate\n  user: {{}}\ncurrent-context: fake\n"
        ),
    )
    .unwrap();
    kubeconfig
}

/// Polls `check` until it is true or `what` times out (30 s).
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually_within(what, Duration::from_secs(30), check).await;
}

/// Polls `check` every 100 ms until it is true, panicking after `bound`;
/// returns how long it took.
pub async fn eventually_within<F, Fut>(what: &str, bound: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    let deadline = started + bound;
    while Instant::now() < deadline {
        if check().await {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what} ({bound:?})");
}
