//! Two replicas of the built `scangate serve` against one fake API server,
//! with a short Lease: only the Lease holder re-scans the running image
//! (pulled from a real `docker-registry`); when the leader stops gracefully
//! (SIGTERM releases the Lease) the other takes over at once, and when it
//! dies (SIGKILL, nothing released) the other takes over once the Lease has
//! run out.

use crate::support::fake_apiserver::FakeApiServer;
use crate::support::registry::TestRegistry;
use crate::support::serve::{Server, eventually_within, free_port, root, write_kubeconfig};
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

/// `kubernetes.leaderElection.leaseDuration`.
const LEASE: Duration = Duration::from_secs(3);
/// `rescan.tickInterval`.
const TICK: Duration = Duration::from_secs(1);
/// A re-scan is a whole scan (manifest, layers, matching); on a loaded
/// machine it may take a while after the tick that starts it.
const SCAN_ALLOWANCE: Duration = Duration::from_secs(10);
/// Startup: loading the database, the first lists of the watches.
const STARTUP: Duration = Duration::from_secs(60);

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/scangate/leases";
/// The manifest digest of `examples/images/payments-api` (its index.json).
const DIGEST: &str = "sha256:f910150dcc1650a0d2027bfa8f42abe5fffc3447d05ec9db7f3dc10987bf5f71";

struct Replica {
    name: &'static str,
    server: Server,
    metrics_port: u16,
    _work: tempfile::TempDir,
}

impl Replica {
    fn start(name: &'static str, fake: &FakeApiServer, registry: &TestRegistry) -> Replica {
        // Each replica in its own directory: the dev certificate and the
        // database snapshot are written under its .cache.
        let work = tempfile::tempdir().unwrap();
        let kubeconfig = write_kubeconfig(work.path(), &fake.url());
        let config = work.path().join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "kubernetes:\n  syncTimeout: 30s\n  leaderElection:\n    leaseDuration: {}s\nrescan:\n  tickInterval: {}s\n",
                LEASE.as_secs(),
                TICK.as_secs()
            ),
        )
        .unwrap();
        let metrics_port = free_port();
        let mut serve = Command::new(env!("CARGO_BIN_EXE_scangate"));
        serve
            .args(["serve", "--dev", "--kubeconfig"])
            .arg(&kubeconfig)
            .arg("--config")
            .arg(&config)
            .arg("--db")
            .arg(root().join("examples/db"))
            .args(["--insecure-registry", &registry.address])
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", free_port()))
            .arg("--metrics-listen")
            .arg(format!("127.0.0.1:{metrics_port}"))
            .env("POD_NAME", name)
            .env("POD_NAMESPACE", "scangate")
            .current_dir(work.path());
        let server = Server::spawn(serve, &work.path().join(format!("{name}.log")));
        Replica {
            name,
            server,
            metrics_port,
            _work: work,
        }
    }

    /// The metrics text, or `None` while the process does not answer.
    async fn metrics(&self) -> Option<String> {
        let url = format!("http://127.0.0.1:{}/metrics", self.metrics_port);
        reqwest::get(url).await.ok()?.text().await.ok()
    }

    /// `scangate_rescans_total{result="ok"}` (0 when never counted).
    async fn rescans(&self) -> u64 {
        let text = self.metrics().await.unwrap_or_default();
        rescans_ok(&text)
    }
}

fn rescans_ok(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("scangate_rescans_total{result=\"ok\"} "))
        .map(|v| v.trim().parse::<f64>().unwrap() as u64)
        .unwrap_or(0)
}

fn lease(fake: &FakeApiServer) -> Option<Value> {
    fake.objects(LEASES)
        .into_iter()
        .find(|l| l["metadata"]["name"] == "scangate-rescan")
}

fn holder(fake: &FakeApiServer) -> Option<String> {
    lease(fake)?["spec"]["holderIdentity"]
        .as_str()
        .map(str::to_string)
}

fn time_of(lease: &Value, field: &str) -> jiff::Timestamp {
    lease["spec"][field]
        .as_str()
        .unwrap_or_else(|| panic!("lease has no {field}: {lease}"))
        .parse()
        .unwrap()
}

/// A registry holding the image, a fake API server where one pod runs it,
/// and two replicas; returns them with the leader first.
async fn two_replicas() -> (TestRegistry, FakeApiServer, Replica, Replica) {
    let registry = TestRegistry::start();
    registry.push_layout(
        &root().join("examples/images/payments-api"),
        "1.4.2",
        "shop/payments-api",
        false,
    );
    let image = format!("{}/shop/payments-api:1.4.2", registry.address);
    let fake = FakeApiServer::start().await;
    fake.put(
        "/api/v1/namespaces",
        json!({"metadata": {"name": "shop", "labels": {"team": "payments"}}}),
    );
    fake.put(
        "/api/v1/namespaces/shop/pods",
        json!({
            "metadata": {"name": "payments-api-7c9d-abcde", "namespace": "shop",
                "labels": {"pod-template-hash": "7c9d"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": "payments-api-7c9d", "uid": "rs-1", "controller": true}]},
            "spec": {"containers": [{"name": "api", "image": image}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "api",
                "image": image, "ready": true, "restartCount": 0,
                "imageID": format!("{}/shop/payments-api@{DIGEST}", registry.address)}]}
        }),
    );

    let a = Replica::start("scangate-a", &fake, &registry);
    let b = Replica::start("scangate-b", &fake, &registry);
    for replica in [&a, &b] {
        eventually_within(
            &format!("{} to serve metrics", replica.name),
            STARTUP,
            || async { replica.metrics().await.is_some() },
        )
        .await;
    }
    eventually_within("a holder of the lease", STARTUP, || async {
        holder(&fake).is_some()
    })
    .await;
    let (leader, follower) = if holder(&fake).as_deref() == Some(a.name) {
        (a, b)
    } else {
        (b, a)
    };
    assert_eq!(holder(&fake).as_deref(), Some(leader.name));

    // The leader re-scans the running digest...
    eventually_within(
        &format!("{} (the lease holder) to re-scan", leader.name),
        STARTUP,
        || async { leader.rescans().await >= 1 },
    )
    .await;
    let metrics = leader.metrics().await.unwrap();
    assert!(metrics.contains("scangate_running_digests 1"), "{metrics}");
    // ...and the follower does not, tick after tick: wait until the
    // leader has renewed the lease two ticks later (the follower ticked at
    // least twice meanwhile).
    let renewed = time_of(&lease(&fake).unwrap(), "renewTime");
    eventually_within("later renewals of the lease", STARTUP, || async {
        let lease = lease(&fake).unwrap();
        let since = time_of(&lease, "renewTime").duration_since(renewed);
        since >= jiff::SignedDuration::try_from(TICK * 2).unwrap()
    })
    .await;
    assert_eq!(holder(&fake).as_deref(), Some(leader.name));
    let metrics = follower.metrics().await.unwrap();
    assert_eq!(
        rescans_ok(&metrics),
        0,
        "{} does not hold the lease and must not re-scan",
        follower.name
    );
    assert!(!metrics.contains("scangate_rescans_total{"), "{metrics}");
    (registry, fake, leader, follower)
}

/// Waits for `follower` to hold the Lease (within `within`), then to
/// re-scan as the new leader; returns when each happened.
async fn take_over(
    fake: &FakeApiServer,
    follower: &Replica,
    what: &str,
    within: Duration,
) -> (Duration, Duration) {
    let took = eventually_within(&format!("{} to {what}", follower.name), within, || async {
        holder(fake).as_deref() == Some(follower.name)
    })
    .await;
    let rescanned = took
        + eventually_within(
            &format!("{} to re-scan as the new leader", follower.name),
            TICK + SCAN_ALLOWANCE,
            || async { follower.rescans().await >= 1 },
        )
        .await;
    (took, rescanned)
}

#[tokio::test]
async fn on_sigterm_the_leader_releases_the_lease_and_the_other_rescans_at_once() {
    let (_registry, fake, mut leader, follower) = two_replicas().await;

    leader.server.terminate();
    let status = leader.server.exited(Duration::from_secs(30)).await;
    assert!(status.success(), "graceful shutdown: {status}");
    assert!(
        leader.server.log().contains("lease released"),
        "the leader gives the lease up on its way out"
    );
    // Released, so the follower need not wait for the lease to run out: it
    // takes it at its next attempt (a third of the lease duration).
    let (took, rescanned) = take_over(&fake, &follower, "hold the released lease", LEASE).await;
    eprintln!("after SIGTERM: lease taken over in {took:?}, first re-scan done in {rescanned:?}");
    let lease = lease(&fake).unwrap();
    assert_eq!(lease["spec"]["leaseTransitions"], 1, "{lease}");
}

#[tokio::test]
async fn on_sigkill_the_lease_runs_out_and_then_the_other_rescans() {
    let (_registry, fake, mut leader, follower) = two_replicas().await;

    leader.server.kill();
    leader.server.exited(Duration::from_secs(30)).await;
    // Nothing was released: the lease still names the dead leader.
    let last = lease(&fake).unwrap();
    assert_eq!(last["spec"]["holderIdentity"], leader.name, "{last}");
    let last_renewed = time_of(&last, "renewTime");

    // It runs out a lease duration after its last renewal; the follower
    // tries every third of that, then ticks.
    let (took, rescanned) = take_over(
        &fake,
        &follower,
        "take over the expired lease",
        LEASE * 2 + TICK,
    )
    .await;
    eprintln!("after SIGKILL: lease taken over in {took:?}, first re-scan done in {rescanned:?}");
    let taken = lease(&fake).unwrap();
    let acquired = time_of(&taken, "acquireTime");
    assert!(
        acquired.duration_since(last_renewed) >= jiff::SignedDuration::try_from(LEASE).unwrap(),
        "not taken before it ran out: renewed {last_renewed}, acquired {acquired}"
    );
    assert_eq!(taken["spec"]["leaseTransitions"], 1, "{taken}");
}
