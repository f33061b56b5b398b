//! Registry credentials. Secrets never appear in Debug output or logs.

use std::fmt;

/// How to authenticate to one registry.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum RegistryAuth {
    #[default]
    Anonymous,
    Basic {
        username: String,
        password: String,
    },
    /// A registry token (`registrytoken`), sent as the bearer token.
    Bearer(String),
    /// An OAuth2 refresh token (`identitytoken`, what `docker login`
    /// keeps for registries that issue one), exchanged at the registry's
    /// token server for an access token.
    IdentityToken(String),
}

impl fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryAuth::Anonymous => f.write_str("Anonymous"),
            RegistryAuth::Basic { username, .. } => {
                write!(
                    f,
                    "Basic {{ username: {username:?}, password: <redacted> }}"
                )
            }
            RegistryAuth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            RegistryAuth::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

/// Credentials for a pull, in priority order (the pod's pull secrets, then
/// its service account's, then the global secret): the first entry whose
/// registry matches the image is used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `(registry host[:port], auth)`.
    pub entries: Vec<(String, RegistryAuth)>,
}

impl Credentials {
    pub fn anonymous() -> Credentials {
        Credentials::default()
    }
}
