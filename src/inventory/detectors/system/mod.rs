//! Operating-system detectors: os-release and friends, dpkg, apk, rpm.

pub mod apk;
pub mod dpkg;
pub mod os_release;

use super::Detector;

pub fn detectors() -> Vec<Box<dyn Detector>> {
    vec![
        Box::new(os_release::OsRelease),
        Box::new(dpkg::Dpkg),
        Box::new(apk::Apk),
    ]
}
