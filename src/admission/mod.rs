//! AdmissionReview v1 in and out: image extraction from pod specs and
//! workload templates, and response building (deny message, warnings,
//! audit annotations).

pub(crate) mod config;
pub(crate) mod handler;
pub mod images;
pub mod local;
pub(crate) mod mutate;
pub(crate) mod response;
pub mod review;

pub use config::WebhookConfig;
pub use handler::{Admission, Clock, system_clock};
