//! Starting one instance and waiting until its runtime answers `/_/health`.

use std::time::Duration;

use axum::body::Body;
use tokio::time::Instant;

use crate::executor::{Executor, ExecutorError, Instance, InstanceSpec, InstanceStatus};
use crate::invoker::HttpClient;

/// Lines of an instance's output kept in `details.log`.
pub const START_LOG_LINES: usize = 50;

/// Why an instance did not become healthy.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StartError {
    /// The process exited (an import error, a crash at start, an OOM kill).
    #[error("the instance exited with code {exit_code} while starting")]
    Exited {
        exit_code: i64,
        oom_killed: bool,
        log: String,
    },
    /// It ran but never answered its health check in time.
    #[error("the instance did not answer its health check within {timeout_ms} ms")]
    Timeout { timeout_ms: u64, log: String },
    /// The image is gone and could not be rebuilt.
    #[error("image {image} is missing and rebuilding it failed: {reason}")]
    ImageUnavailable { image: String, reason: String },
    /// The backend failed (unreachable daemon …).
    #[error(transparent)]
    Backend(#[from] ExecutorError),
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
    client: &HttpClient,
    spec: &InstanceSpec,
    timeout: Duration,
    on_failure: OnFailure,
) -> Result<Instance, StartError> {
    let instance = executor.start(spec).await?;
    match wait_healthy(executor, client, &instance, timeout).await {
        Ok(()) => Ok(instance),
        Err(e @ StartError::Exited { .. }) if on_failure == OnFailure::KeepExited => Err(e),
        Err(e) => {
            if let Err(rm) = executor.remove(&instance.id).await {
                tracing::warn!(instance.id = %instance.id, error = %rm, "cannot remove a failed instance");
            }
            Err(e)
        }
    }
}

async fn wait_healthy(
    executor: &dyn Executor,
    client: &HttpClient,
    instance: &Instance,
    timeout: Duration,
) -> Result<(), StartError> {
    let deadline = Instant::now() + timeout;
    // Poll fast at first: most runtimes import in tens of milliseconds.
    let mut pause = Duration::from_millis(10);
    loop {
        if instance.endpoint.port() != 0 && healthy(client, instance).await {
            return Ok(());
        }
        match executor.status(&instance.id).await? {
            InstanceStatus::Running => {}
            InstanceStatus::Exited {
                exit_code,
                oom_killed,
            } => {
                let log = output_tail(executor, &instance.id).await;
                return Err(StartError::Exited {
                    exit_code,
                    oom_killed,
                    log,
                });
            }
            InstanceStatus::Gone => {
                return Err(StartError::Exited {
                    exit_code: -1,
                    oom_killed: false,
                    log: "the instance disappeared while starting".into(),
                });
            }
        }
        if Instant::now() >= deadline {
            return Err(StartError::Timeout {
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                log: output_tail(executor, &instance.id).await,
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
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

/// Whether the instance's runtime answers its health check. The runtime names itself
/// (`X-Faas-Instance`: its hostname, i.e. the container id's prefix or the pod name): an
/// answer from another instance that took over a freed address does not count.
async fn healthy(client: &HttpClient, instance: &Instance) -> bool {
    let endpoint = instance.endpoint;
    let Ok(req) = http::Request::get(format!("http://{endpoint}/_/health")).body(Body::empty())
    else {
        return false;
    };
    match tokio::time::timeout(Duration::from_secs(2), client.request(req)).await {
        Ok(Ok(resp)) if resp.status().is_success() => resp
            .headers()
            .get("x-faas-instance")
            .and_then(|v| v.to_str().ok())
            .is_none_or(|name| !name.is_empty() && instance.id.starts_with(name)),
        _ => false,
    }
}
