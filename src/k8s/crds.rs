//! The CustomResourceDefinitions of scangate, generated from the Rust types.

use crate::k8s::report::ImageScanReport;
use crate::policy::{ClusterScanPolicy, ScanException};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// All CRDs, in a stable order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        ClusterScanPolicy::crd(),
        ScanException::crd(),
        ImageScanReport::crd(),
    ]
}

/// The CRDs as a multi-document YAML stream, each document starting `---`.
pub fn crds_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&crd)?);
    }
    Ok(out)
}
