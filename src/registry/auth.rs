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
    /// An identity or registry token used as a bearer token.
    Bearer(String),
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
