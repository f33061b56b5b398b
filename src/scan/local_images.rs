//! Images read from local OCI image layouts instead of their registry:
//! `localImages` maps a reference to a layout directory. Every other image
//! goes to the registry as usual. The layout is read and its digests
//! verified exactly as `scangate scan oci:DIR` does.

use super::engine::ImageScanner;
use super::{DatabaseStatus, ScanError, Scanner};
use crate::model::ScanReport;
use crate::registry::local::{ImageSource, load_oci_layout};
use crate::registry::{Credentials, ImageRef};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub struct LocalImages {
    engine: Arc<ImageScanner>,
    /// Normalized reference → layout directory.
    images: BTreeMap<String, PathBuf>,
}

impl LocalImages {
    /// `images` keys are references as users write them; they are normalized
    /// (`demo/app:1` → `docker.io/demo/app:1`) so lookups match admission's.
    pub fn new(
        engine: Arc<ImageScanner>,
        images: &BTreeMap<String, PathBuf>,
    ) -> Result<LocalImages, ScanError> {
        let images = images
            .iter()
            .map(|(reference, dir)| Ok((ImageRef::parse(reference)?.to_string(), dir.clone())))
            .collect::<Result<_, ScanError>>()?;
        Ok(LocalImages { engine, images })
    }

    /// The layout for `image`, by its reference, or by the digest of a
    /// layout (a pinned reference `repo@sha256:…` of a local image).
    fn layout_for(&self, image: &ImageRef) -> Option<&PathBuf> {
        self.images.get(&image.to_string()).or_else(|| {
            let digest = image.digest()?;
            let repository = format!("{}/{}", image.registry(), image.repository());
            self.images.iter().find_map(|(reference, dir)| {
                let same_repository = reference.starts_with(&format!("{repository}:"))
                    || reference.starts_with(&format!("{repository}@"));
                let layout_digest = load_oci_layout(dir, None, &self.engine.config().platform)
                    .ok()
                    .map(|l| l.digest);
                (same_repository && layout_digest.as_deref() == Some(digest)).then_some(dir)
            })
        })
    }
}

#[async_trait]
impl Scanner for LocalImages {
    async fn resolve(&self, image: &ImageRef, creds: &Credentials) -> Result<String, ScanError> {
        let Some(dir) = self.layout_for(image).cloned() else {
            return self.engine.resolve(image, creds).await;
        };
        let platform = self.engine.config().platform.clone();
        let loaded = tokio::task::spawn_blocking(move || load_oci_layout(&dir, None, &platform))
            .await
            .map_err(|e| ScanError::Registry(format!("reading a local image: {e}")))?;
        loaded
            .map(|image| image.digest)
            .map_err(|e| ScanError::Registry(e.to_string()))
    }

    async fn scan(
        &self,
        image: &ImageRef,
        digest: &str,
        creds: &Credentials,
    ) -> Result<ScanReport, ScanError> {
        let Some(dir) = self.layout_for(image) else {
            return self.engine.scan(image, digest, creds).await;
        };
        let source = ImageSource::OciLayout {
            dir: dir.clone(),
            tag: None,
        };
        let mut report = self.engine.scan_source(&source, creds).await?;
        if report.digest != digest {
            return Err(ScanError::Registry(format!(
                "local image {image} changed while being scanned ({digest} became {})",
                report.digest
            )));
        }
        report.image = image.to_string();
        Ok(report)
    }

    fn database(&self) -> Option<DatabaseStatus> {
        self.engine.database()
    }

    fn rematch(&self, report: &ScanReport) -> Option<ScanReport> {
        self.engine.rematch(report)
    }
}
