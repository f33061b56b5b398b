//! Local image sources, scanned with no registry: `oci:DIR[:TAG]` (an OCI
//! image layout directory) and `docker-archive:FILE` (a `docker save` or
//! `skopeo copy … docker-archive:` tarball). Blobs are checked against their
//! digests while they are read, exactly as registry blobs are.

use super::manifest::{self, Manifest, ManifestError};
use super::platform::Platform;
use super::reference::{ImageRef, ReferenceError};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Largest JSON document (index, manifest, config) read from a local image.
pub const MAX_LOCAL_JSON_BYTES: u64 = 16 << 20;

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    Registry(ImageRef),
    OciLayout { dir: PathBuf, tag: Option<String> },
    DockerArchive(PathBuf),
}

impl ImageSource {
    /// `oci:DIR[:TAG]`, `docker-archive:FILE`, `docker://REF` or a plain reference.
    pub fn parse(text: &str) -> Result<ImageSource, ReferenceError> {
        let invalid = |reason: &str| ReferenceError::Invalid {
            reference: text.chars().take(256).collect(),
            reason: reason.to_string(),
        };
        if let Some(rest) = text.strip_prefix("oci:") {
            let (dir, tag) = match rest.rsplit_once(':') {
                Some((dir, tag)) if is_tag(tag) && !dir.is_empty() => (dir, Some(tag.to_string())),
                _ => (rest, None),
            };
            if dir.is_empty() {
                return Err(invalid("oci: needs a directory"));
            }
            return Ok(ImageSource::OciLayout {
                dir: PathBuf::from(dir),
                tag,
            });
        }
        if let Some(file) = text.strip_prefix("docker-archive:") {
            if file.is_empty() {
                return Err(invalid("docker-archive: needs a file"));
            }
            return Ok(ImageSource::DockerArchive(PathBuf::from(file)));
        }
        let reference = text.strip_prefix("docker://").unwrap_or(text);
        Ok(ImageSource::Registry(ImageRef::parse(reference)?))
    }
}

fn is_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

/// Why a local image could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("{path}: {cause}")]
    Io { path: String, cause: io::Error },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LocalError + '_ {
    move |cause| LocalError::Io {
        path: path.display().to_string(),
        cause,
    }
}

/// One layer of a local image.
#[derive(Debug, Clone)]
pub struct LocalLayer {
    /// The digest the stored bytes must have.
    pub digest: String,
    pub size: u64,
    file: PathBuf,
    offset: u64,
}

impl LocalLayer {
    /// Opens the stored bytes (unverified; the caller hashes while reading).
    pub fn open(&self) -> io::Result<impl Read + Send + use<>> {
        let mut file = File::open(&self.file)?;
        file.seek(SeekFrom::Start(self.offset))?;
        Ok(file.take(self.size))
    }
}

/// A local image, its JSON already verified.
#[derive(Debug, Clone)]
pub struct LocalImage {
    /// The manifest digest (OCI layout) or image ID (docker archive).
    pub digest: String,
    /// Bottom layer first.
    pub layers: Vec<LocalLayer>,
}

/// Reads at most `MAX_LOCAL_JSON_BYTES` from `reader`.
fn read_capped(reader: impl Read, what: &str) -> Result<Vec<u8>, LocalError> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_LOCAL_JSON_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|cause| LocalError::Io {
            path: what.to_string(),
            cause,
        })?;
    if bytes.len() as u64 > MAX_LOCAL_JSON_BYTES {
        return Err(LocalError::Invalid(format!(
            "{what}: larger than {MAX_LOCAL_JSON_BYTES} bytes"
        )));
    }
    Ok(bytes)
}

fn sha256_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn verify(bytes: &[u8], digest: &str, what: &str) -> Result<(), LocalError> {
    let actual = sha256_of(bytes);
    if actual == digest {
        Ok(())
    } else {
        Err(LocalError::DigestMismatch {
            what: what.to_string(),
            expected: digest.to_string(),
            actual,
        })
    }
}

fn blob_path(dir: &Path, digest: &str) -> Result<PathBuf, LocalError> {
    // A checked digest keeps the path inside blobs/sha256.
    if !manifest::valid_digest(digest) {
        return Err(LocalError::Invalid(format!("invalid digest {digest:?}")));
    }
    Ok(dir
        .join("blobs")
        .join("sha256")
        .join(&digest["sha256:".len()..]))
}

fn read_blob(dir: &Path, digest: &str, what: &str) -> Result<Vec<u8>, LocalError> {
    let path = blob_path(dir, digest)?;
    let bytes = read_capped(File::open(&path).map_err(io_err(&path))?, what)?;
    verify(&bytes, digest, what)?;
    Ok(bytes)
}

/// Loads an OCI image layout: the manifest tagged `tag` in `index.json` (or
/// its only manifest), following an image index to `platform`.
pub fn load_oci_layout(
    dir: &Path,
    tag: Option<&str>,
    platform: &Platform,
) -> Result<LocalImage, LocalError> {
    let index_path = dir.join("index.json");
    let index_bytes = read_capped(
        File::open(&index_path).map_err(io_err(&index_path))?,
        "index.json",
    )?;
    #[derive(Deserialize)]
    struct Entry {
        digest: String,
        #[serde(default)]
        annotations: HashMap<String, String>,
    }
    #[derive(Deserialize)]
    struct Index {
        manifests: Vec<Entry>,
    }
    let index: Index = serde_json::from_slice(&index_bytes)
        .map_err(|e| LocalError::Invalid(format!("index.json: {e}")))?;
    let name_of = |e: &Entry| {
        e.annotations
            .get("org.opencontainers.image.ref.name")
            .cloned()
    };
    let chosen = match tag {
        Some(tag) => index
            .manifests
            .iter()
            .find(|e| name_of(e).as_deref() == Some(tag)),
        None if index.manifests.len() == 1 => index.manifests.first(),
        None => None,
    };
    let Some(entry) = chosen else {
        let tags: Vec<String> = index.manifests.iter().filter_map(name_of).collect();
        return Err(LocalError::Invalid(format!(
            "{}: no manifest {}; tags present: {}",
            dir.display(),
            tag.map(|t| format!("tagged {t:?}"))
                .unwrap_or_else(|| "(several present, name a tag)".into()),
            if tags.is_empty() {
                "none".into()
            } else {
                tags.join(", ")
            }
        )));
    };
    let mut digest = entry.digest.clone();
    let mut bytes = read_blob(dir, &digest, "manifest")?;
    let image = loop {
        match manifest::parse(&bytes, None)? {
            Manifest::Image(image) => break image,
            Manifest::Index(entries) => {
                if digest != entry.digest {
                    return Err(ManifestError::Invalid("index nested in an index".into()).into());
                }
                digest = manifest::select_platform(&entries, platform)?
                    .digest
                    .clone();
                bytes = read_blob(dir, &digest, "manifest")?;
            }
        }
    };
    let layers = image
        .layers
        .iter()
        .map(|layer| {
            Ok(LocalLayer {
                digest: layer.digest.clone(),
                size: u64::try_from(layer.size).unwrap_or(0),
                file: blob_path(dir, &layer.digest)?,
                offset: 0,
            })
        })
        .collect::<Result<_, LocalError>>()?;
    Ok(LocalImage { digest, layers })
}

/// Loads a `docker save` tarball holding one image. Its digest is the image
/// ID (the config's sha256); each layer must hash to its config `diff_id`
/// (or to the `blobs/sha256/…` name it is stored under).
pub fn load_docker_archive(file: &Path) -> Result<LocalImage, LocalError> {
    let members = archive_members(file)?;
    let member = |name: &str| {
        let name = name.trim_start_matches("./");
        members
            .get(name)
            .copied()
            .ok_or_else(|| LocalError::Invalid(format!("{}: no member {name:?}", file.display())))
    };
    let read_member = |name: &str| -> Result<Vec<u8>, LocalError> {
        let (offset, size) = member(name)?;
        let mut handle = File::open(file).map_err(io_err(file))?;
        handle.seek(SeekFrom::Start(offset)).map_err(io_err(file))?;
        read_capped(handle.take(size), name)
    };
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Entry {
        config: String,
        layers: Vec<String>,
    }
    let entries: Vec<Entry> = serde_json::from_slice(&read_member("manifest.json")?)
        .map_err(|e| LocalError::Invalid(format!("manifest.json: {e}")))?;
    let [entry] = entries.as_slice() else {
        return Err(LocalError::Invalid(format!(
            "{}: holds {} images; exactly one is supported",
            file.display(),
            entries.len()
        )));
    };
    let config = read_member(&entry.config)?;
    #[derive(Deserialize)]
    struct RootFs {
        diff_ids: Vec<String>,
    }
    #[derive(Deserialize)]
    struct Config {
        rootfs: RootFs,
    }
    let parsed: Config = serde_json::from_slice(&config)
        .map_err(|e| LocalError::Invalid(format!("image config: {e}")))?;
    if parsed.rootfs.diff_ids.len() != entry.layers.len() {
        return Err(LocalError::Invalid(format!(
            "{} layers but {} diff_ids in the config",
            entry.layers.len(),
            parsed.rootfs.diff_ids.len()
        )));
    }
    let layers = entry
        .layers
        .iter()
        .zip(&parsed.rootfs.diff_ids)
        .map(|(name, diff_id)| {
            let (offset, size) = member(name)?;
            let stored_as = name
                .trim_start_matches("./")
                .strip_prefix("blobs/sha256/")
                .map(|hex| format!("sha256:{hex}"));
            let digest = stored_as.unwrap_or_else(|| diff_id.clone());
            if !manifest::valid_digest(&digest) {
                return Err(LocalError::Invalid(format!(
                    "invalid layer digest {digest:?}"
                )));
            }
            Ok(LocalLayer {
                digest,
                size,
                file: file.to_path_buf(),
                offset,
            })
        })
        .collect::<Result<_, LocalError>>()?;
    Ok(LocalImage {
        digest: sha256_of(&config),
        layers,
    })
}

/// Member name → (data offset, size) of a tarball, headers only.
fn archive_members(file: &Path) -> Result<HashMap<String, (u64, u64)>, LocalError> {
    let handle = File::open(file).map_err(io_err(file))?;
    let mut archive = tar::Archive::new(handle);
    let mut members = HashMap::new();
    let entries = archive.entries_with_seek().map_err(io_err(file))?;
    for entry in entries {
        let entry = entry.map_err(io_err(file))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .map_err(io_err(file))?
            .to_string_lossy()
            .into_owned();
        let name = name.trim_start_matches("./").to_string();
        members.insert(name, (entry.raw_file_position(), entry.size()));
        if members.len() > 100_000 {
            return Err(LocalError::Invalid(format!(
                "{}: too many members",
                file.display()
            )));
        }
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sources() {
        assert_eq!(
            ImageSource::parse("oci:/tmp/img:v1").unwrap(),
            ImageSource::OciLayout {
                dir: "/tmp/img".into(),
                tag: Some("v1".into())
            }
        );
        assert_eq!(
            ImageSource::parse("oci:/tmp/img").unwrap(),
            ImageSource::OciLayout {
                dir: "/tmp/img".into(),
                tag: None
            }
        );
        assert_eq!(
            ImageSource::parse("docker-archive:/tmp/a.tar").unwrap(),
            ImageSource::DockerArchive("/tmp/a.tar".into())
        );
        assert!(matches!(
            ImageSource::parse("nginx").unwrap(),
            ImageSource::Registry(_)
        ));
        assert!(ImageSource::parse("oci:").is_err());
        assert!(ImageSource::parse("docker-archive:").is_err());
    }
}
