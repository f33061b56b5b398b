//! Operating-system detectors: os-release and friends, dpkg, apk, rpm.

pub mod apk;
pub mod dpkg;
pub(crate) mod os_release;
pub(crate) mod purl;
pub mod rpm;

use super::Detector;

pub fn detectors() -> Vec<Box<dyn Detector>> {
    vec![
        Box::new(os_release::OsReleaseDetector),
        Box::new(dpkg::DpkgDetector),
        Box::new(apk::ApkDetector),
        Box::new(rpm::RpmDetector),
    ]
}
