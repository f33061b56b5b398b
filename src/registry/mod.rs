//! OCI distribution client glue: references, auth (anonymous, basic,
//! bearer, dockerconfigjson pull secrets), manifests, platform selection,
//! digest-verified blob streams, and the local image sources (`oci:`,
//! `docker-archive:`).

pub mod auth;
pub mod client;
pub mod docker_config;
pub mod guard;
pub mod local;
pub mod manifest;
pub mod platform;
pub mod reference;
pub mod transport;

pub use auth::{Credentials, RegistryAuth};
pub use client::{RegistryClient, RegistryError};
pub use docker_config::{DockerConfigError, parse_docker_config};
pub use guard::{GuardError, RegistryPolicy};
pub use local::{ImageSource, LocalError};
pub use platform::Platform;
pub use reference::{ImageRef, ReferenceError};
