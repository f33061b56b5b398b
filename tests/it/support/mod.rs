//! Shared test helpers: real processes and fixtures the test modules start.

pub mod fake_apiserver;
pub mod fault_proxy;
pub mod real_cluster;
pub mod registry;
pub mod scan_images;
pub mod serve;
pub mod token_issuer;
pub mod webhook;
