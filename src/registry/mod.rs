//! OCI distribution client glue: references, auth (anonymous, basic,
//! bearer, dockerconfigjson pull secrets), manifests, platform selection,
//! digest-verified blob streams, and the local image sources (`oci:`,
//! `docker-archive:`).

pub(crate) mod auth;
pub(crate) mod client;
pub mod docker_config;
pub(crate) mod guard;
pub(crate) mod local;
pub(crate) mod manifest;
pub(crate) mod platform;
pub(crate) mod reference;
pub(crate) mod transport;

pub use auth::{Credentials, RegistryAuth};
pub use client::{RegistryClient, RegistryError};
pub use docker_config::{DockerConfigError, parse_docker_config};
pub use guard::{GuardError, RegistryPolicy};
pub use local::{ImageSource, LocalError};
pub use platform::Platform;
pub use reference::{ImageRef, ReferenceError};
