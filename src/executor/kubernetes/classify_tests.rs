//! Every pod and Job state captured on a real cluster, classified.

use super::*;

/// A fixture captured from a real cluster: a pod (or the only item of a list).
fn fixture<T: serde::de::DeserializeOwned>(text: &str) -> T {
    let v: serde_json::Value = serde_json::from_str(text).expect("fixture is JSON");
    let v = match v.get("items") {
        Some(items) => items[0].clone(),
        None => v,
    };
    serde_json::from_value(v).expect("fixture has the object's shape")
}

macro_rules! pod {
    ($file:literal) => {
        fixture::<Pod>(include_str!(concat!(
            "../../../tests/kube_api/fixtures/",
            $file
        )))
    };
}
macro_rules! job {
    ($file:literal) => {
        fixture::<Job>(include_str!(concat!(
            "../../../tests/kube_api/fixtures/",
            $file
        )))
    };
}

#[test]
fn a_ready_pod_runs_at_its_pod_ip() {
    let state = pod_state(&pod!("pod-running-ready.json"));
    assert_eq!(
        state,
        PodState::Running {
            ip: Some("10.244.0.15".parse().expect("ip")),
            ready: true,
            restarts: 0,
        }
    );
}

#[test]
fn err_image_pull_is_an_image_pull_failure_with_the_kubelet_message() {
    let PodState::ImagePull { image, message } = pod_state(&pod!("pod-errimagepull.json")) else {
        panic!("not an image pull failure");
    };
    assert_eq!(image, "does-not-exist:1");
    assert!(
        message.starts_with("failed to pull and unpack image"),
        "{message}"
    );
}

#[test]
fn image_pull_back_off_is_an_image_pull_failure_too() {
    let state = pod_state(&pod!("pod-imagepullbackoff.json"));
    assert!(
        matches!(&state, PodState::ImagePull { message, .. } if message.starts_with("Back-off pulling image")),
        "{state:?}"
    );
}

#[test]
fn an_oom_killed_container_exited_137_killed_for_memory() {
    let PodState::Stopped(exit) = pod_state(&pod!("pod-oomkilled.json")) else {
        panic!("not exited");
    };
    assert_eq!(exit.exit_code, 137);
    assert!(exit.oom_killed);
    assert!(exit.finished_at.is_some());
}

#[test]
fn crash_loop_back_off_reports_the_last_exit_code() {
    let PodState::Stopped(exit) = pod_state(&pod!("pod-crashloopbackoff.json")) else {
        panic!("not exited");
    };
    assert_eq!(exit.exit_code, 1);
    assert!(!exit.oom_killed);
    assert_eq!(exit.back_off, Some(std::time::Duration::from_secs(40)));
    assert!(
        exit.restarting,
        "restartPolicy OnFailure, exit 1: restarted in place"
    );
}

#[test]
fn a_completed_job_pod_carries_its_termination_message() {
    let PodState::Stopped(exit) = pod_state(&pod!("pod-completed-termination-message.json")) else {
        panic!("not exited");
    };
    assert_eq!(exit.exit_code, 0);
    assert_eq!(
        exit.message.as_deref(),
        Some(r#"{"statusCode":200,"body":"hi"}"#)
    );
}

#[test]
fn a_pod_still_starting_is_pending() {
    let line = include_str!("../../../tests/kube_api/fixtures/watch-pods-scale.jsonl")
        .lines()
        .next()
        .expect("a line");
    let event: serde_json::Value = serde_json::from_str(line).expect("json");
    let pod: Pod = serde_json::from_value(event["object"].clone()).expect("pod");
    assert_eq!(pod_state(&pod), PodState::Pending);
}

#[test]
fn a_running_container_that_is_not_ready_yet_still_runs() {
    let pods: Vec<Pod> = include_str!("../../../tests/kube_api/fixtures/watch-pods-scale.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .map(|e| serde_json::from_value(e["object"].clone()).expect("pod"))
        .collect();
    let unready = pods
        .iter()
        .find(|p| p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_some() && !is_ready(p))
        .expect("the capture holds a running, unready pod");
    assert!(matches!(
        pod_state(unready),
        PodState::Running {
            ip: Some(_),
            ready: false,
            ..
        }
    ));
}

#[test]
fn a_job_past_its_deadline_timed_out() {
    assert_eq!(
        job_state(&job!("job-failed-deadline-exceeded.json")),
        JobState::TimedOut
    );
}

#[test]
fn the_failure_target_condition_alone_already_means_timed_out() {
    let mut job = job!("job-failed-deadline-exceeded.json");
    let status = job.status.as_mut().expect("status");
    status
        .conditions
        .as_mut()
        .expect("conditions")
        .retain(|c| c.type_ == "FailureTarget");
    assert_eq!(job_state(&job), JobState::TimedOut);
}

#[test]
fn a_complete_job_is_complete() {
    assert_eq!(job_state(&job!("job-complete.json")), JobState::Complete);
}

#[test]
fn an_oom_job_failed_on_its_backoff_limit() {
    assert_eq!(
        job_state(&job!("job-failed-backofflimit-oom.json")),
        JobState::Failed {
            reason: "BackoffLimitExceeded".into()
        }
    );
}

#[test]
fn a_job_without_conditions_runs() {
    assert_eq!(job_state(&Job::default()), JobState::Running);
}

#[test]
fn an_unschedulable_pod_carries_the_schedulers_message() {
    let state = pod_state(&pod!("pod-unschedulable-insufficient-cpu.json"));
    let PodState::Unschedulable { message } = state else {
        panic!("not unschedulable: {state:?}");
    };
    assert!(
        message.starts_with("0/1 nodes are available: 1 Insufficient cpu."),
        "{message}"
    );
}

#[test]
fn a_deployment_pod_restarted_in_place_after_an_oom_kill_runs_again() {
    let pod = pod!("pod-deployment-oomkilled-restarted.json");
    let state = pod_state(&pod);
    assert!(
        matches!(
            state,
            PodState::Running {
                ready: true,
                restarts: 1,
                ..
            }
        ),
        "{state:?}"
    );
    let last = last_stop(&pod).expect("its last stop");
    assert_eq!((last.exit_code, last.oom_killed), (137, true));
    assert_eq!(last.restarts, 0, "the first exit: no restart before it");
    assert!(last.restarting);
}

#[test]
fn a_crash_looping_deployment_pod_is_stopped_backing_off_with_its_exit_code() {
    let PodState::Stopped(s) = pod_state(&pod!("pod-deployment-crashloop-restarts.json")) else {
        panic!("not stopped");
    };
    assert_eq!(s.exit_code, 3);
    assert!(!s.oom_killed);
    assert!(s.restarting);
    assert_eq!(s.restarts, 4);
    assert_eq!(s.back_off, Some(std::time::Duration::from_secs(80)));
}

#[test]
fn kubelet_back_off_durations_are_read_in_go_notation() {
    assert_eq!(go_duration("10s"), Some(std::time::Duration::from_secs(10)));
    assert_eq!(
        go_duration("1m20s"),
        Some(std::time::Duration::from_secs(80))
    );
    assert_eq!(
        go_duration("5m0s"),
        Some(std::time::Duration::from_secs(300))
    );
    assert_eq!(go_duration("soon"), None);
    assert_eq!(go_duration("10"), None);
}

#[test]
fn a_job_pod_is_never_restarted_in_place() {
    let PodState::Stopped(s) = pod_state(&pod!("pod-oomkilled.json")) else {
        panic!("not stopped");
    };
    assert!(!s.restarting);
}
