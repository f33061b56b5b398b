//! Docker config JSON (`~/.docker/config.json`, a `kubernetes.io/dockerconfigjson`
//! pull secret) and the legacy `.dockercfg` format, read into [`Credentials`].

use super::auth::{Credentials, RegistryAuth};
use base64::Engine as _;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Why a Docker config could not be read. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DockerConfigError {
    #[error("docker config is not valid JSON: {0}")]
    Json(String),
    #[error("docker config entry {registry:?}: {reason}")]
    Entry { registry: String, reason: String },
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

/// Reads a Docker config: either `{"auths": {...}}` (config.json,
/// `.dockerconfigjson`) or the legacy `.dockercfg` map of registry → entry.
/// Entries come out sorted by registry; an entry with nothing usable is an error.
pub fn parse_docker_config(json: &[u8]) -> Result<Credentials, DockerConfigError> {
    let value: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| DockerConfigError::Json(e.to_string()))?;
    let auths: BTreeMap<String, AuthEntry> = if value.get("auths").is_some() {
        serde_json::from_value::<ConfigJson>(value)
            .map_err(|e| DockerConfigError::Json(e.to_string()))?
            .auths
    } else {
        serde_json::from_value(value).map_err(|e| DockerConfigError::Json(e.to_string()))?
    };
    let mut entries = Vec::with_capacity(auths.len());
    for (registry, entry) in auths {
        let auth = entry_auth(&registry, entry)?;
        entries.push((canonical_registry(&registry), auth));
    }
    Ok(Credentials { entries })
}

fn entry_auth(registry: &str, entry: AuthEntry) -> Result<RegistryAuth, DockerConfigError> {
    let bad = |reason: &str| DockerConfigError::Entry {
        registry: registry.chars().take(256).collect(),
        reason: reason.to_string(),
    };
    if let Some(token) = entry.registrytoken.filter(|t| !t.is_empty()) {
        return Ok(RegistryAuth::Bearer(token));
    }
    if let Some(token) = entry.identitytoken.filter(|t| !t.is_empty()) {
        return Ok(RegistryAuth::Bearer(token));
    }
    if let Some(encoded) = entry.auth.filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| bad("`auth` is not base64"))?;
        let text = String::from_utf8(decoded).map_err(|_| bad("`auth` is not UTF-8"))?;
        let (username, password) = text
            .split_once(':')
            .ok_or_else(|| bad("`auth` is not user:password"))?;
        return Ok(RegistryAuth::Basic {
            username: username.to_string(),
            password: password.to_string(),
        });
    }
    match (entry.username, entry.password) {
        (Some(username), Some(password)) if !username.is_empty() => {
            Ok(RegistryAuth::Basic { username, password })
        }
        _ => Err(bad(
            "no auth, username/password, identitytoken or registrytoken",
        )),
    }
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
        assert_eq!(
            creds.for_registry("docker.io"),
            RegistryAuth::Basic {
                username: "alice".into(),
                password: "s3cr:et".into()
            }
        );
        assert_eq!(
            creds.for_registry("registry-1.docker.io"),
            creds.for_registry("index.docker.io")
        );
        assert_eq!(
            creds.for_registry("GHCR.io"),
            RegistryAuth::Basic {
                username: "u2".into(),
                password: "p2".into()
            }
        );
        assert_eq!(
            creds.for_registry("quay.io"),
            RegistryAuth::Bearer("idtok".into())
        );
        assert_eq!(
            creds.for_registry("reg.example:5000"),
            RegistryAuth::Bearer("regtok".into())
        );
        assert_eq!(creds.for_registry("reg.example"), RegistryAuth::Anonymous);
    }

    #[test]
    fn reads_legacy_dockercfg() {
        let json = format!(
            r#"{{"registry-1.docker.io": {{"auth": "{}", "email": "x@y"}}}}"#,
            b64("bob:pw")
        );
        let creds = parse_docker_config(json.as_bytes()).unwrap();
        assert_eq!(
            creds.for_registry("docker.io"),
            RegistryAuth::Basic {
                username: "bob".into(),
                password: "pw".into()
            }
        );
    }

    #[test]
    fn refuses_broken_entries_without_echoing_secrets() {
        let err = parse_docker_config(br#"{"auths": {"r.io": {"auth": "!!!"}}}"#).unwrap_err();
        assert!(matches!(err, DockerConfigError::Entry { .. }), "{err}");
        let err = parse_docker_config(
            format!(
                r#"{{"auths": {{"r.io": {{"auth": "{}"}}}}}}"#,
                b64("nocolon")
            )
            .as_bytes(),
        )
        .unwrap_err();
        assert!(!err.to_string().contains("nocolon"), "{err}");
        assert!(parse_docker_config(br#"{"auths": {"r.io": {}}}"#).is_err());
        assert!(parse_docker_config(b"[1,2]").is_err());
        assert!(parse_docker_config(b"{").is_err());
    }

    /// Moved from the cluster code's former parser of pull-secret payloads.
    #[test]
    fn pull_secret_payloads_read_auth_username_password_and_tokens() {
        let json = br#"{"auths":{
            "https://index.docker.io/v1/":{"auth":"dXNlcjpwYTpzcw=="},
            "reg.example:5000":{"username":"u","password":"p"},
            "ghcr.io":{"identitytoken":"tok"}}}"#;
        let entries = parse_docker_config(json).unwrap().entries;
        assert_eq!(
            entries,
            vec![
                ("ghcr.io".into(), RegistryAuth::Bearer("tok".into())),
                (
                    "docker.io".into(),
                    RegistryAuth::Basic {
                        username: "user".into(),
                        password: "pa:ss".into()
                    }
                ),
                (
                    "reg.example:5000".into(),
                    RegistryAuth::Basic {
                        username: "u".into(),
                        password: "p".into()
                    }
                ),
            ]
        );
    }

    #[test]
    fn legacy_dockercfg_payloads_and_bad_auth() {
        let entries = parse_docker_config(br#"{"quay.io":{"auth":"YTpi"}}"#).unwrap();
        assert_eq!(entries.entries.len(), 1);
        assert!(matches!(
            parse_docker_config(br#"{"quay.io":{"auth":"!!"}}"#),
            Err(DockerConfigError::Entry { .. })
        ));
        assert!(parse_docker_config(b"[").is_err());
    }
}
