//! Language-ecosystem detectors: Python, Node, Go, Java, Rust, Ruby, PHP, .NET.

use super::Detector;

pub fn detectors() -> Vec<Box<dyn Detector>> {
    Vec::new()
}
