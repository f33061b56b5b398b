//! Image references, normalized the way Kubernetes does
//! (`nginx` → `docker.io/library/nginx:latest`).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};

/// Why an image reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid image reference {reference:?}: {reason}")]
    Invalid { reference: String, reason: String },
}

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    inner: oci_client::Reference,
    /// `inner.whole()`, built once: every warm review used to rebuild it
    /// (twice) for a cache key and the verdict.
    normalized: Arc<str>,
}

/// Longest reference accepted; Kubernetes itself has no limit, but a
/// reference longer than this is an attack, not an image.
pub const MAX_REFERENCE_LEN: usize = 4096;

/// How many parsed references [`ImageRef::parse_cached`] remembers.
pub const PARSED_REFERENCE_CACHE_ENTRIES: usize = 10_000;

impl ImageRef {
    /// [`ImageRef::parse`], remembered: the grammar is a backtracking regex
    /// that cost more than the rest of a warm admission review, and the same
    /// few references come back on every review. Errors are not remembered.
    /// A read-locked map rather than a moka cache: a hit is one hash and one
    /// probe, with no recency bookkeeping; when full it is emptied.
    pub fn parse_cached(reference: &str) -> Result<Arc<ImageRef>, ReferenceError> {
        type Parsed = HashMap<Box<str>, Arc<ImageRef>>;
        static CACHE: OnceLock<RwLock<Parsed>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some(hit) = cache.read().ok().and_then(|c| c.get(reference).cloned()) {
            return Ok(hit);
        }
        let parsed = Arc::new(ImageRef::parse(reference)?);
        if let Ok(mut cache) = cache.write() {
            if cache.len() >= PARSED_REFERENCE_CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(reference.into(), parsed.clone());
        }
        Ok(parsed)
    }

    pub fn parse(reference: &str) -> Result<ImageRef, ReferenceError> {
        let invalid = |reason: String| ReferenceError::Invalid {
            reference: reference.chars().take(256).collect(),
            reason,
        };
        if reference.len() > MAX_REFERENCE_LEN {
            return Err(invalid(format!("longer than {MAX_REFERENCE_LEN} bytes")));
        }
        if reference.trim() != reference || reference.is_empty() {
            return Err(invalid("empty or surrounded by whitespace".into()));
        }
        let inner: oci_client::Reference =
            reference.parse().map_err(|e| invalid(format!("{e}")))?;
        // The normalized form must name the same image. It does not when the
        // first component has capitals but no dot, port or `localhost`: the
        // container runtime (distribution/reference) takes it for a registry
        // host, the parser for a Docker Hub path, and the printed form
        // (`docker.io/Host/app:latest`) is not even a valid reference. Found
        // by the image_reference fuzz target; refused rather than judged as
        // another image than the one the kubelet would pull.
        let whole = inner.whole();
        if whole.parse::<oci_client::Reference>().ok().as_ref() != Some(&inner) {
            return Err(invalid(format!(
                "ambiguous: normalized to {whole:?}, which names another image or none"
            )));
        }
        Ok(ImageRef::new(inner, whole))
    }

    fn new(inner: oci_client::Reference, whole: String) -> ImageRef {
        ImageRef {
            inner,
            normalized: whole.into(),
        }
    }

    /// The normalized reference (`docker.io/library/nginx:latest`), as
    /// [`fmt::Display`] prints it.
    pub fn normalized(&self) -> &Arc<str> {
        &self.normalized
    }

    /// The registry host (and port) as written, `docker.io` for Docker Hub.
    pub fn registry(&self) -> &str {
        self.inner.registry()
    }

    pub fn repository(&self) -> &str {
        self.inner.repository()
    }

    pub fn tag(&self) -> Option<&str> {
        self.inner.tag()
    }

    pub fn digest(&self) -> Option<&str> {
        self.inner.digest()
    }

    /// The same repository pinned to `digest` (tag dropped).
    pub fn with_digest(&self, digest: &str) -> ImageRef {
        let inner = oci_client::Reference::with_digest(
            self.registry().to_string(),
            self.repository().to_string(),
            digest.to_string(),
        );
        let whole = inner.whole();
        ImageRef::new(inner, whole)
    }

    pub fn as_oci(&self) -> &oci_client::Reference {
        &self.inner
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.normalized)
    }
}
