//! Where a scan's CPU-heavy steps run (stacking layers, matching, the
//! re-scan's diff and history document).
//!
//! Admission scans use tokio's blocking pool. Re-scans run inside
//! [`LowPriorityCpu::scope`], which sends those steps to a few threads of
//! their own with a raised nice value: on a busy node the OS then runs the
//! admission path first, and a re-scan pass no longer doubles the p99 of
//! the reviews served beside it (bench/RESULTS.md, Re-scan). The choice is
//! carried by a task-local, like a tracing span, so it reaches the engine
//! through whatever wraps the scanner (`ReportingScanner`).
//!
//! Layer analysis (download and inflate) is not routed here: an admission
//! scan may be waiting on the same layer through the layer cache, and must
//! not wait at a re-scan's priority.

use prometheus_client::metrics::gauge::Gauge;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError, mpsc};

tokio::task_local! {
    static LANE: LowPriorityCpu;
}

/// The work could not be run or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum OffloadError {
    #[error("the worker pool has stopped")]
    Stopped,
    #[error("the work panicked: {0}")]
    Panicked(String),
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A few threads at a lower CPU priority (a higher nice value) for
/// background scans. Cheap to clone; the threads end when the last clone
/// is dropped.
#[derive(Clone)]
pub struct LowPriorityCpu {
    jobs: Arc<mpsc::Sender<Job>>,
    queued: Gauge,
}

impl LowPriorityCpu {
    /// Starts `threads` threads (at least one), each lowering its own
    /// priority to `nice` (Linux; clamped to 0..=19, lowering needs no
    /// privilege). A refusal is logged and the thread runs at the normal
    /// priority: slower admission under load, never lost work.
    pub fn start(threads: usize, nice: i32) -> std::io::Result<LowPriorityCpu> {
        let (jobs, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let nice = nice.clamp(0, 19);
        for index in 0..threads.max(1) {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("scangate-rescan-cpu-{index}"))
                .spawn(move || {
                    lower_own_priority(nice);
                    loop {
                        // The lock is held only while waiting for a job,
                        // so idle threads take turns at the queue.
                        let job = receiver
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .recv();
                        match job {
                            Ok(job) => job(),
                            Err(mpsc::RecvError) => return,
                        }
                    }
                })?;
        }
        Ok(LowPriorityCpu {
            jobs: Arc::new(jobs),
            queued: Gauge::default(),
        })
    }

    /// The same threads, counting jobs sent and not yet started in
    /// `queued` (a registered metric).
    pub fn counting_in(self, queued: Gauge) -> LowPriorityCpu {
        LowPriorityCpu { queued, ..self }
    }

    /// Jobs sent and not yet started.
    #[cfg(test)]
    fn queued(&self) -> i64 {
        self.queued.get()
    }

    /// Runs `work` on one of the pool's threads.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, OffloadError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let queued = self.queued.clone();
        queued.inc();
        let job: Job = Box::new(move || {
            queued.dec();
            // A panic is the caller's error, not the end of a thread that
            // every later re-scan needs.
            let outcome = catch_unwind(AssertUnwindSafe(work)).map_err(|panic| {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                OffloadError::Panicked(message)
            });
            let _ = done.send(outcome);
        });
        if self.jobs.send(job).is_err() {
            self.queued.dec();
            return Err(OffloadError::Stopped);
        }
        result.await.map_err(|_| OffloadError::Stopped)?
    }

    /// Runs `future` with its [`offload`]ed work on this pool.
    pub async fn scope<F: Future>(&self, future: F) -> F::Output {
        LANE.scope(self.clone(), future).await
    }
}

/// Runs blocking CPU work off the async workers: on the pool of the
/// enclosing [`LowPriorityCpu::scope`], else on tokio's blocking pool.
pub async fn offload<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, OffloadError> {
    match LANE.try_with(LowPriorityCpu::clone) {
        Ok(pool) => pool.run(work).await,
        Err(_) => tokio::task::spawn_blocking(work).await.map_err(|e| {
            if e.is_panic() {
                OffloadError::Panicked(e.to_string())
            } else {
                OffloadError::Stopped
            }
        }),
    }
}

#[cfg(target_os = "linux")]
fn lower_own_priority(nice: i32) {
    // On Linux, PRIO_PROCESS with a thread id sets that thread's nice value
    // alone (setpriority(2), "BUGS").
    // Only ever lowered: a thread already at a higher nice value (a niced
    // process) keeps it.
    // SAFETY: gettid, getpriority and setpriority take and return plain
    // integers.
    let result = unsafe {
        let tid = libc::gettid() as libc::id_t;
        let current = libc::getpriority(libc::PRIO_PROCESS, tid);
        libc::setpriority(libc::PRIO_PROCESS, tid, nice.max(current))
    };
    if result != 0 {
        let error = std::io::Error::last_os_error();
        tracing::warn!(nice, %error, "could not lower the re-scan threads' priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_own_priority(_nice: i32) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn nice_of_current_thread() -> i32 {
        // SAFETY: plain integer syscalls.
        unsafe {
            *libc::__errno_location() = 0;
            libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t)
        }
    }

    #[tokio::test]
    async fn work_in_a_scope_runs_on_the_niced_threads() {
        let pool = LowPriorityCpu::start(1, 7).unwrap();
        let base = nice_of_current_thread();
        let (name, nice) = pool
            .scope(offload(|| {
                let name = std::thread::current().name().map(str::to_string);
                (name, nice_of_current_thread())
            }))
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("scangate-rescan-cpu-0"));
        assert_eq!(nice, base.max(7));
        // Outside a scope: tokio's blocking pool, at the normal priority.
        let (name, nice) = offload(|| {
            let name = std::thread::current().name().map(str::to_string);
            (name, nice_of_current_thread())
        })
        .await
        .unwrap();
        assert_ne!(name.as_deref(), Some("scangate-rescan-cpu-0"));
        assert_eq!(nice, base);
    }

    #[tokio::test]
    async fn a_panic_is_an_error_and_the_thread_keeps_serving() {
        let pool = LowPriorityCpu::start(1, 0).unwrap();
        let failed = pool.run(|| -> u32 { panic!("boom") }).await;
        assert!(matches!(failed, Err(OffloadError::Panicked(m)) if m == "boom"));
        assert_eq!(pool.run(|| 41 + 1).await.unwrap(), 42);
        assert_eq!(pool.queued(), 0);
    }
}
