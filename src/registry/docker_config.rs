//! The one reader of Docker credentials files, with the semantics Docker
//! and the kubelet share: `config.json` (`{"auths": {...}}`, also a
//! `kubernetes.io/dockerconfigjson` pull secret and the `auth.json` that
//! skopeo and podman write) and the legacy `.dockercfg` map of registry →
//! entry. Per entry, a non-empty `auth` (base64 `user:password`) wins over
//! `username`/`password`, as both decode it over them; `registrytoken` is
//! a bearer token for the registry; `identitytoken` is an OAuth2 refresh
//! token exchanged at the registry's token server. Empty fields count as
//! absent, and an entry with nothing in it (what `docker login` leaves
//! when a credential helper holds the secret) gives no credentials for
//! that registry: pulls from it are anonymous, as Docker's would be.

use super::auth::{Credentials, RegistryAuth};
use base64::Engine as _;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a Docker config could not be read. Never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum DockerConfigError {
    #[error("docker config is not valid JSON: {0}")]
    Json(String),
    #[error("docker config entry {registry:?}: {reason}")]
    Entry { registry: String, reason: String },
    #[error("reading the docker config {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("docker config {path}")]
    File {
        path: PathBuf,
        #[source]
        source: Box<DockerConfigError>,
    },
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "lowercase")]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

#[derive(Deserialize)]
struct ConfigJson {
    auths: BTreeMap<String, AuthEntry>,
}

/// The canonical registry key for a host as written in a Docker config or an
/// image reference: scheme and path dropped, lowercased, Docker Hub's
/// aliases folded into `docker.io`.
pub fn canonical_registry(raw: &str) -> String {
    let trimmed = raw.trim();
    let without_scheme = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .unwrap_or(trimmed);
    let host = without_scheme
        .split('/')
        .next()
        .unwrap_or(without_scheme)
        .to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_string()
        }
        _ => host,
    }
}

/// Reads a Docker config file (`--docker-config`): [`parse_docker_config`]
/// of its bytes, errors naming the file.
pub fn read_docker_config(path: &Path) -> Result<Credentials, DockerConfigError> {
    let bytes = std::fs::read(path).map_err(|source| DockerConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_docker_config(&bytes).map_err(|source| DockerConfigError::File {
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

/// Reads a Docker config: either `{"auths": {...}}` (config.json,
/// `.dockerconfigjson`, `auth.json`) or the legacy `.dockercfg` map of
/// registry → entry. Entries come out sorted by registry; entries with no
/// credentials in them are left out.
pub fn parse_docker_config(json: &[u8]) -> Result<Credentials, DockerConfigError> {
    let value: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| DockerConfigError::Json(e.to_string()))?;
    let modern = value.as_object().is_some_and(|o| o.contains_key("auths"));
    let auths: BTreeMap<String, AuthEntry> = if modern {
        serde_json::from_value::<ConfigJson>(value)
            .map_err(|e| DockerConfigError::Json(e.to_string()))?
            .auths
    } else {
        serde_json::from_value(value).map_err(|e| DockerConfigError::Json(e.to_string()))?
    };
    let mut entries = Vec::with_capacity(auths.len());
    for (registry, entry) in auths {
        if let Some(auth) = entry_auth(&registry, entry)? {
            entries.push((canonical_registry(&registry), auth));
        }
    }
    Ok(Credentials { entries })
}

/// One entry's credentials; `None` when it holds none.
fn entry_auth(registry: &str, entry: AuthEntry) -> Result<Option<RegistryAuth>, DockerConfigError> {
    let bad = |reason: &str| DockerConfigError::Entry {
        registry: registry.chars().take(256).collect(),
        reason: reason.to_string(),
    };
    let present = |field: Option<String>| field.filter(|v| !v.is_empty());
    if let Some(token) = present(entry.registrytoken) {
        return Ok(Some(RegistryAuth::Bearer(token)));
    }
    if let Some(token) = present(entry.identitytoken) {
        return Ok(Some(RegistryAuth::IdentityToken(token)));
    }
    if let Some(encoded) = present(entry.auth) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| bad("`auth` is not base64"))?;
        let text = String::from_utf8(decoded).map_err(|_| bad("`auth` is not UTF-8"))?;
        let (username, password) = text
            .split_once(':')
            .ok_or_else(|| bad("`auth` is not user:password"))?;
        return Ok(Some(RegistryAuth::Basic {
            username: username.to_string(),
            password: password.trim_matches('\0').to_string(),
        }));
    }
    Ok(present(entry.username).map(|username| RegistryAuth::Basic {
        username,
        password: entry.password.unwrap_or_default(),
    }))
}

impl Credentials {
    /// The credentials for `registry` (as in an image reference): the first
    /// entry whose canonical host matches, else anonymous.
    pub fn for_registry(&self, registry: &str) -> RegistryAuth {
        let wanted = canonical_registry(registry);
        self.entries
            .iter()
            .find(|(host, _)| canonical_registry(host) == wanted)
            .map(|(_, auth)| auth.clone())
            .unwrap_or_default()
    }

    /// Appends `other`'s entries after this one's (lower priority).
    pub fn extended_with(mut self, other: Credentials) -> Credentials {
        self.entries.extend(other.entries);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn basic(username: &str, password: &str) -> RegistryAuth {
        RegistryAuth::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    #[test]
    fn reads_auths_with_every_entry_kind() {
        let json = format!(
            r#"{{"auths": {{
                "https://index.docker.io/v1/": {{"auth": "{}"}},
                "ghcr.io": {{"username": "u2", "password": "p2"}},
                "quay.io": {{"identitytoken": "idtok"}},
                "reg.example:5000": {{"registrytoken": "regtok", "auth": ""}}
            }}}}"#,
            b64("alice:s3cr:et")
        );
        let creds = parse_docker_config(json.as_bytes()).unwrap();
        assert_eq!(creds.for_registry("docker.io"), basic("alice", "s3cr:et"));
        assert_eq!(
            creds.for_registry("registry-1.docker.io"),
            creds.for_registry("index.docker.io")
        );
        assert_eq!(creds.for_registry("GHCR.io"), basic("u2", "p2"));
        assert_eq!(
            creds.for_registry("quay.io"),
            RegistryAuth::IdentityToken("idtok".into())
        );
        assert_eq!(
            creds.for_registry("reg.example:5000"),
            RegistryAuth::Bearer("regtok".into())
        );
        assert_eq!(creds.for_registry("reg.example"), RegistryAuth::Anonymous);
    }

    /// Docker and the kubelet decode `auth` over `username`/`password`.
    #[test]
    fn auth_wins_over_username_and_password() {
        let json = format!(
            r#"{{"auths": {{"r.io": {{"auth": "{}", "username": "old", "password": "stale"}}}}}}"#,
            b64("new:fresh")
        );
        let creds = parse_docker_config(json.as_bytes()).unwrap();
        assert_eq!(creds.for_registry("r.io"), basic("new", "fresh"));
        // Docker trims NUL padding off the decoded password.
        let padded = format!(
            r#"{{"auths": {{"r.io": {{"auth": "{}"}}}}}}"#,
            b64("u:p\0\0")
        );
        let creds = parse_docker_config(padded.as_bytes()).unwrap();
        assert_eq!(creds.for_registry("r.io"), basic("u", "p"));
    }

    #[test]
    fn empty_fields_are_absent_and_empty_entries_give_no_credentials() {
        // What `docker login` leaves behind when a credential helper holds
        // the secret: an empty entry, and pulls from it are anonymous.
        let creds = parse_docker_config(
            br#"{"auths": {"r.io": {}, "s.io": {"auth": "", "username": "", "identitytoken": ""}}, "credsStore": "desktop"}"#,
        )
        .unwrap();
        assert!(creds.entries.is_empty(), "{creds:?}");
        // A username without a password is a user with an empty password.
        let creds = parse_docker_config(br#"{"auths": {"r.io": {"username": "u"}}}"#).unwrap();
        assert_eq!(creds.for_registry("r.io"), basic("u", ""));
    }

    #[test]
    fn reads_legacy_dockercfg() {
        let json = format!(
            r#"{{"registry-1.docker.io": {{"auth": "{}", "email": "x@y"}}}}"#,
            b64("bob:pw")
        );
        let creds = parse_docker_config(json.as_bytes()).unwrap();
        assert_eq!(creds.for_registry("docker.io"), basic("bob", "pw"));
        let entries = parse_docker_config(br#"{"quay.io":{"auth":"YTpi"}}"#).unwrap();
        assert_eq!(entries.for_registry("quay.io"), basic("a", "b"));
    }

    #[test]
    fn refuses_broken_entries_without_echoing_secrets() {
        let err = parse_docker_config(br#"{"auths": {"r.io": {"auth": "!!!"}}}"#).unwrap_err();
        assert!(matches!(err, DockerConfigError::Entry { .. }), "{err}");
        assert!(err.to_string().contains("`auth` is not base64"), "{err}");
        let err = parse_docker_config(
            format!(
                r#"{{"auths": {{"r.io": {{"auth": "{}"}}}}}}"#,
                b64("nocolon")
            )
            .as_bytes(),
        )
        .unwrap_err();
        assert!(!err.to_string().contains("nocolon"), "{err}");
        assert!(parse_docker_config(br#"{"quay.io":{"auth":"!!"}}"#).is_err());
        assert!(parse_docker_config(b"[1,2]").is_err());
        assert!(parse_docker_config(b"{").is_err());
        assert!(parse_docker_config(b"[").is_err());
    }

    #[test]
    fn a_file_error_names_the_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"auths":{"x":{"auth":"!!"}}}"#).unwrap();
        let err = read_docker_config(&path).unwrap_err();
        let chain = format!("{:#}", anyhow::Error::from(err));
        assert!(chain.contains("config.json"), "{chain}");
        assert!(chain.contains("\"x\": `auth` is not base64"), "{chain}");
        let missing = read_docker_config(&dir.path().join("none.json")).unwrap_err();
        assert!(
            matches!(missing, DockerConfigError::Read { .. }),
            "{missing}"
        );
    }
}
