//! Job mode: no warm instances; each call runs in a fresh instance, at most `max_instances`
//! at once, the rest queued up to the queue bound.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::{Pool, PoolError, StartError};
use crate::executor::{ExecutorError, JobOutcome};

impl Pool {
    /// A slot to run one job, waiting (in the queue) until `deadline`.
    pub async fn acquire_job(&self, deadline: Instant) -> Result<OwnedSemaphorePermit, PoolError> {
        if let Ok(permit) = Arc::clone(&self.jobs).try_acquire_owned() {
            return Ok(permit);
        }
        // Counted before waiting so the bound holds under a burst.
        if self.job_waiting.fetch_add(1, Ordering::AcqRel) >= self.deps.limits.queue_len {
            self.job_waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(PoolError::QueueFull);
        }
        let waited =
            tokio::time::timeout_at(deadline, Arc::clone(&self.jobs).acquire_owned()).await;
        self.job_waiting.fetch_sub(1, Ordering::AcqRel);
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed while the pool lives.
            Ok(Err(_)) => Err(PoolError::Draining),
            Err(_) => Err(PoolError::Timeout),
        }
    }

    /// Runs one job with `env` added to the revision's environment, rebuilding a lost image
    /// first.
    pub async fn run_job(
        &self,
        env: &[(&str, String)],
        event: &str,
        timeout: Duration,
    ) -> Result<JobOutcome, StartError> {
        let mut spec = self.instance_spec();
        for (k, v) in env {
            spec.env.insert((*k).to_owned(), v.clone());
        }
        let executor = &self.deps.executor;
        match executor.run_job(&spec, event, timeout).await {
            Err(ExecutorError::ImageMissing { image }) => {
                self.deps
                    .images
                    .rebuild(&self.spec, &image)
                    .await
                    .map_err(|e| StartError::ImageUnavailable {
                        image: image.clone(),
                        reason: e.to_string(),
                    })?;
                Ok(executor.run_job(&spec, event, timeout).await?)
            }
            other => Ok(other?),
        }
    }

    /// Checks once that the handler imports (a job-mode deploy).
    pub async fn check(&self) -> Result<(), StartError> {
        let timeout = self.deps.limits.startup_timeout;
        let outcome = self
            .run_job(&[("FAAS_MODE", "check".to_owned())], "{}", timeout)
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
                exit_code,
                oom_killed,
                log,
            }),
        }
    }
}
