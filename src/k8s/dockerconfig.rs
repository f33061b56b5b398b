//! Parser of docker pull-secret payloads (`.dockerconfigjson` and the
//! legacy `.dockercfg`). TODO(dedup): replace by the registry helper's
//! docker config parser once it lands.

use crate::registry::RegistryAuth;
use base64::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum DockerConfigError {
    #[error("pull secret is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("pull secret entry for {registry} has an invalid `auth` field")]
    BadAuth { registry: String },
}

#[derive(Deserialize)]
struct ConfigJson {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default, rename = "identitytoken")]
    identity_token: Option<String>,
    #[serde(default, rename = "registrytoken")]
    registry_token: Option<String>,
}

/// Entries of a `.dockerconfigjson` payload (`{"auths": {...}}`).
pub fn parse_dockerconfigjson(
    bytes: &[u8],
) -> Result<Vec<(String, RegistryAuth)>, DockerConfigError> {
    let config: ConfigJson = serde_json::from_slice(bytes)?;
    entries(config.auths)
}

/// Entries of a legacy `.dockercfg` payload (the `auths` map itself).
pub fn parse_dockercfg(bytes: &[u8]) -> Result<Vec<(String, RegistryAuth)>, DockerConfigError> {
    let auths: BTreeMap<String, AuthEntry> = serde_json::from_slice(bytes)?;
    entries(auths)
}

fn entries(
    auths: BTreeMap<String, AuthEntry>,
) -> Result<Vec<(String, RegistryAuth)>, DockerConfigError> {
    let mut out = Vec::new();
    for (key, entry) in auths {
        let registry = registry_host(&key);
        let auth = entry_auth(&registry, entry)?;
        out.push((registry, auth));
    }
    Ok(out)
}

fn entry_auth(registry: &str, entry: AuthEntry) -> Result<RegistryAuth, DockerConfigError> {
    if let Some(token) = entry.registry_token.or(entry.identity_token) {
        return Ok(RegistryAuth::Bearer(token));
    }
    if let (Some(username), Some(password)) = (entry.username, entry.password) {
        return Ok(RegistryAuth::Basic { username, password });
    }
    let Some(auth) = entry.auth.filter(|a| !a.is_empty()) else {
        return Ok(RegistryAuth::Anonymous);
    };
    let bad = || DockerConfigError::BadAuth {
        registry: registry.to_string(),
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (username, password) = text.split_once(':').ok_or_else(bad)?;
    Ok(RegistryAuth::Basic {
        username: username.to_string(),
        password: password.to_string(),
    })
}

/// The registry host of a config key, which may be a bare host or a URL
/// (`https://index.docker.io/v1/` means Docker Hub).
pub fn registry_host(key: &str) -> String {
    let without_scheme = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = without_scheme.split('/').next().unwrap_or(without_scheme);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_string()
        }
        other => other.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_auth_and_username_password_and_tokens() {
        let json = br#"{"auths":{
            "https://index.docker.io/v1/":{"auth":"dXNlcjpwYTpzcw=="},
            "reg.example:5000":{"username":"u","password":"p"},
            "ghcr.io":{"identitytoken":"tok"}}}"#;
        let entries = parse_dockerconfigjson(json).unwrap();
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
    fn legacy_dockercfg_and_bad_auth() {
        let entries = parse_dockercfg(br#"{"quay.io":{"auth":"YTpi"}}"#).unwrap();
        assert_eq!(entries.len(), 1);
        assert!(matches!(
            parse_dockercfg(br#"{"quay.io":{"auth":"!!"}}"#),
            Err(DockerConfigError::BadAuth { .. })
        ));
        assert!(parse_dockerconfigjson(b"[").is_err());
    }
}
