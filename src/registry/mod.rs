//! OCI distribution client glue: references, auth (anonymous, basic,
//! bearer, dockerconfigjson pull secrets), manifests, platform selection,
//! digest-verified blob streams, and the local image sources (`oci:`,
//! `docker-archive:`).

pub mod auth;
pub mod reference;

pub use auth::{Credentials, RegistryAuth};
pub use reference::{ImageRef, ReferenceError};
