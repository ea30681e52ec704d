//! The pool over the emulated cluster: what a real kubelet and scheduler do to instances
//! (restarts in place, back-offs, no room) and what calls and the callback's record see of it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use faas_gateway::builder::{ImageConfig, Images};
use faas_gateway::executor::{Executor, ExecutorError};
use faas_gateway::launcher::{
    Launcher, LauncherParts, Limits, RuntimeEvent as PoolEvent, StartError,
};
use faas_gateway::metrics::Metrics;
use faas_gateway::model::{Backend, CallbackSpec, ErrorCode, InstanceState, Mode, Runtime};
use faas_gateway::pool::{Pool, PoolError};
use faas_gateway::routes::{Revision, Route, RouteTable, Runner};
use faas_gateway::supervise;
use faas_gateway::testing::FakeBuilder;
use faas_gateway::upstream::{HttpProbe, http_client};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::emu::{JobScenario, ServiceScenario};
use crate::support::{Env, bounded, eventually};

/// A pool of one revision on the emulated cluster, watched as the gateway watches it.
struct Harness {
    env: Env,
    pool: Arc<Pool>,
    events: mpsc::UnboundedReceiver<PoolEvent>,
    stop: CancellationToken,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn callback(min_instances: u32) -> CallbackSpec {
    CallbackSpec {
        path: "hello".into(),
        runtime: Runtime::Python,
        files: BTreeMap::from([("handler.py".into(), "def handle(e, c): pass\n".into())]),
        handler: "handler.handle".into(),
        backend: Backend::Kubernetes,
        mode: Mode::Service,
        env: BTreeMap::new(),
        memory_mb: 64,
        cpu: 0.25,
        timeout_ms: 20_000,
        concurrency: 1,
        min_instances,
        max_instances: 4,
        idle_timeout_s: 300,
        keep_paused_s: 600,
        namespace: "default".into(),
    }
}

async fn harness(scenario: ServiceScenario, min_instances: u32) -> Harness {
    let env = Env::start(scenario, JobScenario::Complete).await;
    let executor: Arc<dyn Executor> = Arc::clone(&env.executor) as Arc<dyn Executor>;
    let metrics = Arc::new(Metrics::default());
    let (events, rx) = mpsc::unbounded_channel();
    let images = Images::new(
        Arc::new(FakeBuilder::default()),
        ImageConfig {
            python_base_image: "python".into(),
            node_base_image: "node".into(),
            node_deps_base_image: "node".into(),
            repository: "local.test/faas-fn".into(),
            push: false,
        },
        Arc::clone(&metrics),
    );
    let launcher = Launcher::new(LauncherParts {
        executor: Arc::clone(&executor),
        probe: Arc::new(HttpProbe::new(http_client())),
        images,
        limits: Limits {
            queue_len: 10,
            startup_timeout: Duration::from_secs(20),
        },
        events,
        metrics,
        tasks: tokio_util::task::TaskTracker::new(),
        quota: Arc::new(faas_gateway::launcher::Unlimited),
    });
    let spec = Arc::new(callback(min_instances));
    let image = "local.test/faas-fn/hello:1".to_owned();
    let pool = Pool::new(Arc::clone(&spec), 1, image.clone(), launcher);
    let routes = Arc::new(RouteTable::default());
    let revision = Revision {
        spec,
        number: 1,
        image,
        runner: Runner::Warm(Arc::clone(&pool)),
    };
    routes.set("hello", Route::Serving(Arc::new(revision)));
    let stop = CancellationToken::new();
    tokio::spawn(supervise::run(executor, routes, stop.clone()));
    Harness {
        env,
        pool,
        events: rx,
        stop,
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(20)
}

#[tokio::test]
async fn instance_ids_are_the_pods_names() {
    let h = harness(ServiceScenario::Ready, 1).await;
    bounded("the deploy", h.pool.start_initial(1))
        .await
        .expect("starts");
    let ids: Vec<String> = h.pool.instances().into_iter().map(|i| i.id).collect();
    assert_eq!(ids, h.env.pod_names());
}

#[tokio::test]
async fn an_oom_kill_restarted_in_place_is_one_death_reported_and_no_new_replica() {
    let mut h = harness(ServiceScenario::Ready, 1).await;
    bounded("the deploy", h.pool.start_initial(1))
        .await
        .expect("starts");
    let pod = h.env.pod_names().remove(0);

    h.env.cluster().oom_kill_and_restart(&pod).await;

    let event = bounded("the death", h.events.recv())
        .await
        .expect("an event");
    let PoolEvent::Failed {
        error,
        instance,
        crash_loop,
        ..
    } = event
    else {
        panic!("not a failure: {event:?}");
    };
    assert_eq!(error.code, ErrorCode::FunctionOomKilled);
    assert_eq!(error.details["exit_code"], 137);
    assert_eq!(instance.as_deref(), Some(pod.as_str()));
    assert!(!crash_loop);
    let back = eventually("the instance to serve again", || {
        let i = h.pool.instances();
        (i.len() == 1 && i[0].state == InstanceState::Ready && i[0].restarts == 1).then_some(i)
    })
    .await;
    assert_eq!(back[0].id, pod, "the same pod came back");
    assert_eq!(h.env.replicas("faas-hello-r1"), Some(1), "no replica added");
    assert_eq!(h.env.pod_names(), vec![pod], "no pod deleted or created");
    let lease = bounded("a call", h.pool.acquire(soon()))
        .await
        .expect("it serves");
    assert!(!lease.cold());
}

#[tokio::test]
async fn a_crash_looping_pod_turns_calls_into_crash_loop_answers_with_no_new_replica() {
    let mut h = harness(ServiceScenario::CrashLoopInPlace, 0).await;
    let first = bounded("a cold start", h.pool.acquire(soon()))
        .await
        .expect_err("it crashes at import");
    assert!(
        matches!(&first, PoolError::Start(StartError::Exited { exit, .. }) if exit.exit_code == 3 && exit.restarting),
        "the cold start reports the function's own exit: {first:?}"
    );
    let give_up = Instant::now() + Duration::from_secs(15);
    let retry_after = loop {
        assert!(
            Instant::now() < give_up,
            "calls never answered FUNCTION_CRASH_LOOP"
        );
        // Each call ends with a crash or the loop, while it waits for the restart; never
        // with a timeout, and never with a new pod.
        match bounded("a call", h.pool.acquire(soon())).await {
            Err(PoolError::CrashLoop { retry_after }) => break retry_after,
            Err(PoolError::Died(_) | PoolError::Start(StartError::Exited { .. })) => {}
            // The captured fifth start ran for a second before it crashed too.
            Ok(_lease) => {}
            other => panic!("on the way to a crash loop: {other:?}"),
        }
        assert_eq!(h.env.pod_names().len(), 1, "no other pod");
    };
    assert!(retry_after >= Duration::from_secs(1));
    assert_eq!(h.env.replicas("faas-hello-r1"), Some(1), "no replica added");
    assert_eq!(
        h.env.pod_names().len(),
        1,
        "the one pod, restarted in place"
    );
    assert!(h.pool.crash_looping());
    let mut looped = false;
    while let Ok(event) = h.events.try_recv() {
        looped |= matches!(
            event,
            PoolEvent::CrashLoop { .. }
                | PoolEvent::Failed {
                    crash_loop: true,
                    ..
                }
        );
    }
    assert!(looped, "the record learns of the crash loop");
}

#[tokio::test]
async fn a_cold_start_no_node_can_take_fails_at_once_with_the_schedulers_message() {
    let mut h = harness(ServiceScenario::Ready, 0).await;
    h.env.cluster().settings().node_cpu_millis = 10;
    let err = bounded("a cold start", h.pool.acquire(soon()))
        .await
        .expect_err("no room");
    assert!(
        matches!(&err, PoolError::Start(StartError::Backend(ExecutorError::Unschedulable { reason })) if reason.contains("Insufficient cpu")),
        "{err:?}"
    );
    assert_eq!(h.env.replicas("faas-hello-r1"), Some(0));
    let event = bounded("the record", h.events.recv())
        .await
        .expect("an event");
    let PoolEvent::Failed {
        error, crash_loop, ..
    } = event
    else {
        panic!("not a failure: {event:?}");
    };
    assert_eq!(error.code, ErrorCode::InsufficientCapacity);
    assert!(!crash_loop, "no room is no crash");
}
