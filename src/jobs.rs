//! Job mode: no warm instances; each call runs in a fresh instance (a container or a Job), at
//! most `max_instances` at once, the rest queued up to the queue bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::executor::{Executor, Exit, JobOutcome};
use crate::launcher::RuntimeEvent;
use crate::launcher::{Launcher, StartError, Target, start_failure};
use crate::model::CallbackSpec;
use crate::pool::PoolError;

/// The job-mode calls of one revision.
pub struct Jobs {
    pub spec: Arc<CallbackSpec>,
    pub revision: u64,
    pub image: String,
    launcher: Launcher,
    /// One permit per job that may run at once.
    permits: Arc<Semaphore>,
    /// Calls waiting for a permit.
    waiting: AtomicUsize,
}

impl Jobs {
    /// The job-mode calls of `revision` of `spec`.
    pub fn new(
        spec: Arc<CallbackSpec>,
        revision: u64,
        image: String,
        launcher: Launcher,
    ) -> Arc<Self> {
        Arc::new(Jobs {
            permits: Arc::new(Semaphore::new(spec.max_instances as usize)),
            waiting: AtomicUsize::new(0),
            spec,
            revision,
            image,
            launcher,
        })
    }

    fn target(&self) -> Target<'_> {
        Target {
            spec: &self.spec,
            revision: self.revision,
            image: &self.image,
        }
    }

    /// The backend jobs run on.
    pub fn executor(&self) -> &Arc<dyn Executor> {
        self.launcher.executor()
    }

    /// A slot to run one job, waiting (in the queue) until `deadline`.
    pub async fn acquire(&self, deadline: Instant) -> Result<OwnedSemaphorePermit, PoolError> {
        if let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() {
            return Ok(permit);
        }
        // Counted before waiting so the bound holds under a burst.
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.launcher.limits().queue_len {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(PoolError::QueueFull);
        }
        let waited =
            tokio::time::timeout_at(deadline, Arc::clone(&self.permits).acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed while the revision lives.
            Ok(Err(_)) => Err(PoolError::Draining),
            Err(_) => Err(PoolError::Timeout),
        }
    }

    /// Jobs running, and calls waiting for a slot.
    pub fn counts(&self) -> (u32, usize) {
        let running = self.spec.max_instances as usize - self.permits.available_permits();
        (
            u32::try_from(running).unwrap_or(u32::MAX),
            self.waiting.load(Ordering::Relaxed),
        )
    }

    /// Runs one call with `env` added to the revision's environment. A job that could not
    /// run (no node for it, no image, no permission) is recorded as the callback's
    /// `last_error`.
    pub async fn run(
        &self,
        env: &[(&str, String)],
        event: &str,
        timeout: Duration,
    ) -> Result<JobOutcome, StartError> {
        let result = self
            .launcher
            .run_job(self.target(), env, event, timeout)
            .await;
        if let Err(e) = &result
            && let Some(failure) = start_failure(&self.spec.path, self.spec.memory_mb, e)
        {
            self.launcher.report(RuntimeEvent::Failed {
                path: self.spec.path.clone(),
                revision: self.revision,
                error: failure.error,
                instance: None,
                crash_loop: false,
            });
        }
        result
    }

    /// Checks once that the handler imports (a job-mode deploy).
    pub async fn check(&self) -> Result<(), StartError> {
        let timeout = self.launcher.limits().startup_timeout;
        let outcome = self
            .launcher
            .run_job(
                self.target(),
                &[("FAAS_MODE", "check".to_owned())],
                "{}",
                timeout,
            )
            .await?;
        match outcome {
            JobOutcome {
                timed_out: true,
                log,
                ..
            } => Err(StartError::Timeout {
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                log,
            }),
            JobOutcome { exit_code: 0, .. } => Ok(()),
            JobOutcome {
                exit_code,
                oom_killed,
                log,
                ..
            } => Err(StartError::Exited {
                exit: Exit::for_good(exit_code, oom_killed),
                log,
            }),
        }
    }
}
