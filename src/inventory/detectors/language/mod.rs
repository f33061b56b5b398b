//! Language-ecosystem detectors: Go binaries (more to come: Python, Node,
//! Java, Rust, Ruby, PHP, .NET).

pub mod golang;

use super::Detector;

pub fn detectors() -> Vec<Box<dyn Detector>> {
    vec![Box::new(golang::GoBinary)]
}
