//! Lease-based leader election (coordination.k8s.io/v1), so only one
//! replica runs the re-scan loop.

use crate::model::ConfigDuration;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::PostParams;
use kube::{Api, Client};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Settings of leader election (config key `leaderElection`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct LeaderConfig {
    pub lease_name: String,
    /// A lease not renewed for this long may be taken over
    /// (`leaseDuration`, 30s; whole seconds, as the Lease records it).
    #[serde(deserialize_with = "lease_duration")]
    pub lease_duration: ConfigDuration,
}

impl LeaderConfig {
    /// The lease duration in the Lease's unit, whole seconds.
    pub fn lease_seconds(&self) -> i32 {
        i32::try_from(self.lease_duration.get().as_secs()).unwrap_or(i32::MAX)
    }
}

/// A whole number of seconds, 3 or more (`15s`, `1m`): the Lease counts in
/// seconds, so `1500ms` would be silently rounded, and it is renewed every
/// third of its duration.
fn lease_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ConfigDuration, D::Error> {
    let duration = crate::model::positive_duration(d)?;
    let seconds = duration.get().as_secs();
    if duration.get().subsec_nanos() != 0 || !(3..=i32::MAX as u64).contains(&seconds) {
        return Err(serde::de::Error::custom(format!(
            "leaseDuration {duration}: expected whole seconds, at least 3s (renewed every third), e.g. 15s or 1m"
        )));
    }
    Ok(duration)
}

impl Default for LeaderConfig {
    fn default() -> Self {
        LeaderConfig {
            lease_name: "scangate-rescan".to_string(),
            lease_duration: ConfigDuration::secs(30),
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

    /// Gives the lease up if this candidate holds it: the holder is
    /// cleared, so another candidate takes it on its next attempt instead
    /// of waiting for the lease to run out. True if it was released.
    pub async fn release(&self) -> Result<bool, kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.config.lease_name).await? else {
            return Ok(false);
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(false);
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(false);
        }
        spec.holder_identity = None;
        spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
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
            lease_duration_seconds: Some(self.config.lease_seconds()),
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

/// Leadership as the election loop last saw it; cheap to clone and read.
#[derive(Debug, Clone, Default)]
pub struct LeaseLeadership {
    leader: Arc<AtomicBool>,
}

impl LeaseLeadership {
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Relaxed)
    }
}

impl crate::ports::Leadership for LeaseLeadership {
    fn is_leader(&self) -> bool {
        LeaseLeadership::is_leader(self)
    }
}

/// The running election; [`Election::stop`] ends it.
pub struct Election {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Election {
    /// Stops campaigning and releases the lease if this replica holds it,
    /// so another replica takes over at its next attempt (a third of the
    /// lease duration) rather than after the lease runs out. Waits at most
    /// `within` for the release; the caller must have stopped the work the
    /// lease guards first.
    pub async fn stop(mut self, within: Duration) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(within, &mut self.task).await.is_err() {
            tracing::warn!("the lease was not released in time; it runs out by itself");
            self.task.abort();
        }
    }
}

/// Runs the election: tries to acquire or renew every third of the lease
/// duration. Leadership is given up when renewals have failed for two
/// thirds of the lease duration, before another replica may take the
/// lease over, so two leaders never re-scan at once.
pub fn spawn_election(elector: LeaderElector) -> (LeaseLeadership, Election) {
    let leadership = LeaseLeadership::default();
    let flag = leadership.leader.clone();
    let lease =
        Duration::from_secs(u64::try_from(elector.config.lease_seconds().max(3)).unwrap_or(30));
    let period = lease / 3;
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut last_renewed: Option<Instant> = None;
        loop {
            match elector.try_acquire_or_renew().await {
                Ok(held) => {
                    if held != flag.load(Ordering::Relaxed) {
                        tracing::info!(identity = %elector.identity, lease = %elector.config.lease_name, leader = held, "leadership changed");
                    }
                    flag.store(held, Ordering::Relaxed);
                    last_renewed = held.then(Instant::now);
                }
                Err(error) => {
                    let stale = last_renewed.is_none_or(|at| at.elapsed() >= period * 2);
                    if stale && flag.swap(false, Ordering::Relaxed) {
                        tracing::warn!(%error, "lease not renewed in time; leadership given up");
                    } else {
                        tracing::warn!(%error, "lease renewal failed; retrying");
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                asked = async { stopped.wait_for(|stop| *stop).await.is_ok() } => if asked {
                    break;
                } else {
                    // The Election was dropped without stop: campaign on.
                    tokio::time::sleep(period).await;
                },
            }
        }
        flag.store(false, Ordering::Relaxed);
        match elector.release().await {
            Ok(true) => {
                tracing::info!(identity = %elector.identity, lease = %elector.config.lease_name, "lease released")
            }
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(%error, "the lease could not be released; it runs out by itself")
            }
        }
    });
    (leadership, Election { stop, task })
}
