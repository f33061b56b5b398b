//! Lease-based leader election (coordination.k8s.io/v1), so only one
//! replica runs the re-scan loop.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::PostParams;
use kube::{Api, Client};
use serde::{Deserialize, Serialize};

/// Settings of leader election (config key `leaderElection`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LeaderConfig {
    pub lease_name: String,
    /// A lease not renewed for this long may be taken over.
    pub lease_duration_seconds: i32,
}

impl Default for LeaderConfig {
    fn default() -> Self {
        LeaderConfig {
            lease_name: "scangate-rescan".to_string(),
            lease_duration_seconds: 30,
        }
    }
}

/// One candidate for leadership; call [`try_acquire_or_renew`] every few
/// seconds (well under the lease duration).
///
/// [`try_acquire_or_renew`]: LeaderElector::try_acquire_or_renew
pub struct LeaderElector {
    api: Api<Lease>,
    identity: String,
    config: LeaderConfig,
}

impl LeaderElector {
    pub fn new(client: Client, namespace: &str, identity: &str, config: LeaderConfig) -> Self {
        LeaderElector {
            api: Api::namespaced(client, namespace),
            identity: identity.to_string(),
            config,
        }
    }

    /// True if this candidate holds the lease after the call. Updates use
    /// the lease's resourceVersion, so two candidates cannot both win.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = jiff::Timestamp::now();
        let Some(mut lease) = self.api.get_opt(&self.config.lease_name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.lease_name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(now, 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.as_deref().unwrap_or("");
        let transitions = spec.lease_transitions.unwrap_or(0);
        let new_spec = if holder == self.identity {
            LeaseSpec {
                renew_time: Some(MicroTime(now)),
                ..spec
            }
        } else if holder.is_empty() || expired(&spec, now) {
            self.spec(now, transitions.saturating_add(1))
        } else {
            return Ok(false);
        };
        lease.spec = Some(new_spec);
        match self
            .api
            .replace(&self.config.lease_name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn spec(&self, now: jiff::Timestamp, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.config.lease_duration_seconds),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }
}

fn expired(spec: &LeaseSpec, now: jiff::Timestamp) -> bool {
    let Some(MicroTime(renewed)) = spec.renew_time else {
        return true;
    };
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(0));
    match renewed.checked_add(jiff::SignedDuration::from_secs(duration)) {
        Ok(until) => until < now,
        Err(_) => false,
    }
}
