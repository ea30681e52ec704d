//! Pure readings of pod and Job objects in the gateway's terms (SPEC 8): what an instance's
//! container is doing, and how a job ended. No I/O, so every state seen on a real cluster
//! (`tests/kube_api/fixtures/`) is a unit test.

use std::net::IpAddr;
use std::time::Duration;

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
    /// The scheduler cannot place it (`PodScheduled=False`, reason `Unschedulable`);
    /// `message` is the scheduler's (`0/1 nodes are available: 1 Insufficient cpu. …`).
    Unschedulable { message: String },
    /// The container runs; `ip` is where it serves; `restarts` counts in-place restarts.
    Running {
        ip: Option<IpAddr>,
        ready: bool,
        restarts: u32,
    },
    /// The image cannot be pulled; `message` is the kubelet's.
    ImagePull { image: String, message: String },
    /// The container cannot be created or run (a configuration error).
    Unstartable { reason: String, message: String },
    /// The container is not running and has stopped at least once: terminated now, or
    /// waiting for the kubelet to restart it in place.
    Stopped(Stopped),
}

/// How a container stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    pub exit_code: i64,
    pub oom_killed: bool,
    /// The kubelet restarts it in place (restart policy `Always`, or `OnFailure` after a
    /// failure): the pod is coming back by itself.
    pub restarting: bool,
    /// In-place restarts before this stop (`restartCount`).
    pub restarts: u32,
    /// The kubelet is backing off the next restart (CrashLoopBackOff) for this long.
    pub back_off: Option<Duration>,
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
        if let Some(message) = unschedulable(pod) {
            return PodState::Unschedulable { message };
        }
        // Evicted or rejected before any container existed.
        return match phase {
            "Failed" => PodState::Stopped(Stopped::unknown(-1)),
            "Succeeded" => PodState::Stopped(Stopped::unknown(0)),
            _ => PodState::Pending,
        };
    };
    let restarts = u32::try_from(cs.restart_count).unwrap_or(0);
    let restarting = restarts_in_place(pod);
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
        return PodState::Stopped(Stopped::from_terminated(t, restarts, restarting));
    }
    if state.is_some_and(|s| s.running.is_some()) && !matches!(phase, "Failed" | "Succeeded") {
        return PodState::Running {
            ip: status.pod_ip.as_deref().and_then(|ip| ip.parse().ok()),
            ready: is_ready(pod),
            restarts,
        };
    }
    let back_off = (waiting_reason == "CrashLoopBackOff")
        .then(|| back_off_of(&waiting_message()).unwrap_or(Duration::from_secs(10)));
    if let Some(t) = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref()) {
        let mut stopped = Stopped::from_terminated(t, restarts, restarting);
        stopped.back_off = back_off;
        return PodState::Stopped(stopped);
    }
    if back_off.is_some() {
        return PodState::Stopped(Stopped {
            back_off,
            restarting,
            ..Stopped::unknown(-1)
        });
    }
    if UNSTARTABLE_REASONS.contains(&waiting_reason) {
        return PodState::Unstartable {
            reason: waiting_reason.to_owned(),
            message: waiting_message(),
        };
    }
    match phase {
        "Failed" => PodState::Stopped(Stopped::unknown(-1)),
        "Succeeded" => PodState::Stopped(Stopped::unknown(0)),
        _ => PodState::Pending,
    }
}

/// The last stop of a container that was restarted in place (its `lastState`).
pub fn last_stop(pod: &Pod) -> Option<Stopped> {
    let cs = container_status(pod)?;
    let t = cs.last_state.as_ref()?.terminated.as_ref()?;
    let restarts = u32::try_from(cs.restart_count)
        .unwrap_or(0)
        .saturating_sub(1);
    Some(Stopped::from_terminated(
        t,
        restarts,
        restarts_in_place(pod),
    ))
}

/// The scheduler's message when it cannot place the pod.
pub fn unschedulable(pod: &Pod) -> Option<String> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    let c = conditions.iter().find(|c| {
        c.type_ == "PodScheduled"
            && c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
    })?;
    Some(
        c.message
            .clone()
            .unwrap_or_else(|| "no node can run the pod".into()),
    )
}

/// Whether the kubelet restarts the pod's containers in place (Deployments: always; Jobs
/// here: never). A pod in a terminal phase restarts nothing.
fn restarts_in_place(pod: &Pod) -> bool {
    let policy = pod
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always");
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    policy != "Never" && !matches!(phase, Some("Failed" | "Succeeded"))
}

/// The back-off the kubelet names: `back-off 1m20s restarting failed container=…`.
fn back_off_of(message: &str) -> Option<Duration> {
    let word = message.strip_prefix("back-off ")?.split(' ').next()?;
    go_duration(word)
}

/// A Go duration such as `10s`, `1m20s` or `5m0s`.
fn go_duration(text: &str) -> Option<Duration> {
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().ok()?;
        number.clear();
        total += match c {
            'h' => n * 3600,
            'm' => n * 60,
            's' => n,
            _ => return None,
        };
    }
    (number.is_empty() && total > 0).then(|| Duration::from_secs(total))
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

impl Stopped {
    fn unknown(exit_code: i64) -> Self {
        Stopped {
            exit_code,
            oom_killed: false,
            restarting: false,
            restarts: 0,
            back_off: None,
            finished_at: None,
            message: None,
        }
    }

    fn from_terminated(t: &ContainerStateTerminated, restarts: u32, restarting: bool) -> Self {
        Stopped {
            exit_code: i64::from(t.exit_code),
            oom_killed: t.reason.as_deref() == Some("OOMKilled"),
            restarting,
            restarts,
            back_off: None,
            finished_at: t.finished_at.as_ref().map(to_chrono),
            message: t.message.clone().filter(|m| !m.is_empty()),
        }
    }

    /// The exit in the executor's terms.
    pub fn exit(&self) -> crate::executor::Exit {
        crate::executor::Exit {
            exit_code: self.exit_code,
            oom_killed: self.oom_killed,
            restarting: self.restarting,
            restarts: self.restarts,
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
