//! Pod failures classified as they appear (SPEC 8): image pulls, OOM kills, crash loops, and
//! the death watch.

use std::time::Duration;

use faas_gateway::executor::{Executor, ExecutorError, Exit, InstanceEvent};
use faas_gateway::launcher::{OnFailure, StartError, start_instance};
use faas_gateway::upstream::{HttpProbe, http_client};
use tokio::sync::mpsc;

use crate::emu::fixtures;
use crate::emu::{JobScenario, ServiceScenario};
use crate::support::{Env, bounded, eventually, spec};

/// Far longer than any test may take: a failure must be reported as it appears, not when
/// this runs out.
const STARTUP: Duration = Duration::from_secs(600);

async fn start_failing(scenario: ServiceScenario) -> (Env, StartError) {
    let env = Env::start(scenario, JobScenario::Complete).await;
    let client = HttpProbe::new(http_client());
    let s = spec("hello");
    let start = start_instance(
        env.executor.as_ref(),
        &client,
        &s,
        STARTUP,
        OnFailure::Remove,
    );
    let err = bounded("the failing start", start)
        .await
        .expect_err("the start fails");
    (env, err)
}

#[tokio::test]
async fn an_image_that_cannot_be_pulled_fails_the_start_at_the_first_err_image_pull() {
    // The emulated kubelet stays at ErrImagePull: the start cannot wait for the back-off.
    let (env, err) = start_failing(ServiceScenario::ErrImagePull).await;
    let StartError::Backend(ExecutorError::ImagePull { image, message }) = err else {
        panic!("not an image pull failure: {err:?}");
    };
    assert_eq!(image, "does-not-exist:1");
    assert!(
        message.starts_with("failed to pull and unpack image"),
        "{message}"
    );
    assert_eq!(
        env.replicas("faas-hello-r1"),
        Some(0),
        "the replica is given back"
    );
    eventually("the failed pod to go", || {
        env.pod_names().is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn image_pull_back_off_fails_the_start_as_an_image_pull_failure() {
    let (_env, err) = start_failing(ServiceScenario::ImagePullBackOff).await;
    assert!(
        matches!(&err, StartError::Backend(ExecutorError::ImagePull { message, .. }) if message.starts_with("Back-off pulling image")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_container_killed_for_its_memory_fails_the_start_as_oom_killed() {
    let (env, err) = start_failing(ServiceScenario::OomKilled).await;
    let StartError::Exited { exit, log } = err else {
        panic!("not an exit: {err:?}");
    };
    assert_eq!((exit.exit_code, exit.oom_killed), (137, true));
    assert!(log.contains("allocating a large table"), "{log}");
    assert_eq!(env.replicas("faas-hello-r1"), Some(0));
}

#[tokio::test]
async fn a_crash_looping_container_fails_the_start_with_its_exit_code_and_traceback() {
    let (_env, err) = start_failing(ServiceScenario::CrashLoop).await;
    let StartError::Exited { exit, log } = err else {
        panic!("not an exit: {err:?}");
    };
    assert_eq!((exit.exit_code, exit.oom_killed), (1, false));
    assert!(
        log.contains("ImportError: No module named 'missing'"),
        "{log}"
    );
}

#[tokio::test]
async fn a_cold_start_that_crashes_keeps_its_pod_for_the_logs() {
    let env = Env::start(ServiceScenario::CrashLoop, JobScenario::Complete).await;
    let client = HttpProbe::new(http_client());
    let s = spec("hello");
    let start = start_instance(
        env.executor.as_ref(),
        &client,
        &s,
        STARTUP,
        OnFailure::KeepExited,
    );
    let err = bounded("the start", start).await.expect_err("fails");
    assert!(
        matches!(&err, StartError::Exited { exit, .. } if exit.exit_code == 1),
        "{err:?}"
    );
    let listed = env.executor.list().await.expect("lists");
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].running);
    assert!(listed[0].finished_at.is_some());
}

#[tokio::test]
async fn the_watch_reports_a_serving_pod_killed_for_its_memory() {
    let env = Env::start(ServiceScenario::Ready, JobScenario::Complete).await;
    let instance = bounded("a start", env.executor.start(&spec("hello")))
        .await
        .expect("starts");
    let (tx, mut rx) = mpsc::channel(8);
    let executor = std::sync::Arc::clone(&env.executor);
    let watch = tokio::spawn(async move { executor.watch(tx).await });

    env.cluster()
        .set_pod_state(&instance.id, &fixtures::object("pod-oomkilled.json"))
        .await;

    let event = bounded("the exit", rx.recv()).await.expect("an exit");
    assert_eq!(
        event,
        InstanceEvent::Exited {
            id: instance.id.clone(),
            exit: Exit::for_good(137, true)
        }
    );
    watch.abort();
}

#[tokio::test]
async fn the_watch_reports_a_pod_deleted_behind_the_gateways_back_but_not_one_it_removed() {
    let env = Env::start(ServiceScenario::Ready, JobScenario::Complete).await;
    let s = spec("hello");
    let removed = bounded("a start", env.executor.start(&s))
        .await
        .expect("starts");
    let evicted = bounded("a start", env.executor.start(&s))
        .await
        .expect("starts");
    let (tx, mut rx) = mpsc::channel(8);
    let executor = std::sync::Arc::clone(&env.executor);
    let watch = tokio::spawn(async move { executor.watch(tx).await });

    env.executor.remove(&removed.id).await.expect("removes");
    env.cluster()
        .write(|s| s.delete(crate::emu::Res::Pods, &evicted.id));

    let event = bounded("the exit", rx.recv()).await.expect("an exit");
    assert_eq!(
        event,
        InstanceEvent::Exited {
            id: evicted.id.clone(),
            exit: Exit::for_good(-1, false)
        }
    );
    // The ReplicaSet replaces the evicted pod; nothing else is news.
    eventually("a replacement pod", || {
        let pods = env.pod_names();
        (pods.len() == 1 && !pods.contains(&evicted.id)).then_some(())
    })
    .await;
    assert!(rx.try_recv().is_err());
    watch.abort();
}
