//! A [`Scanner`] that queues an `ImageScanReport` for every finished scan,
//! whether admission or a re-scan asked for it: the report describes the
//! image, so every replica and `kubectl get isr` see the latest result.

use super::report_writer::ReportQueue;
use crate::model::DatabaseStatus;
use crate::model::ScanReport;
use crate::registry::{Credentials, ImageRef};
use crate::scan::{ScanError, Scanner};
use async_trait::async_trait;
use std::sync::Arc;

pub struct ReportingScanner {
    inner: Arc<dyn Scanner>,
    reports: ReportQueue,
}

impl ReportingScanner {
    pub fn new(inner: Arc<dyn Scanner>, reports: ReportQueue) -> ReportingScanner {
        ReportingScanner { inner, reports }
    }
}

#[async_trait]
impl Scanner for ReportingScanner {
    async fn resolve(&self, image: &ImageRef, creds: &Credentials) -> Result<String, ScanError> {
        self.inner.resolve(image, creds).await
    }

    async fn scan(
        &self,
        image: &ImageRef,
        digest: &str,
        creds: &Credentials,
    ) -> Result<ScanReport, ScanError> {
        let report = self.inner.scan(image, digest, creds).await?;
        self.reports.submit(&report);
        Ok(report)
    }

    fn database(&self) -> Option<DatabaseStatus> {
        self.inner.database()
    }
}
