//! Which registries scangate may contact. Image references come from anyone
//! who can create a pod, so by default a registry whose address resolves to
//! loopback, link-local, unspecified or a cloud metadata endpoint is refused:
//! a pod spec must not make scangate probe internal services.
//!
//! [`RegistryPolicy::check`] decides before the pull, from the reference's
//! host. The same policy is enforced again where connections are made
//! ([`super::transport`]): the resolver filters every DNS answer, so a
//! rebinding name gains nothing, and every redirect and token realm is
//! checked.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Registry address policy; every list holds `host` or `host:port` as
/// written in image references (config keys in camelCase).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RegistryPolicy {
    /// Registries reached over plain HTTP (`insecureRegistries`); allowed even
    /// on loopback, which is how tests and dev mode reach a local registry.
    pub insecure_registries: Vec<String>,
    /// Registries always allowed, whatever their address (`allowRegistries`).
    pub allow_registries: Vec<String>,
    /// Registries always refused (`denyRegistries`); wins over every allow.
    pub deny_registries: Vec<String>,
}

/// Why a registry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("registry {registry} is on the deny list (denyRegistries)")]
    Denied { registry: String },
    #[error(
        "registry {registry} resolves to {address}, a {kind} address; refused (add it to allowRegistries or insecureRegistries to permit)"
    )]
    ForbiddenAddress {
        registry: String,
        address: IpAddr,
        kind: &'static str,
    },
    #[error("registry {registry} is a cloud metadata endpoint; refused")]
    MetadataHost { registry: String },
    #[error("registry {registry}: cannot resolve: {reason}")]
    Resolve { registry: String, reason: String },
    #[error("redirect to {location} refused: {reason}")]
    Redirect { location: String, reason: String },
}

/// Host names of cloud metadata services.
const METADATA_HOSTS: &[&str] = &[
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.azure.com",
    "metadata.platformequinix.com",
];

impl RegistryPolicy {
    /// `registry` is on `list`: the entry names it exactly, or names its
    /// host without a port (`[::1]` lists `[::1]:5000`, as `127.0.0.1` lists
    /// `127.0.0.1:5000`).
    fn listed(list: &[String], registry: &str) -> bool {
        let registry = registry.to_ascii_lowercase();
        let host = split_host_port(&registry).0;
        list.iter().any(|entry| {
            let entry = entry.trim().to_ascii_lowercase();
            entry == registry || (!has_port(&entry) && split_host_port(&entry).0 == host)
        })
    }

    pub fn is_insecure(&self, registry: &str) -> bool {
        Self::listed(&self.insecure_registries, registry)
    }

    pub fn is_denied(&self, registry: &str) -> bool {
        Self::listed(&self.deny_registries, registry)
    }

    /// On `allowRegistries` or `insecureRegistries` (`host` or `host:port`).
    pub fn host_explicitly_allowed(&self, registry: &str) -> bool {
        !self.is_denied(registry)
            && (Self::listed(&self.allow_registries, registry) || self.is_insecure(registry))
    }

    /// Some allow or insecure entry names `host`, on whatever port: what the
    /// resolver, which sees no port, can check.
    pub fn host_listed_on_any_port(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allow_registries
            .iter()
            .chain(&self.insecure_registries)
            .any(|entry| {
                let entry = entry.trim().to_ascii_lowercase();
                split_host_port(&entry).0 == host
            })
    }

    /// A cloud metadata service's host name.
    pub fn is_metadata_host(&self, host: &str) -> bool {
        let host = split_host_port(host).0;
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        METADATA_HOSTS.contains(&host.as_str())
    }

    /// Decides whether `registry` (`host[:port]`) may be contacted, resolving
    /// its name when the lists do not decide.
    pub async fn check(&self, registry: &str) -> Result<(), GuardError> {
        if Self::listed(&self.deny_registries, registry) {
            return Err(GuardError::Denied {
                registry: registry.to_string(),
            });
        }
        if Self::listed(&self.allow_registries, registry) || self.is_insecure(registry) {
            return Ok(());
        }
        let (host, port) = split_host_port(registry);
        let host_lower = host.trim_end_matches('.').to_ascii_lowercase();
        if METADATA_HOSTS.contains(&host_lower.as_str()) {
            return Err(GuardError::MetadataHost {
                registry: registry.to_string(),
            });
        }
        let addresses: Vec<IpAddr> = match host_lower.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => tokio::net::lookup_host((host_lower.as_str(), port))
                .await
                .map_err(|e| GuardError::Resolve {
                    registry: registry.to_string(),
                    reason: e.to_string(),
                })?
                .map(|sock| sock.ip())
                .collect(),
        };
        for address in addresses {
            if let Some(kind) = forbidden_kind(address) {
                return Err(GuardError::ForbiddenAddress {
                    registry: registry.to_string(),
                    address,
                    kind,
                });
            }
        }
        Ok(())
    }
}

/// `host:port`, `[v6]:port`, `host` → (host, port), port 443 by default.
fn split_host_port(registry: &str) -> (&str, u16) {
    if let Some(rest) = registry.strip_prefix('[')
        && let Some((host, after)) = rest.split_once(']')
    {
        let port = after
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .unwrap_or(443);
        return (host, port);
    }
    match registry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, port.parse().unwrap_or(443)),
        _ => (registry, 443),
    }
}

/// `host:port` or `[v6]:port`, not `host`, `[v6]` or a bare IPv6 address.
fn has_port(registry: &str) -> bool {
    match registry.strip_prefix('[') {
        Some(rest) => rest
            .split_once(']')
            .is_some_and(|(_, after)| after.starts_with(':')),
        None => registry.matches(':').count() == 1,
    }
}

/// Names the kind of address that is refused, or `None` when it is fine.
pub fn forbidden_kind(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            if v6 == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254) {
                Some("cloud metadata")
            } else if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if (v6.segments()[0] & 0xffc0) == 0xfe80 {
                Some("link-local")
            } else {
                None
            }
        }
    }
}

fn forbidden_v4(v4: Ipv4Addr) -> Option<&'static str> {
    if v4 == Ipv4Addr::new(169, 254, 169, 254) || v4 == Ipv4Addr::new(100, 100, 100, 200) {
        Some("cloud metadata")
    } else if v4.is_loopback() {
        Some("loopback")
    } else if v4.is_unspecified() || v4.octets()[0] == 0 {
        Some("unspecified")
    } else if v4.is_link_local() {
        Some("link-local")
    } else if v4.is_broadcast() {
        Some("broadcast")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_internal_addresses_by_default() {
        let policy = RegistryPolicy::default();
        for registry in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost:5000",
            "[::1]:5000",
            "169.254.169.254",
            "169.254.10.1:80",
            "[fd00:ec2::254]",
            "[fe80::1]:5000",
            "0.0.0.0:5000",
            "metadata.google.internal",
            "METADATA.google.internal.",
            "[::ffff:127.0.0.1]:5000",
        ] {
            assert!(policy.check(registry).await.is_err(), "{registry} allowed");
        }
        assert!(policy.check("10.1.2.3:5000").await.is_ok());
        assert!(policy.check("[2001:db8::1]:5000").await.is_ok());
    }

    #[tokio::test]
    async fn ipv6_registries_of_parsed_references_meet_their_ipv4_twins_rules() {
        let policy = RegistryPolicy::default();
        for (v6, v4) in [
            ("[::1]:5000/app", "127.0.0.1:5000/app"),
            ("[fe80::1]:5000/app", "169.254.10.1:5000/app"),
            ("[FE80::abcd]/app", "169.254.0.1/app"),
            ("[::]/app", "0.0.0.0/app"),
            ("[::ffff:a9fe:a9fe]/app", "169.254.169.254/app"),
        ] {
            for text in [v6, v4] {
                let image = crate::registry::ImageRef::parse(text).unwrap();
                let refused = policy.check(image.registry()).await;
                assert!(
                    matches!(refused, Err(GuardError::ForbiddenAddress { .. })),
                    "{text}: {refused:?}"
                );
            }
        }
        let image = crate::registry::ImageRef::parse("[2001:db8::1]:5000/app").unwrap();
        assert!(policy.check(image.registry()).await.is_ok());
        // Tests and dev mode reach a loopback registry by listing it.
        let listed = RegistryPolicy {
            insecure_registries: vec!["[::1]:5000".into()],
            allow_registries: vec!["[fe80::1]".into()],
            ..RegistryPolicy::default()
        };
        assert!(listed.check("[::1]:5000").await.is_ok());
        assert!(listed.check("[::1]:5001").await.is_err());
        assert!(listed.check("[fe80::1]:443").await.is_ok());
        assert!(listed.is_insecure("[::1]:5000"));
        assert!(!listed.is_insecure("[::1]:5001"));
    }

    #[tokio::test]
    async fn lists_decide_before_addresses() {
        let policy = RegistryPolicy {
            insecure_registries: vec!["127.0.0.1:5000".into()],
            allow_registries: vec!["localhost".into()],
            deny_registries: vec!["evil.example".into(), "localhost:6000".into()],
        };
        assert!(policy.check("127.0.0.1:5000").await.is_ok());
        assert!(policy.check("127.0.0.1:5001").await.is_err());
        assert!(policy.check("localhost:7000").await.is_ok());
        assert!(matches!(
            policy.check("localhost:6000").await,
            Err(GuardError::Denied { .. })
        ));
        assert!(matches!(
            policy.check("evil.example:443").await,
            Err(GuardError::Denied { .. })
        ));
    }
}
