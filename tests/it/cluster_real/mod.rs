//! Against a real kube-apiserver (support/real_cluster.rs): the chart as
//! users install it with the real helm, the CRDs' schemas as the server
//! enforces them, the chart's RBAC as scangate's only credentials, and the
//! API server itself calling scangate over TLS for pods created with
//! kubectl. What the fake API server cannot show.

mod admission;
mod chart;
mod host;
mod replicas;

use crate::support::serve::root;
use std::process::Output;

const RELEASE: &str = "scangate";
const NAMESPACE: &str = "scangate";

fn chart() -> String {
    root().join("charts/scangate").display().to_string()
}

fn today_plus(days: i64) -> String {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    today
        .checked_add(jiff::Span::new().days(days))
        .unwrap()
        .to_string()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn exception_yaml(namespace: &str, spec: &str) -> String {
    format!(
        "apiVersion: scangate.dev/v1alpha1\nkind: ScanException\nmetadata:\n  name: accepted\n  namespace: {namespace}\nspec:\n{spec}"
    )
}

fn pod_yaml(name: &str, namespace: &str, image: &str, labels: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  labels: {{{labels}}}\nspec:\n  imagePullSecrets: [{{name: regcred}}]\n  containers:\n  - name: api\n    image: {image}\n"
    )
}
