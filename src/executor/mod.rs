//! Where instances run, in the gateway's own vocabulary. The pool, deployer and invoker talk to
//! this trait only; `docker/` implements it with bollard, `kubernetes/` with kube.

pub mod docker;
pub mod kubernetes;
mod labels;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::model::Backend;
use utoipa::ToSchema;

pub use labels::{
    CALLBACK_LABEL, GATEWAY_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, REVISION_LABEL, ROLE_LABEL,
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
    /// Anything else the backend refused.
    #[error("{0}")]
    Other(String),
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
    /// A job-mode container (never adopted as a service instance).
    pub job: bool,
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

/// An instance of this gateway stopped (reported as it happens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceExit {
    pub id: String,
    pub exit_code: i64,
    pub oom_killed: bool,
}

/// How an instance stands, from the backend's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceStatus {
    Running,
    /// It stopped; `oom_killed` when the kernel killed it for its memory limit.
    Exited {
        exit_code: i64,
        oom_killed: bool,
    },
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
    /// Sends every exit of this gateway's instances to `tx` as it happens, until the backend's
    /// event stream ends (an error when it broke).
    async fn watch(&self, tx: mpsc::Sender<InstanceExit>) -> Result<(), ExecutorError>;
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
        timeout: std::time::Duration,
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
