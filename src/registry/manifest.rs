//! Manifest parsing shared by the registry client and the local sources:
//! OCI and Docker v2 schema 2 image manifests and indexes; schema 1 refused.

use super::platform::Platform;
use serde::Deserialize;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// Every manifest media type asked for; schema 1 is included so that a
/// schema 1 image gets a clear refusal rather than a 404.
pub const ACCEPTED: &[&str] = &[
    OCI_INDEX,
    OCI_MANIFEST,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    DOCKER_SCHEMA1_SIGNED,
    DOCKER_SCHEMA1,
];

/// Why a manifest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error(
        "Docker image manifest schema 1 is not supported (deprecated, unverifiable); rebuild or re-push the image with a current client"
    )]
    Schema1,
    #[error("manifest is not valid: {0}")]
    Invalid(String),
    #[error("unsupported manifest media type {0:?}")]
    UnsupportedMediaType(String),
    #[error("unsupported layer media type {media_type:?} (layer {digest})")]
    UnsupportedLayer { media_type: String, digest: String },
    #[error("platform {wanted} not in the image index; available: {available}")]
    PlatformMissing { wanted: String, available: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: i64,
    #[serde(default)]
    pub platform: Option<PlatformField>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PlatformField {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

/// A single-platform image manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageManifest {
    pub config: Descriptor,
    /// Bottom layer first.
    pub layers: Vec<Descriptor>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    Index(Vec<Descriptor>),
    Image(ImageManifest),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
}

/// Parses a manifest; `content_type` is the HTTP Content-Type, if any.
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Manifest, ManifestError> {
    let content_type = content_type.map(|c| c.split(';').next().unwrap_or(c).trim());
    if matches!(content_type, Some(DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED)) {
        return Err(ManifestError::Schema1);
    }
    let raw: Raw =
        serde_json::from_slice(bytes).map_err(|e| ManifestError::Invalid(e.to_string()))?;
    if raw.schema_version == Some(1) {
        return Err(ManifestError::Schema1);
    }
    if raw.schema_version != Some(2) {
        return Err(ManifestError::Invalid(format!(
            "schemaVersion {:?}, expected 2",
            raw.schema_version
        )));
    }
    let media_type = raw
        .media_type
        .as_deref()
        .or(content_type)
        .unwrap_or_default();
    if let Some(manifests) = raw.manifests {
        if !matches!(
            media_type,
            OCI_INDEX | DOCKER_LIST | "" | "application/json"
        ) {
            return Err(ManifestError::UnsupportedMediaType(media_type.to_string()));
        }
        return Ok(Manifest::Index(manifests));
    }
    if !matches!(
        media_type,
        OCI_MANIFEST | DOCKER_MANIFEST | "" | "application/json"
    ) {
        return Err(ManifestError::UnsupportedMediaType(media_type.to_string()));
    }
    let config = raw
        .config
        .ok_or_else(|| ManifestError::Invalid("no config".into()))?;
    let layers = raw.layers.unwrap_or_default();
    for layer in &layers {
        check_layer(layer)?;
    }
    Ok(Manifest::Image(ImageManifest { config, layers }))
}

/// Layers scangate can read: tar, optionally gzip or zstd compressed.
fn check_layer(layer: &Descriptor) -> Result<(), ManifestError> {
    let media = layer.media_type.as_str();
    let readable = media.is_empty()
        || (media.starts_with("application/vnd.oci.image.layer.") && !media.contains("encrypted"))
        || media.starts_with("application/vnd.docker.image.rootfs.");
    if readable && layer.size >= 0 {
        Ok(())
    } else {
        Err(ManifestError::UnsupportedLayer {
            media_type: media.to_string(),
            digest: layer.digest.clone(),
        })
    }
}

/// Picks the entry for `wanted` from an index, or says what is there.
pub fn select_platform<'a>(
    entries: &'a [Descriptor],
    wanted: &Platform,
) -> Result<&'a Descriptor, ManifestError> {
    entries
        .iter()
        .find(|entry| {
            entry
                .platform
                .as_ref()
                .is_some_and(|p| wanted.matches(&p.os, &p.architecture, p.variant.as_deref()))
        })
        .ok_or_else(|| {
            let available: Vec<String> = entries
                .iter()
                .filter_map(|e| e.platform.as_ref())
                .filter(|p| p.os != "unknown")
                .map(|p| match &p.variant {
                    Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
                    None => format!("{}/{}", p.os, p.architecture),
                })
                .collect();
            ManifestError::PlatformMissing {
                wanted: wanted.to_string(),
                available: if available.is_empty() {
                    "none".into()
                } else {
                    available.join(", ")
                },
            }
        })
}

/// `sha256:<64 hex>`; the only digest algorithm accepted.
pub fn valid_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_schema1_and_lists_platforms() {
        assert_eq!(
            parse(br#"{"schemaVersion":1,"fsLayers":[]}"#, None),
            Err(ManifestError::Schema1)
        );
        assert_eq!(
            parse(b"{}", Some(DOCKER_SCHEMA1_SIGNED)),
            Err(ManifestError::Schema1)
        );
        let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
          {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":1,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
          {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bb","size":1,"platform":{"os":"unknown","architecture":"unknown"}}]}"#;
        let Ok(Manifest::Index(entries)) = parse(index, None) else {
            panic!("not an index")
        };
        let err = select_platform(&entries, &Platform::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "platform linux/amd64 not in the image index; available: linux/arm64/v8"
        );
        let arm = select_platform(&entries, &"linux/arm64".parse().unwrap()).unwrap();
        assert_eq!(arm.digest, "sha256:aa");
    }

    #[test]
    fn refuses_unreadable_layers() {
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
          "config":{"mediaType":"x","digest":"sha256:cc","size":2},
          "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip+encrypted","digest":"sha256:dd","size":3}]}"#;
        assert!(matches!(
            parse(m, None),
            Err(ManifestError::UnsupportedLayer { .. })
        ));
    }
}
