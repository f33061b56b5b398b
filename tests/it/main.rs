//! Every integration test in one binary. Twenty test binaries each linked
//! the whole crate and its dependencies (about 300 MB apiece in a debug
//! build), which filled CI's disk; one binary links once. nextest still runs
//! each test in its own process.

mod support;

mod architecture;
mod cli_errors;
mod cluster_real;
mod cluster_serve;
mod dev_mode;
mod faults;
mod fuzz_regressions;
mod inventory_golang;
mod inventory_language;
mod inventory_layer;
mod inventory_system;
mod k8s_chart;
mod k8s_cluster;
mod load;
mod policy_cli;
mod registry_local;
mod registry_pull;
mod registry_redirect;
mod registry_token;
mod report_html;
mod rescan_alerts;
mod rescan_cluster;
mod rescan_history;
mod rescan_leader;
mod rescan_rescanner;
mod scan_hostile;
mod version_lists;
mod version_oracles;
mod version_properties;
mod vulndb_distro;
mod vulndb_osv;
mod vulndb_snapshot;
mod vulndb_sync;
mod vulndb_trivy;
mod webhook_hostile;
mod webhook_server;
mod webhook_tls;
