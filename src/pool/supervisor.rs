//! Watches the backend for instance deaths so they are known the moment they happen, not on
//! the next call; resynchronises after the backend comes back; removes exited instances once
//! their logs are old.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::registry::Registry;
use crate::executor::{Executor, ExecutorError, InstanceExit, InstanceStatus};

/// How long an exited instance is kept so a crash's output can be read.
pub const KEEP_EXITED: Duration = Duration::from_secs(600);
const MAX_RETRY: Duration = Duration::from_secs(5);

/// Runs until `cancel`: the death watch (reconnecting with back-off) and the janitor.
pub async fn run(executor: Arc<dyn Executor>, registry: Arc<Registry>, cancel: CancellationToken) {
    let (tx, mut rx) = mpsc::channel::<InstanceExit>(256);
    let consumer = {
        let registry = Arc::clone(&registry);
        tokio::spawn(async move {
            while let Some(exit) = rx.recv().await {
                died(&registry, &exit);
            }
        })
    };
    let mut retry = Duration::from_millis(250);
    let mut janitor = tokio::time::interval(Duration::from_secs(30));
    loop {
        let watch = async {
            resync(executor.as_ref(), &registry).await?;
            retry = Duration::from_millis(250);
            executor.watch(tx.clone()).await
        };
        tokio::select! {
            () = cancel.cancelled() => break,
            result = watch => {
                if let Err(e) = result {
                    tracing::warn!(error = %e, retry_ms = retry.as_millis() as u64, "instance watch interrupted");
                }
            }
            _ = janitor.tick() => {
                if let Err(e) = sweep(executor.as_ref()).await {
                    tracing::debug!(error = %e, "sweep skipped");
                }
                continue;
            }
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(retry) => {}
        }
        retry = (retry * 2).min(MAX_RETRY);
    }
    drop(tx);
    consumer.abort();
}

/// Routes a death to the pool that holds the instance (if any still does).
fn died(registry: &Registry, exit: &InstanceExit) {
    for pool in registry.pools() {
        if pool.instance_died(exit) {
            return;
        }
    }
}

/// Compares what the pools hold with what runs: instances that died while the watch was
/// down are taken out of service now.
async fn resync(executor: &dyn Executor, registry: &Registry) -> Result<(), ExecutorError> {
    let observed: HashMap<String, bool> = executor
        .list()
        .await?
        .into_iter()
        .map(|o| (o.instance.id, o.running))
        .collect();
    for pool in registry.pools() {
        for id in pool.instance_ids() {
            if observed.get(&id) == Some(&true) {
                continue;
            }
            let (exit_code, oom_killed) = match executor.status(&id).await? {
                InstanceStatus::Exited {
                    exit_code,
                    oom_killed,
                } => (exit_code, oom_killed),
                InstanceStatus::Running => continue,
                InstanceStatus::Gone => (-1, false),
            };
            pool.instance_died(&InstanceExit {
                id,
                exit_code,
                oom_killed,
            });
        }
    }
    Ok(())
}

/// Removes exited instances whose output is older than [`KEEP_EXITED`].
async fn sweep(executor: &dyn Executor) -> Result<(), ExecutorError> {
    let now = Utc::now();
    for o in executor.list().await? {
        let old = o
            .finished_at
            .is_some_and(|t| (now - t).to_std().unwrap_or_default() > KEEP_EXITED);
        if !o.running && old {
            executor.remove(&o.instance.id).await?;
        }
    }
    Ok(())
}
