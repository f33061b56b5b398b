//! The cluster's adapters for an [`App`]: watches of policies, exceptions,
//! namespaces and pods, pull secrets, events, `ImageScanReport`s, and the
//! Lease-elected re-scan loop; and their orderly stop.

use super::{Adapters, App, AppError, RescanLoop, RescanPorts};
use crate::k8s::leader::{Election, LeaderElector, spawn_election};
use crate::k8s::pods::PodReflector;
use crate::k8s::reporting_scanner::ReportingScanner;
use crate::k8s::running_images::ClusterRunningImages;
use crate::k8s::runtime::ClusterRuntime;
use crate::k8s::stored_reports::ClusterReports;
use crate::scan::Scanner;
use std::sync::Arc;

/// How long shutdown waits for the re-scan Lease to be released.
const LEASE_RELEASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// A connected cluster: its adapters and what runs in the background.
pub struct Cluster {
    pub runtime: ClusterRuntime,
    pub adapters: Adapters,
    pub pods: PodReflector,
    pub running: Arc<ClusterRunningImages>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    rescans: Option<(RescanLoop, Election)>,
}

/// Starts the watches (waiting for their first lists), and makes `app`
/// write an `ImageScanReport` for every scan when reports are on.
pub async fn connect(app: &mut App, client: kube::Client) -> Result<Cluster, AppError> {
    let runtime = ClusterRuntime::start(
        client,
        &app.config.kubernetes,
        app.policies.clone(),
        app.report_metrics.clone(),
        app.policy_metrics.clone(),
    )
    .await
    .map_err(AppError::Cluster)?;
    if let Some(reports) = &runtime.reports {
        let reporting: Arc<dyn Scanner> =
            Arc::new(ReportingScanner::new(app.scanner.clone(), reports.clone()));
        app.scanner = reporting;
    }
    let (pods, pods_task) = PodReflector::start(runtime.client.clone());
    let (running, running_task) = ClusterRunningImages::start(runtime.client.clone(), pods.clone());
    let running = Arc::new(running);
    let adapters = Adapters {
        namespaces: Arc::new(runtime.namespaces.clone()),
        credentials: Arc::new(runtime.credentials.clone()),
        running: running.clone(),
        events: Arc::new(runtime.events.clone()),
    };
    Ok(Cluster {
        runtime,
        adapters,
        pods,
        running,
        tasks: vec![pods_task, running_task],
        rescans: None,
    })
}

impl Cluster {
    /// The re-scan loop: this replica campaigns for the Lease as
    /// `identity`; only while it leads does it re-scan.
    pub fn start_rescans(&mut self, app: &App, identity: &str) -> Result<(), AppError> {
        let reports = self.runtime.reports.is_some().then(|| {
            Arc::new(ClusterReports::new(self.runtime.client.clone()))
                as Arc<dyn crate::ports::StoredReports>
        });
        let elector = LeaderElector::new(
            self.runtime.client.clone(),
            &app.config.kubernetes.own_namespace(),
            identity,
            app.config.kubernetes.leader_election.clone(),
        );
        let (leadership, election) = spawn_election(elector);
        let controller = app.rescan_controller(
            RescanPorts {
                pods: Arc::new(self.pods.clone()),
                leadership: Arc::new(leadership),
                reports,
            },
            &self.adapters,
        )?;
        let rescan = &app.config.rescan;
        let rescans = RescanLoop::start(Arc::new(controller), rescan.tick_interval.get());
        tracing::info!(%identity, tick = %rescan.tick_interval, interval = %rescan.interval, "re-scan loop started (runs while this replica holds the lease)");
        self.rescans = Some((rescans, election));
        Ok(())
    }

    /// Stops the re-scan loop, then releases the Lease (so another replica
    /// takes over at once), then the watches.
    pub async fn stop(self) {
        if let Some((rescans, election)) = self.rescans {
            rescans.stop().await;
            election.stop(LEASE_RELEASE_TIMEOUT).await;
        }
        for task in self.tasks {
            task.abort();
            let _ = task.await;
        }
        self.runtime.stop();
    }
}
