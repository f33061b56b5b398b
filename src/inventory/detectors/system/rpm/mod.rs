//! rpm databases: SQLite, Berkeley DB hash and NDB.

use crate::inventory::detectors::{DetectError, Detected, Detector, FileMeta};

pub struct RpmDetector;

impl Detector for RpmDetector {
    fn name(&self) -> &'static str {
        "rpm"
    }

    fn wants(&self, _file: &FileMeta<'_>) -> bool {
        false
    }

    fn detect(&self, _file: &FileMeta<'_>, _data: &[u8]) -> Result<Detected, DetectError> {
        Ok(Detected::Nothing)
    }
}
