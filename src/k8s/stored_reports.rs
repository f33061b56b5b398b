//! The `ImageScanReport` of a digest read straight from the API (not the
//! reflector, which a replica just started may not have filled yet): the
//! re-scan baseline of a digest this replica has not scanned.

use super::report::{ImageScanReport, ImageScanReportSpec, report_name};
use crate::rescan::baseline::{ReportReadError, StoredReports};
use async_trait::async_trait;
use kube::{Api, Client};

pub struct ClusterReports {
    api: Api<ImageScanReport>,
}

impl ClusterReports {
    pub fn new(client: Client) -> ClusterReports {
        ClusterReports {
            api: Api::all(client),
        }
    }
}

#[async_trait]
impl StoredReports for ClusterReports {
    async fn report(&self, digest: &str) -> Result<Option<ImageScanReportSpec>, ReportReadError> {
        match self.api.get_opt(&report_name(digest)).await {
            Ok(found) => Ok(found.map(|r| r.spec)),
            // An object that does not parse will not parse next tick
            // either: no report, rather than no re-scans of the digest.
            Err(kube::Error::SerdeError(error)) => {
                tracing::warn!(%digest, %error, "ImageScanReport unreadable; ignored as a baseline");
                Ok(None)
            }
            Err(error) => Err(ReportReadError {
                digest: digest.to_string(),
                reason: error.to_string(),
            }),
        }
    }
}
