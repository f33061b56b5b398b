//! Language-ecosystem detectors: Python, Node, Go and Rust binaries, Java
//! archives, Ruby gems, PHP Composer and .NET.

mod common;
pub mod composer;
pub mod dotnet;
pub mod golang;
pub mod java;
pub mod npm;
pub mod python;
pub mod ruby;
pub mod rust_auditable;

use super::Detector;

pub fn detectors() -> Vec<Box<dyn Detector>> {
    vec![
        Box::new(golang::GoBinary),
        Box::new(rust_auditable::CargoAuditable),
        Box::new(python::PythonMetadata),
        Box::new(npm::NodePackage),
        Box::new(java::JavaArchive),
        Box::new(ruby::RubyGemspec),
        Box::new(composer::ComposerInstalled),
        Box::new(dotnet::DotnetDeps),
    ]
}
