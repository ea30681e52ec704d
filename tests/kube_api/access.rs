//! The API server itself: its version, RBAC denials, its absence; finding the gateway's own
//! pods by label; reading their output.

use std::time::Duration;

use faas_gateway::api::error::ApiError;
use faas_gateway::executor::{Executor, ExecutorError};
use faas_gateway::model::ErrorCode;
use serde_json::json;

use crate::emu::{JobScenario, Res, ServiceScenario};
use crate::support::{Env, bounded, eventually, spec};

async fn env() -> Env {
    Env::start(ServiceScenario::Ready, JobScenario::Complete).await
}

#[tokio::test]
async fn ping_names_the_kubernetes_version() {
    let env = env().await;
    assert_eq!(
        env.executor.ping().await.expect("pings"),
        "kubernetes v1.32.0"
    );
}

#[tokio::test]
async fn creating_a_job_without_the_permission_is_forbidden_naming_create_jobs() {
    let env = env().await;
    env.cluster()
        .settings()
        .forbidden
        .push(("create".into(), "jobs".into()));
    let err = bounded(
        "the job",
        env.executor
            .run_job(&spec("batch"), "{}", Duration::from_secs(5)),
    )
    .await
    .expect_err("refused");
    let ExecutorError::Forbidden {
        ref verb,
        ref resource,
        ref message,
    } = err
    else {
        panic!("not forbidden: {err:?}");
    };
    assert_eq!((verb.as_str(), resource.as_str()), ("create", "jobs"));
    assert!(
        message.contains("cannot create resource \"jobs\""),
        "{message}"
    );

    let api = ApiError::from(err);
    assert_eq!(api.code, ErrorCode::BackendForbidden);
    assert_eq!(api.details["verb"], "create");
    assert_eq!(api.details["resource"], "jobs");
}

#[tokio::test]
async fn scaling_without_the_permission_is_forbidden_naming_patch_deployments() {
    let env = env().await;
    env.cluster()
        .settings()
        .forbidden
        .push(("patch".into(), "deployments".into()));
    let err = bounded("the start", env.executor.start(&spec("hello")))
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, ExecutorError::Forbidden { verb, resource, .. } if verb == "patch" && resource == "deployments"),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unreachable_api_server_makes_every_call_unavailable() {
    let mut env = env().await;
    let running = bounded("a start", env.executor.start(&spec("hello")))
        .await
        .expect("starts");
    env.api.stop().await;

    let unavailable = |r: Result<(), ExecutorError>| {
        assert!(
            matches!(
                &r,
                Err(ExecutorError::Unavailable {
                    backend: "kubernetes",
                    ..
                })
            ),
            "{r:?}"
        );
    };
    unavailable(env.executor.ping().await.map(drop));
    unavailable(
        bounded("a start", env.executor.start(&spec("hello")))
            .await
            .map(drop),
    );
    unavailable(env.executor.list().await.map(drop));
    unavailable(env.executor.status(&running.id).await.map(drop));
    unavailable(env.executor.remove(&running.id).await);
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    unavailable(bounded("the watch", env.executor.watch(tx)).await);
}

#[tokio::test]
async fn list_finds_only_this_gateways_pods_and_flags_job_pods() {
    let env = env().await;
    let service = bounded("a start", env.executor.start(&spec("hello")))
        .await
        .expect("starts");
    let other = crate::support::connect(&env.api, env.pod_port, "another-gateway");
    let theirs = bounded("a start", other.start(&spec("theirs")))
        .await
        .expect("starts");
    // A job pod, found while its Job still exists (a crash left it behind).
    env.cluster().write(|s| {
        let job = json!({"metadata": {"name": "faas-batch-job-left"}, "spec": {"template": {
            "metadata": {"labels": crate::support::labels("batch", "job")}}}});
        s.create(Res::Jobs, "faas-test", job)
    });
    let job_pod = eventually("the job's pod", || {
        env.pod_names()
            .into_iter()
            .find(|p| p.starts_with("faas-batch-job-left-"))
    })
    .await;

    let found = env.executor.list().await.expect("lists");
    let mut ids: Vec<&str> = found.iter().map(|o| o.instance.id.as_str()).collect();
    ids.sort_unstable();
    let mut expected = vec![service.id.as_str(), job_pod.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected, "not {}", theirs.id);
    let job = found
        .iter()
        .find(|o| o.instance.id == job_pod)
        .expect("the job pod");
    assert!(job.job);
    assert_eq!((job.callback.as_str(), job.revision), ("batch", 1));
    let svc = found
        .iter()
        .find(|o| o.instance.id == service.id)
        .expect("the service pod");
    assert!(!svc.job && svc.running);

    // Collecting it removes its Job, and the Job's pod with it.
    env.executor.remove(&job_pod).await.expect("removes");
    assert!(
        env.cluster()
            .object(Res::Jobs, "faas-batch-job-left")
            .is_none()
    );
    assert!(!env.pod_names().contains(&job_pod));
}

#[tokio::test]
async fn logs_are_the_last_lines_with_their_timestamps() {
    let env = env().await;
    let instance = bounded("a start", env.executor.start(&spec("hello")))
        .await
        .expect("starts");
    let lines = env
        .executor
        .logs(std::slice::from_ref(&instance.id), 10)
        .await
        .expect("reads");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].line, "serving on :8080");
    assert_eq!(lines[0].instance, instance.id);
    let read = env.requests("GET", &format!("/pods/{}/log", instance.id));
    assert!(read[0].query.contains("tailLines=10"), "{}", read[0].query);
    assert!(
        read[0].query.contains("timestamps=true"),
        "{}",
        read[0].query
    );
    assert!(
        env.executor
            .logs(&["gone".into()], 10)
            .await
            .expect("reads")
            .is_empty()
    );
}
