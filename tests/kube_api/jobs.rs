//! Job mode: one Job per call, its result read from the termination message, deadlines,
//! OOM kills, large events in a ConfigMap, and the clean-up afterwards.

use std::time::Duration;

use faas_gateway::executor::{Executor, ExecutorError, InstanceSpec};
use serde_json::json;

use crate::emu::scenario::termination_message;
use crate::emu::{JobScenario, Res, ServiceScenario};
use crate::support::{Env, bounded, eventually, labels, spec};

const TIMEOUT: Duration = Duration::from_millis(30_500);

fn job_spec() -> InstanceSpec {
    let mut s = spec("batch");
    s.env.insert("FAAS_MODE".into(), "job".into());
    s
}

async fn env(scenario: JobScenario) -> Env {
    Env::start(ServiceScenario::Ready, scenario).await
}

#[tokio::test]
async fn a_job_that_completes_answers_with_its_termination_message_and_is_deleted() {
    let env = env(JobScenario::Complete).await;
    let event = r#"{"method":"GET","path":"/"}"#;
    let outcome = bounded("the job", env.executor.run_job(&job_spec(), event, TIMEOUT))
        .await
        .expect("runs");

    assert_eq!(outcome.exit_code, 0);
    assert!(!outcome.timed_out && !outcome.oom_killed);
    assert_eq!(outcome.document, Some(termination_message()));
    assert!(outcome.log.contains("some log line"), "{}", outcome.log);

    let created = &env.requests("POST", "/apis/batch/v1/namespaces/faas-test/jobs")[0].body;
    let name = created["metadata"]["name"]
        .as_str()
        .expect("a name")
        .to_owned();
    assert!(name.starts_with("faas-batch-job-"), "{name}");
    assert_eq!(created["metadata"]["labels"], labels("batch", "job"));
    assert_eq!(created["spec"]["backoffLimit"], 0);
    // A backstop: the pod's start time (30 s here) + the timeout (30.5 s) + 5 s of slack,
    // rounded up, + the second `status.startTime` may lose.
    assert_eq!(created["spec"]["activeDeadlineSeconds"], 67);
    assert_eq!(created["spec"]["ttlSecondsAfterFinished"], 300);
    let pod = &created["spec"]["template"];
    assert_eq!(pod["metadata"]["labels"], labels("batch", "job"));
    assert_eq!(pod["spec"]["restartPolicy"], "Never");
    let env_vars = pod["spec"]["containers"][0]["env"].as_array().expect("env");
    assert!(env_vars.contains(&json!({"name": "FAAS_EVENT", "value": event})));
    assert!(env_vars.contains(&json!({"name": "FAAS_MODE", "value": "job"})));

    let deleted = env.requests("DELETE", &format!("/jobs/{name}"));
    assert_eq!(deleted[0].body["propagationPolicy"], "Background");
    assert!(env.cluster().object(Res::Jobs, &name).is_none());
    assert!(
        env.cluster().objects(Res::Pods).is_empty(),
        "its pod goes with it"
    );
}

#[tokio::test]
async fn a_job_gets_its_whole_timeout_counted_from_its_container_start() {
    let env = env(JobScenario::Runs).await;
    // The kubelet takes its time to start the container (an image pull, say).
    env.cluster().settings().step = Duration::from_millis(700);
    let timeout = Duration::from_millis(1500);
    let outcome = bounded("the job", env.executor.run_job(&job_spec(), "{}", timeout))
        .await
        .expect("runs");
    let ended = tokio::time::Instant::now();
    assert!(outcome.timed_out, "{outcome:?}");
    assert!(outcome.document.is_none());
    let created = &env.requests("POST", "/jobs")[0].body;
    let job = created["metadata"]["name"].as_str().expect("a name");
    let pod = env
        .cluster()
        .read(|s| {
            s.log
                .iter()
                .find(|c| c.res == Res::Pods && c.object["metadata"]["labels"]["job-name"] == job)
                .map(|c| crate::emu::store::name_of(&c.object))
        })
        .expect("the job's pod");
    let since = env
        .cluster()
        .running_since(&pod)
        .expect("its container ran");
    assert!(
        ended.duration_since(since) >= timeout,
        "timed out {:?} after the container started, before its {timeout:?}",
        ended.duration_since(since)
    );
    assert!(
        env.cluster().objects(Res::Jobs).is_empty(),
        "the Job is deleted"
    );
}

#[tokio::test]
async fn a_jobs_own_deadline_leaves_the_function_its_timeout_and_the_pods_start() {
    let env = env(JobScenario::Runs).await;
    let timeout = Duration::from_millis(2500);
    let _ = bounded("the job", env.executor.run_job(&job_spec(), "{}", timeout))
        .await
        .expect("runs");
    let created = &env.requests("POST", "/jobs")[0].body;
    let deadline = created["spec"]["activeDeadlineSeconds"]
        .as_i64()
        .expect("a deadline");
    // The Job controller counts from status.startTime, cut to the second: its deadline is
    // a backstop past the pod's start time and the function's whole timeout.
    assert!(deadline >= 34, "activeDeadlineSeconds {deadline}");
}

#[tokio::test]
async fn the_emulated_job_controller_counts_the_deadline_from_start_time_cut_to_the_second() {
    let env = env(JobScenario::Runs).await;
    let jobs: kube::Api<k8s_openapi::api::batch::v1::Job> =
        kube::Api::namespaced(crate::support::client(&env.api), crate::support::NAMESPACE);
    let job: k8s_openapi::api::batch::v1::Job = serde_json::from_value(json!({
        "metadata": {"name": "deadline1"},
        "spec": {"activeDeadlineSeconds": 1, "backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "fn", "image": "x"}]}}}
    }))
    .expect("a job");
    jobs.create(&Default::default(), &job)
        .await
        .expect("created");
    let failed = eventually("the deadline to pass", || {
        let j = env.cluster().object(Res::Jobs, "deadline1")?;
        let c = j["status"]["conditions"].as_array()?.first()?.clone();
        (c["reason"] == "DeadlineExceeded").then_some(j)
    })
    .await;
    let start = &failed["status"]["startTime"];
    let created = &failed["metadata"]["creationTimestamp"];
    assert_eq!(
        start, created,
        "startTime is the creation time, to the second"
    );
    let at = |v: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().expect("a time")).expect("RFC 3339")
    };
    let target = &failed["status"]["conditions"][0];
    assert_eq!(target["type"], "FailureTarget");
    assert_eq!(
        (at(&target["lastTransitionTime"]) - at(start)).num_seconds(),
        1
    );
    eventually("the pod to be deleted and the Job to fail", || {
        let j = env.cluster().object(Res::Jobs, "deadline1")?;
        let gone = env.cluster().objects(Res::Pods).is_empty();
        (gone && j["status"]["conditions"][1]["type"] == "Failed").then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_job_no_node_can_take_fails_at_once_as_unschedulable_and_is_deleted() {
    let env = env(JobScenario::Complete).await;
    env.cluster().settings().node_cpu_millis = 10;
    let err = bounded("the job", env.executor.run_job(&job_spec(), "{}", TIMEOUT))
        .await
        .expect_err("nowhere to run");
    assert!(
        matches!(&err, ExecutorError::Unschedulable { reason } if reason.contains("Insufficient cpu")),
        "{err:?}"
    );
    assert!(
        env.cluster().objects(Res::Jobs).is_empty(),
        "the Job is deleted"
    );
}

#[tokio::test]
async fn a_job_killed_for_its_memory_reports_oom_and_exit_137() {
    let env = env(JobScenario::OomKilled).await;
    let outcome = bounded("the job", env.executor.run_job(&job_spec(), "{}", TIMEOUT))
        .await
        .expect("runs");
    assert_eq!(outcome.exit_code, 137);
    assert!(outcome.oom_killed);
    assert!(!outcome.timed_out);
    assert!(outcome.log.contains("allocating"), "{}", outcome.log);
}

#[tokio::test]
async fn a_job_whose_image_cannot_be_pulled_fails_with_the_kubelet_message() {
    let env = env(JobScenario::ErrImagePull).await;
    let err = bounded("the job", env.executor.run_job(&job_spec(), "{}", TIMEOUT))
        .await
        .expect_err("fails");
    assert!(
        matches!(&err, ExecutorError::ImagePull { message, .. } if message.contains("does-not-exist")),
        "{err:?}"
    );
    assert!(
        env.cluster().objects(Res::Jobs).is_empty(),
        "the Job is deleted"
    );
}

#[tokio::test]
async fn a_large_event_travels_in_a_config_map_that_is_deleted_with_the_job() {
    let env = env(JobScenario::Complete).await;
    let event = format!(r#"{{"body":"{}"}}"#, "x".repeat(100 * 1024));
    let outcome = bounded(
        "the job",
        env.executor.run_job(&job_spec(), &event, TIMEOUT),
    )
    .await
    .expect("runs");
    assert_eq!(outcome.exit_code, 0);

    let cm = &env.requests("POST", "/api/v1/namespaces/faas-test/configmaps")[0].body;
    let name = cm["metadata"]["name"].as_str().expect("a name").to_owned();
    assert_eq!(cm["data"]["event.json"], event.as_str());
    let job = &env.requests("POST", "/jobs")[0].body;
    assert_eq!(job["metadata"]["name"], name.as_str(), "named like its Job");
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    let env_vars = c["env"].as_array().expect("env");
    assert!(
        env_vars.contains(&json!({"name": "FAAS_EVENT_FILE", "value": "/faas-event/event.json"}))
    );
    assert!(!env_vars.iter().any(|v| v["name"] == "FAAS_EVENT"));
    assert!(
        env.cluster().object(Res::ConfigMaps, &name).is_none(),
        "deleted"
    );
}

#[tokio::test]
async fn a_call_abandoned_by_its_caller_deletes_its_job_and_config_map() {
    let env = env(JobScenario::Runs).await;
    let executor = std::sync::Arc::clone(&env.executor);
    let event = "x".repeat(100 * 1024);
    let run = tokio::spawn(async move { executor.run_job(&job_spec(), &event, TIMEOUT).await });
    eventually("the job's pod to run", || {
        let pods = env.cluster().objects(Res::Pods);
        pods.iter()
            .any(|p| p["status"]["phase"] == "Running")
            .then_some(())
    })
    .await;

    run.abort();

    eventually("the job and its config map to go", || {
        let gone = env.cluster().objects(Res::Jobs).is_empty()
            && env.cluster().objects(Res::ConfigMaps).is_empty();
        gone.then_some(())
    })
    .await;
}
