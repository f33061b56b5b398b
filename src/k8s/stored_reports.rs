//! The `ImageScanReport` of a digest read straight from the API (not the
//! reflector, which a replica just started may not have filled yet): the
//! re-scan baseline of a digest this replica has not scanned; and the
//! leader's marks of the findings it alerted overdue.

use super::report::{ImageScanReport, ImageScanReportSpec, report_name};
use super::report_writer::{mark_overdue, retry_on_conflict};
use crate::model::StoredReport;
use crate::ports::{ReportMarkError, ReportReadError, StoredReports};
use async_trait::async_trait;
use kube::api::PostParams;
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

    /// Reads the report, marks `findings` and replaces it with the
    /// resourceVersion read; nothing to do without a report or new marks.
    async fn mark_once(
        &self,
        digest: &str,
        findings: &[(String, String)],
        at: &str,
    ) -> Result<(), kube::Error> {
        let name = report_name(digest);
        let Some(mut stored) = self.api.get_opt(&name).await? else {
            return Ok(());
        };
        if !mark_overdue(&mut stored.spec, findings, at) {
            return Ok(());
        }
        self.api
            .replace(&name, &PostParams::default(), &stored)
            .await
            .map(|_| ())
    }
}

/// Times a mark is read and made again after a conflicting write.
const MARK_CONFLICT_RETRIES: usize = 1;

#[async_trait]
impl StoredReports for ClusterReports {
    async fn report(&self, digest: &str) -> Result<Option<StoredReport>, ReportReadError> {
        match self.api.get_opt(&report_name(digest)).await {
            Ok(found) => Ok(found.map(|r| stored_report(r.spec))),
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

    async fn mark_overdue(
        &self,
        digest: &str,
        findings: &[(String, String)],
        at: &str,
    ) -> Result<(), ReportMarkError> {
        // A report written between the read and the replace is a conflict:
        // read and marked once more rather than overwritten.
        retry_on_conflict(MARK_CONFLICT_RETRIES, || {
            self.mark_once(digest, findings, at)
        })
        .await
        .map_err(|error| ReportMarkError {
            digest: digest.to_string(),
            reason: error.to_string(),
        })
    }
}

/// The domain view of a report: what a re-scan baseline reads.
pub fn stored_report(spec: ImageScanReportSpec) -> StoredReport {
    StoredReport {
        digest: spec.digest,
        database_revision: spec.database_revision,
        scanned_at: spec.scanned_at,
        findings: spec.findings,
        truncated: spec.truncated,
    }
}
