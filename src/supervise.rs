//! The loops that keep the pools true to the world: the death watch (instance events as they
//! happen, not on the next call; a resync after the backend comes back), the janitor that
//! removes exited instances once their logs are old, and the scaler applying
//! `pool::scaler::decide` every second.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use tokio::time::Instant;

use crate::executor::{Executor, ExecutorError, Exit, InstanceEvent, InstanceStatus};
use crate::routes::RouteTable;

/// How long an exited instance is kept so a crash's output can be read.
pub const KEEP_EXITED: Duration = Duration::from_secs(600);
const MAX_RETRY: Duration = Duration::from_secs(5);

/// Runs until `cancel`: the death watch (reconnecting with back-off) and the janitor.
pub async fn run(executor: Arc<dyn Executor>, routes: Arc<RouteTable>, cancel: CancellationToken) {
    let (tx, mut rx) = mpsc::channel::<InstanceEvent>(256);
    let on = On {
        executor: &executor,
        routes: &routes,
    };
    // Events are routed as they come, also while the watch reconnects, until shutdown (a
    // backend may keep a sender of its own, so the channel need not close).
    let routing = async {
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                event = rx.recv() => match event {
                    Some(event) => on.route(&event),
                    None => return,
                },
            }
        }
    };
    tokio::join!(routing, watch(on, tx, &cancel), janitor(on, &cancel));
}

/// One backend and the pools that run on it (pools of another backend are none of its
/// business: their instances are unknown to it).
#[derive(Clone, Copy)]
struct On<'a> {
    executor: &'a Arc<dyn Executor>,
    routes: &'a RouteTable,
}

impl On<'_> {
    fn pools(&self) -> Vec<Arc<crate::pool::Pool>> {
        let mine = Arc::as_ptr(self.executor);
        self.routes
            .pools()
            .into_iter()
            .filter(|p| std::ptr::addr_eq(Arc::as_ptr(p.executor()), mine))
            .collect()
    }

    /// Routes an event to the pool that holds the instance (if any still does).
    fn route(&self, event: &InstanceEvent) {
        for pool in self.pools() {
            if pool.instance_event(event) {
                return;
            }
        }
    }
}

/// Watches the backend, resynchronising first and again after each interruption.
async fn watch(on: On<'_>, tx: mpsc::Sender<InstanceEvent>, cancel: &CancellationToken) {
    let mut retry = Duration::from_millis(250);
    loop {
        let watched = async {
            resync(on).await?;
            retry = Duration::from_millis(250);
            on.executor.watch(tx.clone()).await
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            result = watched => {
                if let Err(e) = result {
                    tracing::warn!(error = %e, retry_ms = retry.as_millis() as u64, "instance watch interrupted");
                }
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(retry) => {}
        }
        retry = (retry * 2).min(MAX_RETRY);
    }
}

/// Every 30 s, removes exited instances whose logs are old.
async fn janitor(on: On<'_>, cancel: &CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = sweep(on).await {
            tracing::debug!(error = %e, "sweep skipped");
        }
    }
}

/// Compares what the pools hold with what runs: instances that died while the watch was
/// down are taken out of service now.
async fn resync(on: On<'_>) -> Result<(), ExecutorError> {
    let executor = on.executor.as_ref();
    let observed: HashMap<String, bool> = executor
        .list()
        .await?
        .into_iter()
        .map(|o| (o.instance.id, o.running))
        .collect();
    for pool in on.pools() {
        for id in pool.instance_ids() {
            if observed.get(&id) == Some(&true) {
                continue;
            }
            let exit = match executor.status(&id).await? {
                InstanceStatus::Exited(exit) => exit,
                InstanceStatus::Running | InstanceStatus::Restarted(_) => continue,
                InstanceStatus::Gone => Exit::for_good(-1, false),
            };
            pool.instance_exited(&id, &exit);
        }
    }
    Ok(())
}

/// Removes exited instances whose output is older than [`KEEP_EXITED`], unless a pool still
/// holds them (an instance being restarted in place).
async fn sweep(on: On<'_>) -> Result<(), ExecutorError> {
    let executor = on.executor.as_ref();
    let now = Utc::now();
    let held: std::collections::HashSet<String> =
        on.pools().iter().flat_map(|p| p.instance_ids()).collect();
    for o in executor.list().await? {
        let old = o
            .finished_at
            .is_some_and(|t| (now - t).to_std().unwrap_or_default() > KEEP_EXITED);
        if !o.running && old && !held.contains(&o.instance.id) {
            executor.remove(&o.instance.id).await?;
        }
    }
    Ok(())
}

/// Applies the scaler's decision to every serving pool each `period` until cancelled.
pub async fn scale(routes: Arc<RouteTable>, period: Duration, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        for pool in routes.pools() {
            pool.scale_tick(Instant::now());
        }
    }
}
