//! Image references, normalized the way Kubernetes does
//! (`nginx` → `docker.io/library/nginx:latest`). A registry may be a
//! bracketed IPv6 address (`[::1]:5000/app`), as in the distribution
//! reference grammar that containerd and the kubelet use.

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
        if reference.starts_with('[') {
            return parse_bracketed(reference).map_err(invalid);
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

/// Stands in for a bracketed IPv6 host while the rest of the reference is
/// parsed by the common grammar (`.invalid` is reserved: never a real host).
const IPV6_PLACEHOLDER: &str = "ipv6-host.invalid";

/// `[IPv6](:port)?/path(:tag)?(@digest)?`. The grammar allows hex digits
/// and colons between the brackets; the text must also be an IPv6 address
/// (a string that is not would be pulled from nowhere). Kept as written.
fn parse_bracketed(reference: &str) -> Result<ImageRef, String> {
    let (host, rest) = reference
        .strip_prefix('[')
        .and_then(|r| r.split_once(']'))
        .ok_or("an unclosed '[' in the registry host")?;
    if host.is_empty() || !host.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
        return Err(format!("[{host}] is not an IPv6 address"));
    }
    if host.parse::<std::net::Ipv6Addr>().is_err() {
        return Err(format!("[{host}] is not an IPv6 address"));
    }
    let (port, path) = match rest.strip_prefix(':') {
        Some(rest) => {
            let (port, path) = rest
                .split_once('/')
                .ok_or("no repository after the registry")?;
            if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("port {port:?} is not a number"));
            }
            (Some(port), path)
        }
        None => (
            None,
            rest.strip_prefix('/')
                .ok_or("no repository after the registry")?,
        ),
    };
    let placeholder = match port {
        Some(port) => format!("{IPV6_PLACEHOLDER}:{port}/{path}"),
        None => format!("{IPV6_PLACEHOLDER}/{path}"),
    };
    let parsed: oci_client::Reference = placeholder.parse().map_err(|e| format!("{e}"))?;
    let registry = match port {
        Some(port) => format!("[{host}]:{port}"),
        None => format!("[{host}]"),
    };
    let repository = parsed.repository().to_string();
    let inner = match (parsed.tag(), parsed.digest()) {
        (Some(tag), Some(digest)) => oci_client::Reference::with_tag_and_digest(
            registry,
            repository,
            tag.to_string(),
            digest.to_string(),
        ),
        (None, Some(digest)) => {
            oci_client::Reference::with_digest(registry, repository, digest.to_string())
        }
        (tag, None) => oci_client::Reference::with_tag(
            registry,
            repository,
            tag.unwrap_or("latest").to_string(),
        ),
    };
    let whole = inner.whole();
    Ok(ImageRef::new(inner, whole))
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.normalized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn bracketed_ipv6_registries_parse_as_containerd_parses_them() {
        let image = ImageRef::parse("[::1]:5000/app").unwrap();
        assert_eq!(image.registry(), "[::1]:5000");
        assert_eq!(image.repository(), "app");
        assert_eq!(image.tag(), Some("latest"));
        assert_eq!(image.to_string(), "[::1]:5000/app:latest");

        let pinned = format!("[2001:db8::1]:5000/team/app@{DIGEST}");
        let image = ImageRef::parse(&pinned).unwrap();
        assert_eq!(image.registry(), "[2001:db8::1]:5000");
        assert_eq!(image.repository(), "team/app");
        assert_eq!(image.digest(), Some(DIGEST));
        assert_eq!(image.tag(), None);
        assert_eq!(image.to_string(), pinned);

        let both = ImageRef::parse(&format!("[fe80::1]/app:v2@{DIGEST}")).unwrap();
        assert_eq!(both.registry(), "[fe80::1]");
        assert_eq!((both.tag(), both.digest()), (Some("v2"), Some(DIGEST)));

        // The normalised form parses back to the same image.
        for text in ["[::1]:5000/app", "[2001:db8::1]/a/b:v1"] {
            let image = ImageRef::parse(text).unwrap();
            assert_eq!(ImageRef::parse(&image.to_string()).unwrap(), image);
        }
        assert_eq!(
            ImageRef::parse("[::1]:5000/app:v1")
                .unwrap()
                .with_digest(DIGEST)
                .to_string(),
            format!("[::1]:5000/app@{DIGEST}")
        );
    }

    #[test]
    fn malformed_bracketed_references_are_refused() {
        for text in [
            "[::1",
            "[::1]",
            "[::1]:5000",
            "[::1]app",
            "[::1]:/app",
            "[::1]:50x0/app",
            "[]/app",
            "[g::1]/app",
            "[::1%eth0]/app",
            "[1:2:3:4:5:6:7:8:9]/app",
            "[::1]:5000/App",
            "[::1]:5000/app:",
            "[127.0.0.1]/app",
        ] {
            let err = ImageRef::parse(text).expect_err(text);
            assert!(err.to_string().contains("invalid image reference"), "{err}");
        }
    }
}
