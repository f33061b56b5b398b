//! scangate as a host process, configured as the chart configures it.

use super::NAMESPACE;
use crate::support::real_cluster::RealCluster;
use crate::support::serve::{Server, eventually_within, free_port};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// `scangate serve` on this host as the chart's ServiceAccount, with the
/// chart's own configuration (its ConfigMap) and what differs on a host:
/// files, addresses, the database, faster event flushing, and `extra`
/// (YAML merged last).
pub(super) struct HostScangate<'a> {
    pub(super) work: &'a Path,
    /// `POD_NAME`: the Lease holder's identity.
    pub(super) identity: &'a str,
    pub(super) port: u16,
    pub(super) tls: (&'a Path, &'a Path),
    pub(super) registry: &'a str,
    pub(super) db: &'a Path,
    pub(super) extra: &'a str,
}

impl HostScangate<'_> {
    /// Starts it and waits until `/readyz` answers over TLS verified with `ca`.
    pub(super) async fn start(&self, cluster: &RealCluster, ca: &Path) -> Server {
        let chart_config = cluster.kubectl_ok(&[
            "-n",
            NAMESPACE,
            "get",
            "configmap",
            "scangate-config",
            "-o",
            "jsonpath={.data.config\\.yaml}",
        ]);
        let dir = self.work.join(self.identity);
        std::fs::create_dir_all(&dir).unwrap();
        let chart_config_file = dir.join("chart-config.yaml");
        std::fs::write(&chart_config_file, chart_config).unwrap();
        let host_config = dir.join("host.yaml");
        std::fs::write(
            &host_config,
            format!(
                "db:\n  cacheDir: {cache}\nkubernetes:\n  events:\n    flushInterval: 1s\nrescan:\n  deadLetterFile: {cache}/dead-letters.jsonl\n",
                cache = dir.join("cache").display()
            ),
        )
        .unwrap();
        let extra_config = dir.join("extra.yaml");
        std::fs::write(&extra_config, self.extra).unwrap();
        let kubeconfig = cluster.sa_kubeconfig(NAMESPACE, "scangate");
        let mut serve = Command::new(env!("CARGO_BIN_EXE_scangate"));
        serve
            .arg("serve")
            .args(["--config".as_ref(), chart_config_file.as_os_str()])
            .args(["--config".as_ref(), host_config.as_os_str()])
            .args(["--config".as_ref(), extra_config.as_os_str()])
            .args(["--kubeconfig".as_ref(), kubeconfig.as_os_str()])
            .args(["--db".as_ref(), self.db.as_os_str()])
            .args(["--tls-cert".as_ref(), self.tls.0.as_os_str()])
            .args(["--tls-key".as_ref(), self.tls.1.as_os_str()])
            .args(["--insecure-registry", self.registry])
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--metrics-listen")
            .arg(format!("127.0.0.1:{}", free_port()))
            .env("POD_NAME", self.identity)
            .current_dir(&dir);
        let server = Server::spawn(serve, &dir.join("serve.log"));
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap()])
            .build()
            .unwrap();
        let ready = format!("https://127.0.0.1:{}/readyz", self.port);
        eventually_within(
            &format!("{} ready", self.identity),
            Duration::from_secs(60),
            || {
                let (client, ready) = (client.clone(), ready.clone());
                async move {
                    client
                        .get(ready)
                        .send()
                        .await
                        .is_ok_and(|r| r.status() == 200)
                }
            },
        )
        .await;
        server
    }
}

pub(super) fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success(), "cp -r {}", from.display());
}
