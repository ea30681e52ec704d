//! One bollard client shared by the executor and the image builder, with the API version
//! negotiated lazily so the gateway can start while the daemon is down.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bollard::Docker;

use crate::executor::ExecutorError;

/// Bound on one control call (create, inspect, remove …); builds and log streams are not bound.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// A Docker connection; cheap to clone.
#[derive(Clone)]
pub struct DockerConn {
    docker: Docker,
    negotiated: Arc<AtomicBool>,
}

impl DockerConn {
    /// Connects the way the Docker CLI does (`DOCKER_HOST`, else the local socket).
    pub fn from_env() -> Result<Self, ExecutorError> {
        // Builds stream for minutes; bollard's own timeout would cut them, so calls that must
        // be quick are bounded with `CALL_TIMEOUT` instead.
        let docker = Docker::connect_with_defaults()
            .map_err(unavailable)?
            .with_timeout(Duration::from_secs(3600));
        Ok(DockerConn {
            docker,
            negotiated: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The client, after agreeing on an API version with the daemon (once per connection; the
    /// version is shared by every clone).
    pub async fn client(&self) -> Result<&Docker, ExecutorError> {
        if !self.negotiated.load(Ordering::Acquire) {
            let fut = self.docker.clone().negotiate_version();
            tokio::time::timeout(CALL_TIMEOUT, fut)
                .await
                .map_err(|_| timed_out())?
                .map_err(map_err)?;
            self.negotiated.store(true, Ordering::Release);
        }
        Ok(&self.docker)
    }

    /// Runs one control call with [`CALL_TIMEOUT`], mapping its error.
    pub async fn call<T, F>(&self, fut: F) -> Result<T, ExecutorError>
    where
        F: Future<Output = Result<T, bollard::errors::Error>>,
    {
        tokio::time::timeout(CALL_TIMEOUT, fut)
            .await
            .map_err(|_| timed_out())?
            .map_err(map_err)
    }
}

fn timed_out() -> ExecutorError {
    ExecutorError::Unavailable {
        backend: "docker",
        reason: format!(
            "the Docker daemon did not answer within {} s",
            CALL_TIMEOUT.as_secs()
        ),
    }
}

fn unavailable(e: impl std::fmt::Display) -> ExecutorError {
    ExecutorError::Unavailable {
        backend: "docker",
        reason: e.to_string(),
    }
}

/// Whether a bollard error is the daemon's 404.
pub fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// Maps a bollard error: transport failures mean the daemon is unavailable.
pub fn map_err(e: bollard::errors::Error) -> ExecutorError {
    use bollard::errors::Error as E;
    match e {
        E::DockerResponseServerError {
            status_code,
            message,
        } => ExecutorError::Other(format!("Docker answered {status_code}: {message}")),
        E::HyperLegacyError { .. }
        | E::IOError { .. }
        | E::SocketNotFoundError(_)
        | E::RequestTimeoutError => unavailable(e),
        other => ExecutorError::Other(other.to_string()),
    }
}
