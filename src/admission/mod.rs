//! AdmissionReview v1 in and out: image extraction from pod specs and
//! workload templates, and response building (deny message, warnings,
//! audit annotations).

pub mod config;
pub mod handler;
pub mod images;
pub mod local;
pub mod mutate;
pub mod response;
pub mod review;

pub use config::WebhookConfig;
pub use handler::{Admission, Clock, system_clock};
