//! AdmissionReview v1 in and out: image extraction from pod specs and
//! workload templates, and response building (deny message, warnings,
//! audit annotations).

pub mod ports;
