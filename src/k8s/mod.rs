//! Everything that talks to the Kubernetes API: the CRDs, watches that keep
//! the policy store and namespace labels current, pull credentials from
//! secrets, events, scan-report objects and leader election.

pub mod config;
pub mod crds;
pub mod events;
pub mod leader;
pub mod namespaces;
pub mod pods;
pub mod policy_watch;
pub mod pull_secrets;
pub mod report;
pub mod report_writer;
pub mod reporting_scanner;
pub(crate) mod running_images;
pub mod runtime;
pub mod stored_reports;
