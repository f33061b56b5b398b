//! The guarded HTTP transport for manifest and blob downloads: the registry
//! guard enforced where connections are made, not only before the pull.
//!
//! - A DNS resolver that drops loopback, link-local, unspecified and
//!   metadata addresses from every answer (unless the host is on
//!   `allowRegistries` or `insecureRegistries`), so a name that resolves,
//!   or re-resolves (rebinding), to an internal address is never connected to.
//! - A check for every redirect hop ([`check_redirect`]): registries
//!   redirect blob downloads to storage, and a redirect to `169.254.169.254`
//!   or `127.0.0.1` is refused unless that host is explicitly allowed. IP
//!   literals never reach the resolver, so the check looks at them itself;
//!   names are checked again by the resolver when the hop connects. An
//!   HTTPS registry may not redirect to plain HTTP. The client itself does
//!   not follow redirects: the registry client follows them by hand (see
//!   [`super::client`]), so that each hop is counted against
//!   `maxRegistryRedirects`, counted in `scangate_registry_redirects_total`,
//!   and sent no credentials when it leaves the registry's origin.

use super::guard::{GuardError, RegistryPolicy, forbidden_kind};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Resolves names with the system resolver, then applies the guard.
struct GuardedResolver {
    policy: Arc<RegistryPolicy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_string();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| GuardError::Resolve {
                    registry: host.clone(),
                    reason: e.to_string(),
                })?
                .collect();
            let allowed = filter_addresses(&policy, &host, resolved)?;
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The addresses of `host` that may be connected to; an error naming the
/// first refused address when none may.
pub fn filter_addresses(
    policy: &RegistryPolicy,
    host: &str,
    resolved: Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, GuardError> {
    if policy.is_denied(host) {
        return Err(GuardError::Denied {
            registry: host.to_string(),
        });
    }
    if policy.host_listed_on_any_port(host) {
        return Ok(resolved);
    }
    if policy.is_metadata_host(host) {
        return Err(GuardError::MetadataHost {
            registry: host.to_string(),
        });
    }
    let mut refused = None;
    let allowed: Vec<SocketAddr> = resolved
        .into_iter()
        .filter(|addr| match forbidden_kind(addr.ip()) {
            Some(kind) => {
                refused.get_or_insert((addr.ip(), kind));
                false
            }
            None => true,
        })
        .collect();
    match (allowed.is_empty(), refused) {
        (true, Some((address, kind))) => Err(GuardError::ForbiddenAddress {
            registry: host.to_string(),
            address,
            kind,
        }),
        (true, None) => Err(GuardError::Resolve {
            registry: host.to_string(),
            reason: "no addresses".into(),
        }),
        (false, _) => Ok(allowed),
    }
}

/// Decides one redirect hop: its scheme and, for an IP literal or a
/// metadata host name, its address.
pub fn check_redirect(
    policy: &RegistryPolicy,
    previous: Option<&url::Url>,
    next: &url::Url,
) -> Result<(), GuardError> {
    let refuse = |reason: String| GuardError::Redirect {
        location: next.as_str().chars().take(256).collect(),
        reason,
    };
    if !matches!(next.scheme(), "http" | "https") {
        return Err(refuse(format!("scheme {} not allowed", next.scheme())));
    }
    let Some(host) = next.host() else {
        return Err(refuse("no host".into()));
    };
    let host_text = match host {
        url::Host::Domain(d) => d.to_string(),
        url::Host::Ipv4(v4) => v4.to_string(),
        url::Host::Ipv6(v6) => v6.to_string(),
    };
    let with_port = match next.port() {
        Some(port) if matches!(host, url::Host::Ipv6(_)) => format!("[{host_text}]:{port}"),
        Some(port) => format!("{host_text}:{port}"),
        None => host_text.clone(),
    };
    if policy.is_denied(&with_port) {
        return Err(GuardError::Denied {
            registry: with_port,
        });
    }
    let downgrade = next.scheme() == "http"
        && previous.is_some_and(|p| p.scheme() == "https")
        && !policy.is_insecure(&with_port);
    if !policy.host_explicitly_allowed(&with_port) {
        let address: Option<IpAddr> = match host {
            url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
            url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
            url::Host::Domain(_) => None,
        };
        if let Some(address) = address
            && let Some(kind) = forbidden_kind(address)
        {
            return Err(GuardError::ForbiddenAddress {
                registry: with_port,
                address,
                kind,
            });
        }
        if address.is_none() && policy.is_metadata_host(&host_text) {
            return Err(GuardError::MetadataHost {
                registry: with_port,
            });
        }
        // The resolver lets a listed name through on any port (it sees no
        // port); a redirect may only go to the listed one.
        if address.is_none() && policy.host_listed_on_any_port(&host_text) {
            return Err(refuse(format!(
                "{host_text} is allowed only on its listed port"
            )));
        }
        // Other names are checked by the resolver when the hop connects.
    }
    if downgrade {
        return Err(refuse("redirect from https to plain http".into()));
    }
    Ok(())
}

/// Builds the HTTP client for registry requests with the guard at connect
/// time. It follows no redirects: every hop goes back to the caller, which
/// checks it with [`check_redirect`].
pub fn guarded_client(
    policy: &RegistryPolicy,
    connect_timeout: Duration,
) -> Result<reqwest::Client, reqwest::Error> {
    let shared = Arc::new(policy.clone());
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver { policy: shared }))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(30))
        // A proxy would resolve names itself, out of the guard's sight.
        .no_proxy()
        .user_agent(concat!("scangate/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The guard's refusal inside a transport error, if that is what it was.
pub fn guard_error(error: &(dyn std::error::Error + 'static)) -> Option<GuardError> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(guard) = e.downcast_ref::<GuardError>() {
            return Some(guard.clone());
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn resolver_drops_internal_addresses() {
        let policy = RegistryPolicy::default();
        let mixed = vec![addr("127.0.0.1:0"), addr("93.184.215.14:0")];
        assert_eq!(
            filter_addresses(&policy, "example.com", mixed).unwrap(),
            [addr("93.184.215.14:0")]
        );
        let err = filter_addresses(&policy, "rebind.example", vec![addr("169.254.169.254:0")])
            .unwrap_err();
        assert!(
            matches!(
                err,
                GuardError::ForbiddenAddress {
                    kind: "cloud metadata",
                    ..
                }
            ),
            "{err:?}"
        );
        let err = filter_addresses(&policy, "localhost", vec![addr("[::1]:0")]).unwrap_err();
        assert!(matches!(
            err,
            GuardError::ForbiddenAddress {
                kind: "loopback",
                ..
            }
        ));
        let allowed = RegistryPolicy {
            allow_registries: vec!["localhost".into()],
            ..Default::default()
        };
        assert!(filter_addresses(&allowed, "localhost", vec![addr("127.0.0.1:0")]).is_ok());
    }

    #[test]
    fn redirects_to_internal_hosts_are_refused() {
        let policy = RegistryPolicy {
            insecure_registries: vec!["10.0.0.5:5000".into()],
            ..Default::default()
        };
        let from = url::Url::parse("https://registry.example/v2/a/blobs/sha256:00").unwrap();
        let check = |to: &str| check_redirect(&policy, Some(&from), &url::Url::parse(to).unwrap());
        assert!(check("https://storage.example/blob?sig=1").is_ok());
        assert!(matches!(
            check("http://169.254.169.254/latest/meta-data/"),
            Err(GuardError::ForbiddenAddress { .. })
        ));
        assert!(matches!(
            check("https://127.0.0.1:8080/"),
            Err(GuardError::ForbiddenAddress { .. })
        ));
        assert!(matches!(
            check("https://[::ffff:127.0.0.1]/"),
            Err(GuardError::ForbiddenAddress { .. })
        ));
        assert!(matches!(
            check("https://metadata.google.internal/"),
            Err(GuardError::MetadataHost { .. })
        ));
        assert!(matches!(
            check("http://storage.example/blob"),
            Err(GuardError::Redirect { .. })
        ));
        assert!(matches!(
            check("file:///etc/passwd"),
            Err(GuardError::Redirect { .. })
        ));
        // Explicitly listed hosts are allowed, over http when insecure.
        assert!(check("http://10.0.0.5:5000/blob").is_ok());
    }
}
