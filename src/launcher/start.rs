//! Starting one instance and waiting until its runtime answers `/_/health`.

use std::time::Duration;

use tokio::time::Instant;

use crate::executor::{Executor, ExecutorError, Exit, Instance, InstanceSpec, InstanceStatus};
use crate::model::QuotaExceeded;
use crate::upstream::Probe;

/// How often a starting instance's health route is tried.
const PROBE_EVERY: Duration = Duration::from_millis(2);
/// How often the backend is asked whether a starting instance is still alive.
const STATUS_EVERY: Duration = Duration::from_millis(50);

/// Lines of an instance's output kept in `details.log`.
pub const START_LOG_LINES: usize = 50;

/// Why an instance did not become healthy.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StartError {
    /// The process exited (an import error, a crash at start, an OOM kill).
    #[error("the instance exited with code {} while starting", exit.exit_code)]
    Exited { exit: Exit, log: String },
    /// It ran but never answered its health check in time.
    #[error("the instance did not answer its health check within {timeout_ms} ms")]
    Timeout { timeout_ms: u64, log: String },
    /// The image is gone and could not be rebuilt.
    #[error("image {image} is missing and rebuilding it failed: {reason}")]
    ImageUnavailable { image: String, reason: String },
    /// The backend failed (unreachable daemon …).
    #[error(transparent)]
    Backend(#[from] ExecutorError),
    /// Its namespace's quota has no room for it: nothing was started.
    #[error(transparent)]
    Quota(#[from] QuotaExceeded),
}

impl StartError {
    /// What the contract's `details` say of it: the exit and the output's tail.
    pub fn details(&self) -> serde_json::Value {
        match self {
            StartError::Exited { exit, log } => serde_json::json!({
                "log": log, "exit_code": exit.exit_code, "oom_killed": exit.oom_killed,
            }),
            StartError::Timeout { log, .. } => serde_json::json!({ "log": log }),
            StartError::ImageUnavailable { image, .. } => serde_json::json!({ "image": image }),
            StartError::Backend(_) => serde_json::json!({}),
            StartError::Quota(q) => q.details(),
        }
    }
}

/// What happens to an instance that failed to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Remove it (a deploy: its output is returned in the error).
    Remove,
    /// Keep one that exited, so its output stays readable in the logs (a cold start).
    KeepExited,
}

/// Starts an instance and waits for its health check.
pub async fn start_instance(
    executor: &dyn Executor,
    probe: &dyn Probe,
    spec: &InstanceSpec,
    timeout: Duration,
    on_failure: OnFailure,
) -> Result<Instance, StartError> {
    let instance = begin(executor, spec, timeout).await?;
    match wait_healthy(executor, probe, &instance, timeout).await {
        Ok(()) => Ok(instance),
        Err(e) => Err(give_up(executor, &instance, e, on_failure).await),
    }
}

/// Asks the backend for a new instance; one that is not even running after `timeout` is a
/// start that timed out.
pub async fn begin(
    executor: &dyn Executor,
    spec: &InstanceSpec,
    timeout: Duration,
) -> Result<Instance, StartError> {
    executor.start(spec).await.map_err(|e| match e {
        ExecutorError::NotStarted { reason } => StartError::Timeout {
            timeout_ms: millis(timeout),
            log: reason,
        },
        e => StartError::Backend(e),
    })
}

/// A start failed: removes the instance unless it exited and `on_failure` keeps it for its
/// logs; returns the failure.
pub async fn give_up(
    executor: &dyn Executor,
    instance: &Instance,
    e: StartError,
    on_failure: OnFailure,
) -> StartError {
    if matches!(e, StartError::Exited { .. }) && on_failure == OnFailure::KeepExited {
        return e;
    }
    if let Err(rm) = executor.remove(&instance.id).await {
        tracing::warn!(instance.id = %instance.id, error = %rm, "cannot remove a failed instance");
    }
    e
}

/// Polls the instance until its runtime answers `/_/health`, it exits, or `timeout` passes.
pub async fn wait_healthy(
    executor: &dyn Executor,
    probe: &dyn Probe,
    instance: &Instance,
    timeout: Duration,
) -> Result<(), StartError> {
    let deadline = Instant::now() + timeout;
    let mut next_status = Instant::now();
    loop {
        if probe.healthy(instance).await {
            return Ok(());
        }
        // The probe is a local connection attempt, refused at once until the runtime listens:
        // tried every PROBE_EVERY, the gateway knows within that of the runtime being ready.
        // Asking the backend whether the instance died costs more: every STATUS_EVERY.
        if Instant::now() < next_status {
            tokio::time::sleep(PROBE_EVERY).await;
            continue;
        }
        next_status = Instant::now() + STATUS_EVERY;
        match executor.status(&instance.id).await? {
            InstanceStatus::Running | InstanceStatus::Restarted(_) => {}
            InstanceStatus::Exited(exit) => {
                let log = output_tail(executor, &instance.id).await;
                return Err(StartError::Exited { exit, log });
            }
            InstanceStatus::Gone => {
                return Err(StartError::Exited {
                    exit: Exit::for_good(-1, false),
                    log: "the instance disappeared while starting".into(),
                });
            }
        }
        if Instant::now() >= deadline {
            return Err(StartError::Timeout {
                timeout_ms: millis(timeout),
                log: output_tail(executor, &instance.id).await,
            });
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The last lines an instance printed, as one text.
pub async fn output_tail(executor: &dyn Executor, id: &str) -> String {
    match executor.logs(&[id.to_owned()], START_LOG_LINES).await {
        Ok(lines) => lines
            .into_iter()
            .map(|l| l.line)
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => format!("(the instance's output cannot be read: {e})"),
    }
}
