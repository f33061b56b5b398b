//! Two scangate processes against the real API server: the re-scan Lease,
//! a database change alerted once, a failover.

use super::host::HostScangate;
use super::{NAMESPACE, RELEASE, chart};
use crate::support::real_cluster::{RealCluster, expect_success};
use crate::support::registry::{Layer, TestRegistry, tar_layer};
use crate::support::scan_images::{OS_RELEASE, debian_record, dpkg_status};
use crate::support::serve::{eventually_within, free_port};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const OLD: &str = "DSA-9001-1";
const NEW: &str = "DSA-9002-1";

/// A JSON alert sink on loopback recording every alert posted to it.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<Value>>>);

impl Sink {
    async fn serve(&self) -> String {
        async fn receive(State(sink): State<Sink>, Json(body): Json<Value>) -> StatusCode {
            sink.0.lock().unwrap().push(body);
            StatusCode::NO_CONTENT
        }
        let app = axum::Router::new()
            .route("/alerts", post(receive))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/alerts")
    }

    fn received(&self) -> Vec<Value> {
        self.0.lock().unwrap().clone()
    }
}

/// Writes `dir/Debian/all.zip` holding `records`, replacing it atomically
/// (a refresh never reads half a file).
fn write_debian_db(dir: &Path, records: &[Value]) {
    use std::io::Write;
    std::fs::create_dir_all(dir.join("Debian")).unwrap();
    let partial = dir.join("Debian/all.zip.partial");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&partial).unwrap());
    for record in records {
        zip.start_file(
            format!("{}.json", record["id"].as_str().unwrap()),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.write_all(record.to_string().as_bytes()).unwrap();
    }
    zip.finish().unwrap();
    std::fs::rename(&partial, dir.join("Debian/all.zip")).unwrap();
}

fn lease_holder(cluster: &RealCluster) -> String {
    let output = cluster.kubectl(&[
        "-n",
        NAMESPACE,
        "get",
        "lease",
        "scangate-rescan",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Two scangate processes as the chart's ServiceAccount: one holds the
/// re-scan Lease; a pod made running (its `pods/status` patched with the
/// digest, as a kubelet would) is re-scanned after a database change by the
/// leader alone, so the new finding reaches the alert sink once; stopping the
/// leader hands the Lease over, and the new leader does not alert it again.
#[tokio::test]
async fn two_replicas_one_lease_and_a_database_change_alerted_once() {
    let Some(cluster) =
        RealCluster::up("two_replicas_one_lease_and_a_database_change_alerted_once")
    else {
        return;
    };
    let registry = TestRegistry::start();
    let layer = Layer::gzip(tar_layer(&[
        ("etc/os-release", OS_RELEASE),
        (
            "var/lib/dpkg/status",
            &dpkg_status(&[("hello", "2.10-3"), ("zlib1g", "1:1.2.13.dfsg-1")]),
        ),
    ]));
    let digest = registry.push_http("shop/cart", "1.0", &[layer]).await;
    let image = format!("{}/shop/cart:1.0", registry.address);

    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    write_debian_db(&db, &[debian_record(OLD, "hello", "2.10-4", "CRITICAL")]);
    let (ca, cert, key) = scangate::tls::write_dev_certificates(&work.path().join("tls")).unwrap();
    let port = free_port();
    expect_success(
        "helm install (out-of-cluster)",
        &cluster.helm(&[
            "install",
            RELEASE,
            &chart(),
            "--namespace",
            NAMESPACE,
            "--create-namespace",
            "--set",
            &format!("webhook.url=https://127.0.0.1:{port}"),
            "--set-file",
            &format!("webhook.caBundlePem={}", ca.display()),
        ]),
    );
    let sink = Sink::default();
    let extra = format!(
        "db:\n  refreshInterval: 1s\nkubernetes:\n  leaderElection:\n    leaseDuration: 3s\nrescan:\n  tickInterval: 1s\n  alertSinks:\n  - name: security-team\n    url: {}\n    format: json\n",
        sink.serve().await
    );
    let replica = |identity, port| HostScangate {
        work: work.path(),
        identity,
        port,
        tls: (&cert, &key),
        registry: &registry.address,
        db: &db,
        extra: &extra,
    };
    // The first replica (the one the webhook URL names) takes the Lease.
    let mut first = replica("scangate-a", port).start(&cluster, &ca).await;
    eventually_within(
        "scangate-a holds the Lease",
        Duration::from_secs(30),
        || async { lease_holder(&cluster) == "scangate-a" },
    )
    .await;
    let second = replica("scangate-b", free_port())
        .start(&cluster, &ca)
        .await;

    // A pod, admitted by the default Audit policy, then running the digest.
    cluster.kubectl_ok(&["create", "namespace", "shop"]);
    let created = cluster.kubectl_with_input(
        &["create", "-f", "-"],
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: cart\n  namespace: shop\nspec:\n  containers:\n  - name: app\n    image: {image}\n"
        ),
    );
    expect_success("the cart pod", &created);
    let status = json!({"status": {"phase": "Running", "containerStatuses": [{
        "name": "app", "image": image, "ready": true, "restartCount": 0,
        "imageID": format!("{}/shop/cart@{digest}", registry.address),
        "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}});
    cluster.kubectl_ok(&[
        "-n",
        "shop",
        "patch",
        "pod",
        "cart",
        "--subresource=status",
        "--type=merge",
        "-p",
        &status.to_string(),
    ]);
    // The admission scan is the baseline: no news yet.
    eventually_within(
        "the cart image's report",
        Duration::from_secs(30),
        || async {
            cluster
                .kubectl_ok(&[
                    "get",
                    "imagescanreports",
                    "-o",
                    "jsonpath={.items[*].spec.digest}",
                ])
                .contains(&digest)
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        sink.received().is_empty(),
        "a baseline is not news: {:?}",
        sink.received()
    );

    // The database changes: a HIGH record for zlib1g.
    write_debian_db(
        &db,
        &[
            debian_record(OLD, "hello", "2.10-4", "CRITICAL"),
            debian_record(NEW, "zlib1g", "1:1.2.13.dfsg-2", "HIGH"),
        ],
    );
    eventually_within(
        "the new finding alerted",
        Duration::from_secs(60),
        || async { !sink.received().is_empty() },
    )
    .await;
    // Both replicas loaded the new database; only the leader re-scans.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let alerts = sink.received();
    assert_eq!(alerts.len(), 1, "one alert from two replicas: {alerts:?}");
    assert_eq!(alerts[0]["kind"], "newFindings", "{}", alerts[0]);
    assert_eq!(alerts[0]["digest"], digest.as_str(), "{}", alerts[0]);
    let ids: Vec<&str> = alerts[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [NEW], "exactly the new finding");

    // Stopping the leader hands the Lease over; the new leader knows the
    // finding from the ImageScanReport and does not alert it again.
    first.terminate();
    first.exited(Duration::from_secs(15)).await;
    eventually_within(
        "scangate-b takes the Lease",
        Duration::from_secs(30),
        || async { lease_holder(&cluster) == "scangate-b" },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(sink.received().len(), 1, "alerted once across the failover");
    for (name, log) in [("scangate-a", first.log()), ("scangate-b", second.log())] {
        assert!(
            !log.to_lowercase().contains("forbidden"),
            "the chart's RBAC refused {name} something:\n{log}"
        );
    }
}
