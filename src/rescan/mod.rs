//! Routine re-scans of what already runs: diffs between scans, alerts on
//! what is new, response timelines, history.

pub mod alerts;
pub mod baseline;
pub mod controller;
pub(crate) mod diff;
pub mod history;
pub(crate) mod html;
pub mod metrics;
pub mod rescanner;
pub mod running;
pub mod timeline;
