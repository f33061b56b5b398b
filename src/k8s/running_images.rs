//! [`RunningImages`] from the cluster: the digests its pods run (from the
//! pod reflector, recomputed at most every few seconds) and when each
//! finding was first seen on them (from the `ImageScanReport` reflector,
//! the store all replicas share).

use super::pods::PodReflector;
use super::report::{ImageScanReport, report_name};
use crate::policy::eval::RunningFindings;
use crate::ports::PodSnapshot;
use crate::ports::RunningImages;
use crate::rescan::running::running_images;
use futures::StreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// How stale the set of running digests may be: a pod started seconds ago
/// is not yet "already running" for admission, which errs on judging.
const RUNNING_SET_MAX_AGE: Duration = Duration::from_secs(5);

type DigestSet = Arc<HashSet<String>>;

pub struct ClusterRunningImages {
    pods: PodReflector,
    reports: Store<ImageScanReport>,
    digests: Mutex<Option<(Instant, DigestSet)>>,
}

impl ClusterRunningImages {
    /// Starts the report reflector; `pods` is shared with the re-scan loop.
    pub fn start(client: Client, pods: PodReflector) -> (ClusterRunningImages, JoinHandle<()>) {
        let (reports, writer) = reflector::store::<ImageScanReport>();
        let stream = watcher(
            Api::<ImageScanReport>::all(client),
            watcher::Config::default(),
        )
        .default_backoff()
        .reflect(writer);
        let task = tokio::spawn(async move {
            futures::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                if let Err(error) = event {
                    tracing::warn!(%error, "ImageScanReport watch failed; retrying");
                }
            }
        });
        let running = ClusterRunningImages {
            pods,
            reports,
            digests: Mutex::new(None),
        };
        (running, task)
    }

    fn running_digests(&self) -> DigestSet {
        let mut cached = self
            .digests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((at, set)) = cached.as_ref()
            && at.elapsed() < RUNNING_SET_MAX_AGE
        {
            return set.clone();
        }
        let pods = self.pods.pods();
        let set: DigestSet = Arc::new(
            running_images(pods.iter().map(|p| p.as_ref()))
                .into_keys()
                .collect(),
        );
        *cached = Some((Instant::now(), set.clone()));
        set
    }
}

impl RunningImages for ClusterRunningImages {
    fn running(&self, digest: &str) -> Option<Arc<RunningFindings>> {
        if !self.running_digests().contains(digest) {
            return None;
        }
        let report = self.reports.get(&ObjectRef::new(&report_name(digest)));
        let seen = report
            .map(|r| {
                r.spec
                    .findings
                    .iter()
                    .filter_map(|f| {
                        let at = f.first_seen.as_deref()?.parse().ok()?;
                        Some((f.id.clone(), at))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Arc::new(seen))
    }
}
