//! The states pods and Jobs go through, per scenario, taken from the captures.

use serde_json::Value;

use super::fixtures;

/// What the pods of a Deployment do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceScenario {
    /// Pending → running, not ready → ready (the captured scale-up).
    Ready,
    /// Pending → ErrImagePull, and it stays there.
    ErrImagePull,
    /// Pending → ImagePullBackOff.
    ImagePullBackOff,
    /// Pending → terminated, OOMKilled, exit 137.
    OomKilled,
    /// Pending → CrashLoopBackOff after exiting 1 (a bare pod's capture, in one step).
    CrashLoop,
    /// The captured Deployment pod that exits 3 at every start: the kubelet restarts it in
    /// place with a growing back-off (10 s, 20 s, 40 s … scaled by `back_off_unit`),
    /// `restartCount` and `lastState` growing, `CrashLoopBackOff` in between.
    CrashLoopInPlace,
    /// Scheduled, its container being created, for good (a slow image pull).
    StuckPending,
}

/// What a Job's pod does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobScenario {
    /// Runs, writes its result to the termination log, exits 0; the Job completes.
    Complete,
    /// Killed for its memory; the Job fails on its backoff limit.
    OomKilled,
    /// Its image cannot be pulled.
    ErrImagePull,
    /// Runs and keeps running.
    Runs,
}

/// One change a controller or kubelet makes after a pod is created.
#[derive(Debug, Clone)]
pub enum Step {
    /// The pod takes the status of a captured pod.
    Pod(Value),
    /// The pod's Job takes a captured status.
    Job(Value),
    /// The kubelet waits its back-off, in the capture's seconds (scaled by the cluster's
    /// `back_off_unit` per 10 s).
    BackOff(u64),
}

/// What a pod's containers printed.
#[derive(Debug, Clone, Default)]
pub struct PodLogs {
    pub current: Vec<(String, String)>,
    /// The output of the container before the last restart.
    pub previous: Vec<(String, String)>,
}

/// The message of the captured job pod: its response document.
pub fn termination_message() -> String {
    fixtures::object("pod-completed-termination-message.json")["status"]["containerStatuses"][0]
        ["state"]["terminated"]["message"]
        .as_str()
        .expect("the capture has a termination message")
        .to_owned()
}

/// The first state of a new Deployment pod, the steps after it, and its output.
pub fn service_steps(s: ServiceScenario) -> (Value, Vec<Step>, PodLogs) {
    let pending = fixtures::pending_pod();
    let pod = |file: &str| Step::Pod(fixtures::object(file));
    match s {
        ServiceScenario::Ready => {
            let mut frames = fixtures::starting_pod_frames().into_iter();
            let first = frames.next().expect("a first state");
            let steps = frames.map(Step::Pod).collect();
            (first, steps, output(&["serving on :8080"], &[]))
        }
        ServiceScenario::ErrImagePull => (pending, vec![pod("pod-errimagepull.json")], no_output()),
        ServiceScenario::ImagePullBackOff => {
            (pending, vec![pod("pod-imagepullbackoff.json")], no_output())
        }
        ServiceScenario::OomKilled => (
            pending,
            vec![pod("pod-oomkilled.json")],
            output(&["importing handler", "allocating a large table"], &[]),
        ),
        ServiceScenario::CrashLoop => (
            pending,
            vec![pod("pod-crashloopbackoff.json")],
            output(
                &[],
                &[
                    "Traceback (most recent call last):",
                    "  File \"/app/handler.py\", line 1, in <module>",
                    "ImportError: No module named 'missing'",
                ],
            ),
        ),
        ServiceScenario::CrashLoopInPlace => {
            let (first, steps) = crash_loop_in_place();
            let booting = ["booting"];
            (first, steps, output(&booting, &booting))
        }
        ServiceScenario::StuckPending => (pending, Vec::new(), no_output()),
    }
}

/// The first state of a Job's pod, the steps after it, and its output.
pub fn job_steps(s: JobScenario) -> (Value, Vec<Step>, PodLogs) {
    let pending = fixtures::pending_pod();
    match s {
        JobScenario::Complete => (
            pending,
            vec![
                Step::Pod(fixtures::object("pod-completed-termination-message.json")),
                Step::Job(fixtures::job_status("job-complete.json")),
            ],
            output(&["some log line", &termination_message()], &[]),
        ),
        JobScenario::OomKilled => (
            pending,
            vec![
                Step::Pod(fixtures::object("pod-oomkilled.json")),
                Step::Job(fixtures::job_status("job-failed-backofflimit-oom.json")),
            ],
            output(&["allocating"], &[]),
        ),
        JobScenario::Runs => (
            pending,
            vec![Step::Pod(fixtures::running_unready_pod())],
            output(&["working on it"], &[]),
        ),
        JobScenario::ErrImagePull => (
            pending,
            vec![Step::Pod(fixtures::object("pod-errimagepull.json"))],
            no_output(),
        ),
    }
}

/// The captured crash-looping Deployment pod, state by state, waiting out each back-off the
/// kubelet announces, ending in its last captured state (`CrashLoopBackOff`, back-off 1m20s).
fn crash_loop_in_place() -> (Value, Vec<Step>) {
    let mut frames = fixtures::watch_frames("watch-deployment-pod-crashloop.jsonl")
        .into_iter()
        .map(|(_, o)| o);
    let first = frames.next().expect("a first state");
    let mut steps = Vec::new();
    for frame in frames {
        let back_off = frame["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
            .as_str()
            .and_then(|m| m.strip_prefix("back-off "))
            .and_then(|m| m.split('s').next())
            .and_then(|s| s.parse::<u64>().ok());
        steps.push(Step::Pod(frame));
        if let Some(seconds) = back_off {
            steps.push(Step::BackOff(seconds));
        }
    }
    steps.push(Step::Pod(fixtures::object(
        "pod-deployment-crashloop-restarts.json",
    )));
    (first, steps)
}

/// The captured Deployment pod after its OOM kill: terminated `OOMKilled` 137, running again
/// (`restartCount` 1, not ready), ready.
pub fn oom_restart_in_place() -> Vec<Step> {
    fixtures::watch_frames("watch-deployment-pod-oom-restart-in-place.jsonl")
        .into_iter()
        .map(|(_, o)| o)
        .skip_while(|o| !o["status"]["containerStatuses"][0]["state"]["terminated"].is_object())
        .map(Step::Pod)
        .collect()
}

fn no_output() -> PodLogs {
    PodLogs::default()
}

/// Lines stamped one millisecond apart, as the kubelet stamps them.
fn output(current: &[&str], previous: &[&str]) -> PodLogs {
    let stamp = |lines: &[&str], base: i64| {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let offset = i64::try_from(i).unwrap_or(0);
                let ts = chrono::Utc::now() + chrono::Duration::milliseconds(base + offset);
                (
                    ts.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                    (*l).to_owned(),
                )
            })
            .collect()
    };
    PodLogs {
        previous: stamp(previous, 0),
        current: stamp(current, 1000),
    }
}
