//! Pure readings of pod and Job objects in the gateway's terms (SPEC 8): what an instance's
//! container is doing, and how a job ended. No I/O, so every state seen on a real cluster
//! (`tests/kube_api/fixtures/`) is a unit test.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStateTerminated, ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::objects::CONTAINER;

/// Waiting reasons that mean the kubelet cannot get the image.
const IMAGE_PULL_REASONS: [&str; 4] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
];
/// Waiting reasons that mean the container cannot even be created or run.
const UNSTARTABLE_REASONS: [&str; 3] = [
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// What a pod's function container is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum PodState {
    /// Not started yet: scheduling, pulling the image, creating the container.
    Pending,
    /// The container runs and has never stopped; `ip` is where it serves.
    Running { ip: Option<IpAddr>, ready: bool },
    /// The image cannot be pulled; `message` is the kubelet's.
    ImagePull { image: String, message: String },
    /// The container cannot be created or run (a configuration error).
    Unstartable { reason: String, message: String },
    /// The container stopped at least once. A restarted container is a new process the
    /// gateway never health-checked, so the instance it handed out counts as exited.
    Exited(Exit),
}

/// How a container stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub exit_code: i64,
    pub oom_killed: bool,
    /// The kubelet is backing off restarts (CrashLoopBackOff).
    pub crash_loop: bool,
    pub finished_at: Option<DateTime<Utc>>,
    /// The termination message (`/dev/termination-log`): a job's response document.
    pub message: Option<String>,
}

/// How a Job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    Running,
    /// Its `activeDeadlineSeconds` passed (condition `FailureTarget` or `Failed` with reason
    /// `DeadlineExceeded`; `FailureTarget` comes first, `Failed` only after the pod's grace
    /// period).
    TimedOut,
    Complete,
    /// Failed for another reason (`BackoffLimitExceeded` …).
    Failed {
        reason: String,
    },
}

/// Reads the state of a pod's function container.
pub fn pod_state(pod: &Pod) -> PodState {
    let Some(status) = pod.status.as_ref() else {
        return PodState::Pending;
    };
    let phase = status.phase.as_deref().unwrap_or("");
    let Some(cs) = container_status(pod) else {
        // Evicted or rejected before any container existed.
        return match phase {
            "Failed" => PodState::Exited(Exit::unknown(-1)),
            "Succeeded" => PodState::Exited(Exit::unknown(0)),
            _ => PodState::Pending,
        };
    };
    let state = cs.state.as_ref();
    let waiting = state.and_then(|s| s.waiting.as_ref());
    let waiting_reason = waiting.and_then(|w| w.reason.as_deref()).unwrap_or("");
    let waiting_message = || {
        waiting
            .and_then(|w| w.message.clone())
            .unwrap_or_else(|| waiting_reason.to_owned())
    };
    if IMAGE_PULL_REASONS.contains(&waiting_reason) {
        return PodState::ImagePull {
            image: cs.image.clone(),
            message: waiting_message(),
        };
    }
    if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
        return PodState::Exited(Exit::from_terminated(t, false));
    }
    let crash_loop = waiting_reason == "CrashLoopBackOff";
    if let Some(t) = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref()) {
        return PodState::Exited(Exit::from_terminated(t, crash_loop));
    }
    if crash_loop {
        return PodState::Exited(Exit {
            crash_loop,
            ..Exit::unknown(-1)
        });
    }
    if UNSTARTABLE_REASONS.contains(&waiting_reason) {
        return PodState::Unstartable {
            reason: waiting_reason.to_owned(),
            message: waiting_message(),
        };
    }
    match phase {
        "Failed" => PodState::Exited(Exit::unknown(-1)),
        "Succeeded" => PodState::Exited(Exit::unknown(0)),
        _ if state.is_some_and(|s| s.running.is_some()) => PodState::Running {
            ip: status.pod_ip.as_deref().and_then(|ip| ip.parse().ok()),
            ready: is_ready(pod),
        },
        _ => PodState::Pending,
    }
}

/// Whether the pod's `Ready` condition is true.
pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// How a Job stands, from its conditions.
pub fn job_state(job: &Job) -> JobState {
    let conditions = job
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let active = |types: &[&str]| {
        conditions
            .iter()
            .find(|c| c.status == "True" && types.contains(&c.type_.as_str()))
    };
    if conditions.iter().any(|c| {
        c.status == "True"
            && (c.type_ == "Failed" || c.type_ == "FailureTarget")
            && c.reason.as_deref() == Some("DeadlineExceeded")
    }) {
        return JobState::TimedOut;
    }
    if active(&["Complete", "SuccessCriteriaMet"]).is_some() {
        return JobState::Complete;
    }
    match active(&["Failed", "FailureTarget"]) {
        Some(c) => JobState::Failed {
            reason: c.reason.clone().unwrap_or_default(),
        },
        None => JobState::Running,
    }
}

/// The status of the function container: the one named [`CONTAINER`], else the first.
fn container_status(pod: &Pod) -> Option<&ContainerStatus> {
    let all = pod.status.as_ref()?.container_statuses.as_ref()?;
    all.iter().find(|c| c.name == CONTAINER).or(all.first())
}

impl Exit {
    fn unknown(exit_code: i64) -> Self {
        Exit {
            exit_code,
            oom_killed: false,
            crash_loop: false,
            finished_at: None,
            message: None,
        }
    }

    fn from_terminated(t: &ContainerStateTerminated, crash_loop: bool) -> Self {
        Exit {
            exit_code: i64::from(t.exit_code),
            oom_killed: t.reason.as_deref() == Some("OOMKilled"),
            crash_loop,
            finished_at: t.finished_at.as_ref().map(to_chrono),
            message: t.message.clone().filter(|m| !m.is_empty()),
        }
    }
}

/// A Kubernetes timestamp as chrono's.
pub fn to_chrono(t: &Time) -> DateTime<Utc> {
    let nanos = u32::try_from(t.0.subsec_nanosecond()).unwrap_or(0);
    DateTime::from_timestamp(t.0.as_second(), nanos).unwrap_or_default()
}

#[cfg(test)]
#[path = "classify_tests.rs"]
mod tests;
