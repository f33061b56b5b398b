//! The chart in its default mode with the real helm; the CRDs' schemas as
//! the real API server enforces them.

use super::{NAMESPACE, RELEASE, chart, exception_yaml, today_plus};
use crate::support::real_cluster::{RealCluster, expect_failure, expect_success};

const CRDS: [&str; 3] = [
    "clusterscanpolicies.scangate.dev",
    "scanexceptions.scangate.dev",
    "imagescanreports.scangate.dev",
];

/// The chart in its default (in-cluster) mode, as users install it: CRDs
/// established with their printer columns, objects the schema refuses,
/// generated certificates kept by `helm upgrade`, nothing left by `helm
/// uninstall`. No pod is created here: the in-cluster webhook's Service
/// has no backend on this control plane and must never be dialled.
#[test]
fn helm_install_upgrade_uninstall_and_the_crd_schemas() {
    let Some(cluster) = RealCluster::up("helm_install_upgrade_uninstall_and_the_crd_schemas")
    else {
        return;
    };
    let install = cluster.helm(&[
        "install",
        RELEASE,
        &chart(),
        "--namespace",
        NAMESPACE,
        "--create-namespace",
    ]);
    let notes = expect_success("helm install", &install);
    assert!(
        notes.contains("rollout status deployment/scangate"),
        "{notes}"
    );

    for crd in CRDS {
        cluster.kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            &format!("crd/{crd}"),
            "--timeout=60s",
        ]);
    }
    // The default policy through its printer columns.
    let policies = cluster.kubectl_ok(&["get", "clusterscanpolicies"]);
    let header: Vec<&str> = policies
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "MODE", "SEVERITY", "AGE"], "{policies}");
    let row: Vec<&str> = policies
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(&row[..3], ["default", "Audit", "CRITICAL"], "{policies}");

    // A valid exception is accepted and shown with its columns.
    let valid = "  vulnerabilities: [CVE-2023-45283]\n  images: [\"registry.example.com/shop/*\"]\n  reason: Windows only\n  reviewedBy: security@example.com\n";
    cluster.apply(&exception_yaml(
        "default",
        &format!("{valid}  expires: \"{}\"\n", today_plus(30)),
    ));
    let exceptions = cluster.kubectl_ok(&["get", "scanexceptions", "-A"]);
    let header: Vec<&str> = exceptions
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAMESPACE",
            "NAME",
            "VULNERABILITIES",
            "IMAGES",
            "SCOPE",
            "REVIEWED-BY",
            "EXPIRES"
        ],
        "{exceptions}"
    );
    assert!(exceptions.contains(&today_plus(30)), "{exceptions}");
    assert!(exceptions.contains("security@example.com"), "{exceptions}");
    let reports = cluster.kubectl_ok(&["get", "imagescanreports"]);
    assert!(reports.is_empty(), "no report before any scan: {reports}");

    // What the API server's schema validation refuses.
    let refused = [
        (
            "an unknown field",
            format!(
                "{valid}  expires: \"{}\"\n  severity: HIGH\n",
                today_plus(30)
            ),
            "unknown field \"spec.severity\"",
        ),
        (
            "a malformed date",
            format!("{valid}  expires: \"31/12/2030\"\n"),
            "spec.expires",
        ),
        (
            "a missing required field",
            format!(
                "  vulnerabilities: [CVE-2023-45283]\n  expires: \"{}\"\n",
                today_plus(30)
            ),
            "spec.reason: Required value",
        ),
    ];
    for (what, spec, expected) in refused {
        let output =
            cluster.kubectl_with_input(&["apply", "-f", "-"], &exception_yaml("default", &spec));
        let error = expect_failure(&format!("an exception with {what}"), &output);
        assert!(error.contains(expected), "{what}: {error}");
    }
    // The loader's rules, refused by the API server too (issue 14): the
    // `image:` typo, no image glob, a duration without a unit.
    let expires = today_plus(30);
    for (what, spec, expected) in [
        (
            "the image typo",
            format!(
                "  vulnerabilities: [\"*\"]\n  image: [\"app:*\"]\n  reason: r\n  expires: \"{expires}\"\n"
            ),
            "unknown field \"spec.image\"",
        ),
        (
            "no image glob",
            format!(
                "  vulnerabilities: [\"*\"]\n  images: []\n  reason: r\n  expires: \"{expires}\"\n"
            ),
            "spec.images",
        ),
    ] {
        let output =
            cluster.kubectl_with_input(&["apply", "-f", "-"], &exception_yaml("default", &spec));
        let error = expect_failure(&format!("an exception with {what}"), &output);
        assert!(error.contains(expected), "{what}: {error}");
    }
    let policy = |spec: &str| {
        format!(
            "apiVersion: scangate.dev/v1alpha1\nkind: ClusterScanPolicy\nmetadata:\n  name: strict\nspec:\n{spec}"
        )
    };
    for (what, spec, expected) in [
        (
            "an unknown mode",
            "  mode: Block\n",
            "spec.mode: Unsupported value",
        ),
        (
            "a duration without a unit",
            "  remediation: {HIGH: 7days}\n",
            "spec.remediation.HIGH",
        ),
        (
            "a zero duration",
            "  maxDatabaseAge: 0d\n",
            "spec.maxDatabaseAge",
        ),
        (
            "an unknown severity",
            "  remediation: {SEVERE: 1d}\n",
            "remediation keys are severities",
        ),
        (
            "In without values",
            "  namespaceSelector:\n    matchExpressions: [{key: env, operator: In}]\n",
            "In and NotIn need values",
        ),
    ] {
        let error = expect_failure(
            &format!("a policy with {what}"),
            &cluster.kubectl_with_input(&["apply", "-f", "-"], &policy(spec)),
        );
        assert!(error.contains(expected), "{what}: {error}");
    }

    // helm upgrade keeps the generated CA and serving certificate (the
    // chart's lookup of its own Secret, against the real server).
    let tls = |cluster: &RealCluster| {
        (
            cluster.kubectl_ok(&[
                "-n",
                NAMESPACE,
                "get",
                "secret",
                "scangate-tls",
                "-o",
                "jsonpath={.data.tls\\.crt}",
            ]),
            cluster.kubectl_ok(&[
                "get",
                "validatingwebhookconfiguration",
                "scangate",
                "-o",
                "jsonpath={.webhooks[0].clientConfig.caBundle}",
            ]),
        )
    };
    let (cert, ca_bundle) = tls(&cluster);
    assert!(cert.len() > 100 && ca_bundle.len() > 100);
    expect_success(
        "helm upgrade",
        &cluster.helm(&[
            "upgrade",
            RELEASE,
            &chart(),
            "--namespace",
            NAMESPACE,
            "--set",
            "webhook.timeoutSeconds=12",
        ]),
    );
    let timeout = cluster.kubectl_ok(&[
        "get",
        "validatingwebhookconfiguration",
        "scangate",
        "-o",
        "jsonpath={.webhooks[0].timeoutSeconds}",
    ]);
    assert_eq!(timeout, "12", "the upgrade was applied");
    assert_eq!(tls(&cluster), (cert, ca_bundle), "certificates kept");

    expect_success(
        "helm uninstall",
        &cluster.helm(&["uninstall", RELEASE, "--namespace", NAMESPACE, "--wait"]),
    );
    for kind in [
        "validatingwebhookconfigurations",
        "mutatingwebhookconfigurations",
    ] {
        let left = cluster.kubectl_ok(&["get", kind, "-o", "name"]);
        assert!(!left.contains("scangate"), "{kind} left behind: {left}");
    }
}
