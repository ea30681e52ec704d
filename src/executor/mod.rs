//! Where instances run, in the gateway's own vocabulary. The pool, deployer and proxy talk to
//! this trait only; `docker/` implements it with bollard, `kubernetes/` with kube.

pub mod docker;
pub mod kubernetes;
mod labels;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::model::{Backend, ErrorCode};
use utoipa::ToSchema;

pub use labels::{
    CALLBACK_LABEL, GATEWAY_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, NAMESPACE_LABEL,
    REVISION_LABEL, ROLE_LABEL,
};

/// Errors of a backend.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ExecutorError {
    /// The daemon or API server cannot be reached.
    #[error("{backend} is unreachable: {reason}")]
    Unavailable {
        backend: &'static str,
        reason: String,
    },
    /// The image an instance needs does not exist.
    #[error("image {image} is missing")]
    ImageMissing { image: String },
    /// The image cannot be pulled (Kubernetes ErrImagePull, ImagePullBackOff, InvalidImageName);
    /// `message` is the kubelet's.
    #[error("image {image} cannot be pulled: {message}")]
    ImagePull { image: String, message: String },
    /// The backend refused the gateway's account an operation (a Kubernetes 403): `verb` and
    /// `resource` name the permission it lacks.
    #[error("the gateway may not {verb} {resource}: {message}")]
    Forbidden {
        verb: String,
        resource: String,
        message: String,
    },
    /// No node can take the instance (a Kubernetes pod the scheduler marks `Unschedulable`):
    /// `reason` is the scheduler's message.
    #[error("no node can run it: {reason}")]
    Unschedulable { reason: String },
    /// The instance neither ran nor failed within the start timeout (a pod stuck pending for a
    /// reason that is not an error of its own); `reason` is the last word of the backend.
    #[error("it did not start in time: {reason}")]
    NotStarted { reason: String },
    /// Anything else the backend refused.
    #[error("{0}")]
    Other(String),
}

impl From<crate::daemon::DaemonError> for ExecutorError {
    fn from(e: crate::daemon::DaemonError) -> Self {
        match e {
            crate::daemon::DaemonError::Unreachable(reason) => ExecutorError::Unavailable {
                backend: "docker",
                reason,
            },
            crate::daemon::DaemonError::Refused(message) => ExecutorError::Other(message),
        }
    }
}

impl ExecutorError {
    /// The contract's error code for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            ExecutorError::Unavailable { .. } => ErrorCode::BackendUnavailable,
            ExecutorError::ImageMissing { .. } | ExecutorError::ImagePull { .. } => {
                ErrorCode::ImagePullFailed
            }
            ExecutorError::Forbidden { .. } => ErrorCode::BackendForbidden,
            ExecutorError::Unschedulable { .. } => ErrorCode::InsufficientCapacity,
            ExecutorError::NotStarted { .. } => ErrorCode::StartupFailed,
            ExecutorError::Other(_) => ErrorCode::InternalError,
        }
    }
}

/// What an instance needs to start.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    pub callback: String,
    pub revision: u64,
    pub image: String,
    /// The full environment: the user's variables and the runtime's `FAAS_*` ones.
    pub env: BTreeMap<String, String>,
    pub memory_mb: u32,
    pub cpu: f64,
    /// The namespace owning the callback (the `faas.namespace` label).
    pub namespace: String,
}

/// A started instance.
#[derive(Debug, Clone)]
pub struct Instance {
    pub id: String,
    /// Where its HTTP server listens.
    pub endpoint: SocketAddr,
    pub started_at: DateTime<Utc>,
}

/// An instance found on the backend by its labels.
#[derive(Debug, Clone)]
pub struct ObservedInstance {
    pub instance: Instance,
    pub callback: String,
    pub revision: u64,
    pub running: bool,
    /// When it stopped, for one that is not running.
    pub finished_at: Option<DateTime<Utc>>,
    /// Not running, but the backend restarts it in place (a pod's container between two
    /// runs): it is still one of the revision's instances.
    pub restarting: bool,
    /// A job-mode container (never adopted as a service instance).
    pub job: bool,
    /// Frozen by the gateway (`pause`): it keeps its memory and takes no CPU.
    pub paused: bool,
}

/// How a job-mode invocation's container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutcome {
    pub exit_code: i64,
    pub oom_killed: bool,
    /// It outlived its timeout and was killed.
    pub timed_out: bool,
    /// The last line it printed on stdout: the runtime's response document.
    pub document: Option<String>,
    /// The tail of its output, for errors.
    pub log: String,
}

/// How an instance's process stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub exit_code: i64,
    /// The kernel killed it for exceeding its memory limit.
    pub oom_killed: bool,
    /// The backend restarts it in place (a Kubernetes pod's container): the same instance
    /// comes back by itself, and no other is needed for it.
    pub restarting: bool,
    /// How often it had been restarted in place before this exit (0 on Docker).
    pub restarts: u32,
}

impl Exit {
    /// An exit of an instance that is not restarted (a Docker container, a deleted pod).
    pub fn for_good(exit_code: i64, oom_killed: bool) -> Self {
        Exit {
            exit_code,
            oom_killed,
            restarting: false,
            restarts: 0,
        }
    }
}

/// What happens to an instance of this gateway, reported as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceEvent {
    /// Its process stopped (or it was deleted behind the gateway's back).
    Exited { id: String, exit: Exit },
    /// An instance restarting in place keeps crashing and the backend backs off its restarts
    /// (Kubernetes' CrashLoopBackOff): the next restart is in `retry_after`.
    BackingOff { id: String, retry_after: Duration },
    /// An instance that restarted in place is ready to serve again.
    Ready { id: String },
}

/// How an instance stands, from the backend's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceStatus {
    Running,
    /// It runs again after stopping and being restarted in place; `Exit` is its last stop.
    Restarted(Exit),
    /// It stopped (and may be coming back, see [`Exit::restarting`]).
    Exited(Exit),
    /// The backend no longer knows it.
    Gone,
}

/// One line of an instance's output.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LogLine {
    pub instance: String,
    pub stream: LogStream,
    pub ts: DateTime<Utc>,
    pub line: String,
}

impl LogLine {
    /// Lines of `<RFC 3339 timestamp> <text>`, as Docker and Kubernetes both print them with
    /// timestamps on; a line without a readable timestamp gets the time of reading.
    pub fn parse_timestamped(instance: &str, stream: LogStream, text: &str) -> Vec<LogLine> {
        text.lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (ts, line) = l.split_once(' ').unwrap_or((l, ""));
                let ts = DateTime::parse_from_rfc3339(ts)
                    .map_or_else(|_| Utc::now(), |t| t.with_timezone(&Utc));
                LogLine {
                    instance: instance.to_owned(),
                    stream,
                    ts,
                    line: line.to_owned(),
                }
            })
            .collect()
    }
}

/// How an instance's id is shown: a Docker container id (64 hex digits) as its 12-digit short
/// form, anything else (a pod's name) whole.
pub fn short_id(id: &str) -> &str {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        &id[..12]
    } else {
        id
    }
}

/// Which output a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// Starts, watches and removes instances.
#[async_trait]
pub trait Executor: Send + Sync + 'static {
    /// The backend's name and version, or why it cannot be reached.
    async fn ping(&self) -> Result<String, ExecutorError>;
    /// Creates and starts one instance.
    async fn start(&self, spec: &InstanceSpec) -> Result<Instance, ExecutorError>;
    /// Removes an instance, killing it if it still runs. Removing a gone instance is fine.
    async fn remove(&self, id: &str) -> Result<(), ExecutorError>;
    /// Kills an instance but keeps it, so its output can still be read.
    async fn stop(&self, id: &str) -> Result<(), ExecutorError>;
    /// Sends what happens to this gateway's instances (exits, restarts in place) to `tx` as it
    /// happens, until the backend's event stream ends (an error when it broke).
    async fn watch(&self, tx: mpsc::Sender<InstanceEvent>) -> Result<(), ExecutorError>;
    /// How an instance stands.
    async fn status(&self, id: &str) -> Result<InstanceStatus, ExecutorError>;
    /// Every instance carrying the gateway's labels, running or not.
    async fn list(&self) -> Result<Vec<ObservedInstance>, ExecutorError>;
    /// Runs one job-mode invocation to completion in a fresh instance (the environment in
    /// `spec` sets `FAAS_MODE`), passing `event`; the instance is removed afterwards.
    async fn run_job(
        &self,
        spec: &InstanceSpec,
        event: &str,
        timeout: Duration,
    ) -> Result<JobOutcome, ExecutorError>;
    /// Deletes what the backend keeps per revision besides instances (on Kubernetes, the
    /// Deployment and Service) for `callback` (every callback when `None`), except the
    /// revisions `keep` names. Nothing to do on Docker.
    async fn retire(
        &self,
        _callback: Option<&str>,
        _keep: &BTreeMap<String, u64>,
    ) -> Result<(), ExecutorError> {
        Ok(())
    }
    /// The last `tail` lines of each given instance's output.
    async fn logs(&self, ids: &[String], tail: usize) -> Result<Vec<LogLine>, ExecutorError>;
    /// Whether instances can be paused (frozen, memory kept) and resumed in milliseconds.
    fn can_pause(&self) -> bool {
        false
    }
    /// Freezes a running instance: no CPU, its memory (and its loaded function) kept.
    async fn pause(&self, id: &str) -> Result<(), ExecutorError> {
        Err(ExecutorError::Other(format!(
            "this backend cannot pause instances ({id})"
        )))
    }
    /// Thaws a paused instance.
    async fn resume(&self, id: &str) -> Result<(), ExecutorError> {
        Err(ExecutorError::Other(format!(
            "this backend cannot resume instances ({id})"
        )))
    }
}

/// The backends this gateway can run callbacks on.
#[derive(Clone)]
pub struct Backends {
    docker: Arc<dyn Executor>,
    kubernetes: Option<Arc<dyn Executor>>,
}

impl Backends {
    /// Docker always; Kubernetes when configured.
    pub fn new(docker: Arc<dyn Executor>, kubernetes: Option<Arc<dyn Executor>>) -> Self {
        Backends { docker, kubernetes }
    }

    /// The executor of `backend`, if configured.
    pub fn get(&self, backend: Backend) -> Option<&Arc<dyn Executor>> {
        match backend {
            Backend::Docker => Some(&self.docker),
            Backend::Kubernetes => self.kubernetes.as_ref(),
        }
    }

    /// Every configured backend.
    pub fn all(&self) -> Vec<(Backend, Arc<dyn Executor>)> {
        let mut all = vec![(Backend::Docker, Arc::clone(&self.docker))];
        if let Some(k) = &self.kubernetes {
            all.push((Backend::Kubernetes, Arc::clone(k)));
        }
        all
    }
}
