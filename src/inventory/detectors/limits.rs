//! Per-detector file size caps, each a config key (camelCase) with a
//! default. A file a detector wants but that is above its cap is not read:
//! the layer records a [`crate::inventory::LayerProblem::FileTooLarge`]
//! naming the key, and the scanner counts it in
//! `scangate_file_limit_exceeded{limit="<key>"}`.

use serde::{Deserialize, Serialize};

use super::language::{composer, dotnet, golang, java, npm, python, ruby, rust_auditable};
use super::system::os_release;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DetectorLimits {
    /// `etc/os-release` and the other release files (`maxOsReleaseBytes`, 64 KiB).
    pub max_os_release_bytes: u64,
    /// Python `METADATA` / `PKG-INFO` (`maxPythonMetadataBytes`, 4 MiB).
    pub max_python_metadata_bytes: u64,
    /// Node `package.json` (`maxPackageJsonBytes`, 4 MiB).
    pub max_package_json_bytes: u64,
    /// Ruby `*.gemspec` (`maxGemspecBytes`, 1 MiB).
    pub max_gemspec_bytes: u64,
    /// PHP `vendor/composer/installed.json` (`maxComposerInstalledBytes`, 32 MiB).
    pub max_composer_installed_bytes: u64,
    /// .NET `*.deps.json` (`maxDotnetDepsBytes`, 32 MiB).
    pub max_dotnet_deps_bytes: u64,
    /// Executables searched for Go build information (`maxGoBinaryBytes`, 512 MiB).
    pub max_go_binary_bytes: u64,
    /// Executables searched for cargo-auditable data (`maxRustBinaryBytes`, 128 MiB).
    pub max_rust_binary_bytes: u64,
    /// Outer `.jar` / `.war` / `.ear` archives (`maxJavaArchiveBytes`, 96 MiB).
    pub max_java_archive_bytes: u64,
}

impl Default for DetectorLimits {
    fn default() -> Self {
        DetectorLimits {
            max_os_release_bytes: os_release::MAX_RELEASE_FILE_BYTES,
            max_python_metadata_bytes: python::MAX_METADATA_BYTES,
            max_package_json_bytes: npm::MAX_PACKAGE_JSON_BYTES,
            max_gemspec_bytes: ruby::MAX_GEMSPEC_BYTES,
            max_composer_installed_bytes: composer::MAX_INSTALLED_JSON_BYTES,
            max_dotnet_deps_bytes: dotnet::MAX_DEPS_JSON_BYTES,
            max_go_binary_bytes: golang::MAX_BINARY,
            max_rust_binary_bytes: rust_auditable::MAX_BINARY_BYTES,
            max_java_archive_bytes: java::MAX_ARCHIVE_BYTES,
        }
    }
}
