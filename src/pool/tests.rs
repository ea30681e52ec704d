//! The pool's rules on the in-memory backend with paused time: queueing and cold-start
//! coalescing, hand-off, the queue bound, deadlines, drains, crash back-off, idle scaling.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use super::{Pool, PoolError};
use crate::builder::{ImageConfig, Images};
use crate::executor::Executor;
use crate::launcher::{Launcher, LauncherParts, Limits, RuntimeEvent};
use crate::metrics::Metrics;
use crate::model::{Backend, CallbackSpec, Mode, Runtime};
use crate::testing::{FakeBuilder, FakeExecutor};

struct Setup {
    pool: Arc<Pool>,
    fake: FakeExecutor,
    events: mpsc::UnboundedReceiver<RuntimeEvent>,
}

fn spec(edit: impl FnOnce(&mut CallbackSpec)) -> CallbackSpec {
    let mut s = CallbackSpec {
        path: "rules".into(),
        runtime: Runtime::Python,
        files: BTreeMap::from([("handler.py".into(), "x".into())]),
        handler: "handler.handle".into(),
        backend: Backend::Docker,
        mode: Mode::Service,
        env: BTreeMap::new(),
        memory_mb: 64,
        cpu: 1.0,
        timeout_ms: 10_000,
        concurrency: 2,
        min_instances: 0,
        max_instances: 4,
        idle_timeout_s: 60,
        keep_paused_s: 600,
        namespace: "default".into(),
    };
    edit(&mut s);
    s
}

fn setup(queue_len: usize, edit: impl FnOnce(&mut CallbackSpec)) -> Setup {
    let fake = FakeExecutor::default();
    let metrics = Arc::new(Metrics::default());
    let (events, rx) = mpsc::unbounded_channel();
    let images = Images::new(
        Arc::new(FakeBuilder::default()),
        ImageConfig {
            python_base_image: "p".into(),
            node_base_image: "n".into(),
            node_deps_base_image: "n".into(),
            repository: "faas-fn".into(),
            push: false,
        },
        Arc::clone(&metrics),
    );
    let launcher = Launcher::new(LauncherParts {
        executor: Arc::new(fake.clone()) as Arc<dyn Executor>,
        probe: fake.probe(),
        images,
        limits: Limits {
            queue_len,
            startup_timeout: Duration::from_secs(30),
        },
        events,
        metrics,
        tasks: TaskTracker::new(),
        quota: Arc::new(crate::launcher::Unlimited),
    });
    let pool = Pool::new(Arc::new(spec(edit)), 1, "faas-fn/rules:1".into(), launcher);
    Setup {
        pool,
        fake,
        events: rx,
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

#[tokio::test(start_paused = true)]
async fn a_burst_starts_one_instance_per_concurrency_waiting_calls() {
    let s = setup(100, |_| {});
    let calls: Vec<_> = (0..5).map(|_| s.pool.acquire(soon())).collect();
    let leases = futures::future::join_all(calls).await;
    assert!(leases.iter().all(Result::is_ok));
    assert_eq!(
        s.fake.starts(),
        3,
        "5 calls at 2 per instance: 3 cold starts"
    );
    assert!(leases.iter().flatten().all(|l| l.cold()));
}

#[tokio::test(start_paused = true)]
async fn light_traffic_stays_on_one_instance() {
    let s = setup(100, |_| {});
    for _ in 0..5 {
        let lease = s.pool.acquire(soon()).await.expect("a slot");
        drop(lease);
    }
    assert_eq!(s.fake.starts(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_released_slot_goes_to_the_next_queued_call() {
    let s = setup(100, |c| {
        c.concurrency = 1;
        c.max_instances = 1;
    });
    let first = s.pool.acquire(soon()).await.expect("a slot");
    let pool = Arc::clone(&s.pool);
    let second = tokio::spawn(async move { pool.acquire(soon()).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !second.is_finished(),
        "it waits: one instance, one call at a time"
    );
    assert_eq!(s.pool.counts().queued, 1);
    drop(first);
    let lease = second.await.expect("joined").expect("handed the slot");
    assert!(!lease.cold(), "no start was needed");
    assert_eq!(s.fake.starts(), 1);
}

#[tokio::test(start_paused = true)]
async fn calls_beyond_the_queue_bound_are_refused() {
    let s = setup(2, |c| {
        c.concurrency = 1;
        c.max_instances = 1;
    });
    let _busy = s.pool.acquire(soon()).await.expect("a slot");
    let waiting: Vec<_> = (0..2)
        .map(|_| {
            let pool = Arc::clone(&s.pool);
            tokio::spawn(async move { pool.acquire(soon()).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(matches!(
        s.pool.acquire(soon()).await,
        Err(PoolError::QueueFull)
    ));
    for w in waiting {
        w.abort();
    }
}

#[tokio::test(start_paused = true)]
async fn a_call_that_gets_no_slot_before_its_deadline_times_out() {
    let s = setup(100, |c| {
        c.concurrency = 1;
        c.max_instances = 1;
    });
    let _busy = s.pool.acquire(soon()).await.expect("a slot");
    let deadline = Instant::now() + Duration::from_millis(300);
    assert!(matches!(
        s.pool.acquire(deadline).await,
        Err(PoolError::Timeout)
    ));
    assert!(Instant::now() >= deadline);
}

#[tokio::test(start_paused = true)]
async fn a_drain_sends_queued_calls_away_and_waits_for_calls_in_flight() {
    let s = setup(100, |c| {
        c.concurrency = 1;
        c.max_instances = 1;
    });
    let in_flight = s.pool.acquire(soon()).await.expect("a slot");
    let pool = Arc::clone(&s.pool);
    let queued = tokio::spawn(async move { pool.acquire(soon()).await });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let pool = Arc::clone(&s.pool);
    let drain = tokio::spawn(async move { pool.drain(Duration::from_secs(5)).await });
    assert!(matches!(
        queued.await.expect("joined"),
        Err(PoolError::Draining)
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!drain.is_finished(), "the call in flight finishes first");
    assert_eq!(s.fake.all().len(), 1);
    drop(in_flight);
    drain.await.expect("drained");
    assert!(s.fake.all().is_empty(), "then every instance is removed");
    assert!(matches!(
        s.pool.acquire(soon()).await,
        Err(PoolError::Draining)
    ));
}

#[tokio::test(start_paused = true)]
async fn three_failed_starts_within_a_minute_back_off_and_answer_crash_loop() {
    let mut s = setup(100, |c| c.max_instances = 1);
    s.fake.crash_starts("rules", Some(7));
    for _ in 0..3 {
        let e = s.pool.acquire(soon()).await.expect_err("the start fails");
        assert!(matches!(e, PoolError::Start(_)), "{e:?}");
    }
    let Err(PoolError::CrashLoop { retry_after }) = s.pool.acquire(soon()).await else {
        panic!("no crash loop");
    };
    assert_eq!(retry_after, Duration::from_secs(1), "the first back-off");
    assert_eq!(s.fake.starts(), 3, "no start while backing off");
    assert!(s.pool.crash_looping());
    let mut looped = false;
    while let Ok(e) = s.events.try_recv() {
        looped |= matches!(
            e,
            RuntimeEvent::Failed {
                crash_loop: true,
                ..
            }
        );
    }
    assert!(looped, "the record learns of the loop");

    // The back-off passes, the code is fixed: the next start works and ends the loop.
    tokio::time::sleep(retry_after).await;
    s.fake.crash_starts("rules", None);
    let lease = s
        .pool
        .acquire(soon())
        .await
        .expect("a start after the back-off");
    assert!(lease.cold());
    assert!(!s.pool.crash_looping());
}

#[tokio::test(start_paused = true)]
async fn idle_instances_stop_down_to_min_and_min_is_kept() {
    let s = setup(100, |c| {
        c.concurrency = 1;
        c.min_instances = 1;
        c.idle_timeout_s = 60;
    });
    let a = s.pool.acquire(soon()).await.expect("a slot");
    let b = s.pool.acquire(soon()).await.expect("a slot");
    drop((a, b));
    assert_eq!(s.pool.counts().ready, 2);
    tokio::time::sleep(Duration::from_secs(30)).await;
    s.pool.scale_tick(Instant::now());
    assert_eq!(s.pool.counts().ready, 2, "not idle long enough");
    tokio::time::sleep(Duration::from_secs(31)).await;
    s.pool.scale_tick(Instant::now());
    assert_eq!(s.pool.counts().ready, 1, "down to min_instances");
    tokio::time::sleep(Duration::from_secs(120)).await;
    s.pool.scale_tick(Instant::now());
    assert_eq!(s.pool.counts().ready, 1, "min_instances stays");
}

#[tokio::test(start_paused = true)]
async fn min_instances_are_started_by_the_scaler() {
    let s = setup(100, |c| c.min_instances = 2);
    s.pool.scale_tick(Instant::now());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(s.pool.counts().ready, 2);
    assert_eq!(s.fake.starts(), 2);
}
