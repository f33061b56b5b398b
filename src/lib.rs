//! scangate: a Kubernetes validating admission webhook that keeps vulnerable
//! container images out of clusters, with a built-in image scanner.
//!
//! Dependencies point one way: `admission → {scan, policy}`,
//! `scan → {registry, inventory, vulndb → version}`; `k8s` and `rescan` sit
//! beside them and are the only parts that need a cluster.

pub mod admission;
pub mod app;
pub mod cli;
pub mod config;
pub mod inventory;
pub mod k8s;
pub mod model;
pub mod policy;
pub mod ports;
pub mod registry;
pub mod rescan;
pub mod scan;
pub mod server;
pub mod telemetry;
pub mod tls;
pub mod version;
pub mod vulndb;
