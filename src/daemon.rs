//! The Docker daemon connection, shared by the Docker executor and the image builder: one
//! bollard client, with the API version negotiated lazily so the gateway can start (and
//! recover) while the daemon is down. Each user maps [`DaemonError`] into its own errors.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;

/// How a call to the daemon failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DaemonError {
    /// The daemon cannot be reached (no socket, a broken connection, no answer in time).
    #[error("{0}")]
    Unreachable(String),
    /// The daemon answered with an error.
    #[error("{0}")]
    Refused(String),
}

/// Bound on one control call (create, inspect, remove …); builds and log streams are not bound.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// A Docker connection; cheap to clone. Connecting (and agreeing on an API version) happens on
/// first use and again after a failure, so the gateway starts and recovers while the daemon is
/// down.
#[derive(Clone)]
pub struct DockerConn {
    host: Option<String>,
    docker: Arc<Mutex<Option<Docker>>>,
}

impl DockerConn {
    /// A connection to `host` (`unix://…`, `tcp://…`), or the local socket when `None`.
    pub fn connect(host: Option<&str>) -> Self {
        DockerConn {
            host: host.map(str::to_owned),
            docker: Arc::new(Mutex::new(None)),
        }
    }

    fn open(&self) -> Result<Docker, DaemonError> {
        let docker = match &self.host {
            Some(h) => Docker::connect_with_host(h),
            None => Docker::connect_with_local_defaults(),
        };
        // Builds stream for minutes; bollard's own timeout would cut them, so calls that must
        // be quick are bounded with `CALL_TIMEOUT` instead.
        Ok(docker
            .map_err(unavailable)?
            .with_timeout(Duration::from_secs(3600)))
    }

    /// The client, connected and with an API version agreed with the daemon.
    pub async fn client(&self) -> Result<Docker, DaemonError> {
        if let Some(d) = self
            .docker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            return Ok(d.clone());
        }
        let fut = self.open()?.negotiate_version();
        let docker = tokio::time::timeout(CALL_TIMEOUT, fut)
            .await
            .map_err(|_| timed_out())?
            .map_err(map_err)?;
        *self.docker.lock().unwrap_or_else(|p| p.into_inner()) = Some(docker.clone());
        Ok(docker)
    }

    /// Forgets the connection after a transport failure, so the next call reconnects.
    pub fn reset(&self) {
        *self.docker.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Runs one control call with [`CALL_TIMEOUT`], mapping its error; a transport failure
    /// drops the connection so the next call reconnects.
    pub async fn call<T, F>(&self, fut: F) -> Result<T, DaemonError>
    where
        F: Future<Output = Result<T, bollard::errors::Error>>,
    {
        self.call_raw(fut).await?.map_err(map_err)
    }

    /// Like [`Self::call`], but hands the daemon's own answers (404, 409 …) back unmapped;
    /// only timeouts and transport failures become errors here.
    pub async fn call_raw<T, F>(
        &self,
        fut: F,
    ) -> Result<Result<T, bollard::errors::Error>, DaemonError>
    where
        F: Future<Output = Result<T, bollard::errors::Error>>,
    {
        let result = match tokio::time::timeout(CALL_TIMEOUT, fut).await {
            Err(_) => Err(timed_out()),
            Ok(Err(e)) if is_transport(&e) => Err(map_err(e)),
            Ok(r) => Ok(r),
        };
        if result.is_err() {
            self.reset();
        }
        result
    }
}

fn timed_out() -> DaemonError {
    DaemonError::Unreachable(format!(
        "the Docker daemon did not answer within {} s",
        CALL_TIMEOUT.as_secs()
    ))
}

fn unavailable(e: impl std::fmt::Display) -> DaemonError {
    DaemonError::Unreachable(e.to_string())
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

/// Whether a bollard error is the daemon's 409 (a conflicting state, e.g. not running).
pub fn is_conflict(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            ..
        }
    )
}

/// Whether the error is the transport's (the daemon is not there), not the daemon's answer.
pub fn is_transport(e: &bollard::errors::Error) -> bool {
    use bollard::errors::Error as E;
    matches!(
        e,
        E::HyperLegacyError { .. }
            | E::IOError { .. }
            | E::SocketNotFoundError(_)
            | E::RequestTimeoutError
    )
}

/// Maps a bollard error: transport failures mean the daemon is unreachable.
pub fn map_err(e: bollard::errors::Error) -> DaemonError {
    use bollard::errors::Error as E;
    match e {
        e if is_transport(&e) => unavailable(e),
        E::DockerResponseServerError {
            status_code,
            message,
        } => DaemonError::Refused(format!("Docker answered {status_code}: {message}")),
        other => DaemonError::Refused(other.to_string()),
    }
}
