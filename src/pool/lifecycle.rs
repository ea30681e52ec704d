//! Instances coming and going: starts (rebuilding a lost image first), deaths, evictions,
//! drains — and the failure accounting that drives crash loops and `last_error`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use super::{OnFailure, Pool, PoolError, PoolEvent, PoolState, StartError, start_instance};
use crate::executor::{ExecutorError, Instance, InstanceExit};
use crate::model::{ErrorCode, InstanceState, LastError};

impl Pool {
    /// Starts one instance, rebuilding the revision's image from its stored definition when
    /// it has gone missing.
    pub(super) async fn launch(&self, on_failure: OnFailure) -> Result<Instance, StartError> {
        let spec = self.instance_spec();
        let d = &self.deps;
        let timeout = d.limits.startup_timeout;
        let start = || start_instance(d.executor.as_ref(), &d.client, &spec, timeout, on_failure);
        match start().await {
            Err(StartError::Backend(ExecutorError::ImageMissing { image })) => {
                d.images.rebuild(&self.spec, &image).await.map_err(|e| {
                    StartError::ImageUnavailable {
                        image: image.clone(),
                        reason: e.to_string(),
                    }
                })?;
                start().await
            }
            other => other,
        }
    }

    /// A start on behalf of queued calls (`for_calls`: a cold start) or to reach
    /// `min_instances`.
    pub(super) async fn start_one(self: Arc<Self>, for_calls: bool) {
        let started = Instant::now();
        let result = self.launch(OnFailure::KeepExited).await;
        if result.is_ok() && for_calls {
            let seconds = started.elapsed().as_secs_f64();
            self.deps.metrics.cold_start(&self.spec.path, seconds);
        }
        let mut st = self.lock();
        st.starting -= 1;
        match result {
            Ok(instance) => {
                tracing::info!(callback.path = %self.spec.path, instance.id = %instance.id, "instance ready");
                if st.draining {
                    drop(st);
                    self.remove_in_background(instance.id);
                    return;
                }
                if st.crash.started() {
                    self.report(PoolEvent::Recovered {
                        path: self.spec.path.clone(),
                        revision: self.revision,
                    });
                }
                self.add_slot(&mut st, instance, true);
            }
            Err(e) => {
                tracing::warn!(callback.path = %self.spec.path, error = %e, "instance failed to start");
                self.failed(
                    &mut st,
                    start_failure(&self.spec.path, self.spec.memory_mb, &e),
                );
                // Calls wait for a start; when none is left and nothing serves, they fail now
                // with the cause rather than at their deadline.
                if st.starting == 0 && !st.slots.iter().any(|s| s.state == InstanceState::Ready) {
                    for w in st.waiters.drain(..) {
                        let _ = w.send(Err(PoolError::Start(e.clone())));
                    }
                }
            }
        }
    }

    /// Counts a failure (not for an unreachable backend: that is no crash) and reports it.
    fn failed(&self, st: &mut PoolState, error: Option<LastError>) {
        let Some(error) = error else { return };
        let crash_loop = st.crash.failure(Instant::now());
        self.report(PoolEvent::Failed {
            path: self.spec.path.clone(),
            revision: self.revision,
            error,
            crash_loop,
        });
    }

    fn report(&self, event: PoolEvent) {
        // The receiver lives as long as the app; a closed channel means shutdown.
        let _ = self.deps.events.send(event);
    }

    /// An instance died (reported by the backend's events or found by a broken call). Returns
    /// whether it was still in service; one already taken out is no news.
    pub fn instance_died(self: &Arc<Self>, exit: &InstanceExit) -> bool {
        let mut st = self.lock();
        let Some(i) = st.slots.iter().position(|s| s.instance.id == exit.id) else {
            return false;
        };
        st.slots.remove(i);
        let (code, what) = if exit.oom_killed {
            (
                ErrorCode::FunctionOomKilled,
                format!(
                    "was killed for exceeding its memory limit of {} MB",
                    self.spec.memory_mb
                ),
            )
        } else {
            (
                ErrorCode::FunctionCrashed,
                format!("exited with code {}", exit.exit_code),
            )
        };
        tracing::warn!(callback.path = %self.spec.path, instance.id = %exit.id, exit_code = exit.exit_code, oom_killed = exit.oom_killed, "instance died");
        let error = LastError {
            code,
            message: format!("an instance of {} {what}", self.spec.path),
            at: Utc::now(),
        };
        self.failed(&mut st, Some(error));
        if !st.draining {
            self.scale_up(&mut st);
        }
        // The exited container stays (not removed) so its output can be read in the logs.
        true
    }

    /// Takes a wedged instance (past its deadline) out of service and kills it; it is kept
    /// for its logs. Queued calls get a replacement when below `max_instances`.
    pub fn evict(self: &Arc<Self>, id: &str) {
        let mut st = self.lock();
        let Some(i) = st.slots.iter().position(|s| s.instance.id == id) else {
            return;
        };
        st.slots.remove(i);
        if !st.draining {
            self.scale_up(&mut st);
        }
        drop(st);
        let executor = Arc::clone(&self.deps.executor);
        let id = id.to_owned();
        tokio::spawn(async move {
            if let Err(e) = executor.stop(&id).await {
                tracing::warn!(instance.id = %id, error = %e, "cannot stop a wedged instance");
            }
        });
    }

    pub(super) fn remove_in_background(&self, id: String) {
        let executor = Arc::clone(&self.deps.executor);
        tokio::spawn(async move {
            if let Err(e) = executor.remove(&id).await {
                tracing::warn!(instance.id = %id, error = %e, "cannot remove an instance");
            }
        });
    }

    /// Starts `n` instances at once and waits until all are ready (a deploy).
    pub async fn start_initial(self: &Arc<Self>, n: u32) -> Result<(), StartError> {
        let starts = (0..n.max(1)).map(|_| self.launch(OnFailure::Remove));
        let mut first_error = None;
        for result in futures::future::join_all(starts).await {
            match result {
                Ok(instance) => self.add_slot(&mut self.lock(), instance, false),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            None => Ok(()),
            Some(e) => {
                self.remove_all().await;
                Err(e)
            }
        }
    }

    /// Takes over an instance found running with this revision's labels.
    pub fn adopt(self: &Arc<Self>, instance: Instance) {
        self.add_slot(&mut self.lock(), instance, false);
    }

    /// Stops taking calls: queued ones retry on the new revision, calls in flight finish (up to
    /// `grace`), then every instance is removed.
    pub async fn drain(self: &Arc<Self>, grace: Duration) {
        {
            let mut st = self.lock();
            st.draining = true;
            for slot in &mut st.slots {
                slot.state = InstanceState::Draining;
            }
            for w in st.waiters.drain(..) {
                let _ = w.send(Err(PoolError::Draining));
            }
        }
        let deadline = Instant::now() + grace;
        loop {
            let notified = self.released.notified();
            if self.lock().slots.iter().all(|s| s.in_flight == 0) {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                tracing::warn!(callback.path = %self.spec.path, "drain grace expired with calls in flight");
                break;
            }
        }
        self.remove_all().await;
    }

    /// Removes every instance now.
    pub async fn remove_all(&self) {
        let ids: Vec<String> = {
            let mut st = self.lock();
            st.draining = true;
            st.slots.drain(..).map(|s| s.instance.id).collect()
        };
        let executor = &self.deps.executor;
        for r in futures::future::join_all(ids.iter().map(|id| executor.remove(id))).await {
            if let Err(e) = r {
                tracing::warn!(callback.path = %self.spec.path, error = %e, "cannot remove an instance");
            }
        }
    }
}

/// The `last_error` a failed start leaves; `None` when the backend, not the function, failed.
fn start_failure(path: &str, memory_mb: u32, e: &StartError) -> Option<LastError> {
    let (code, message) = match e {
        StartError::Exited {
            oom_killed: true, ..
        } => (
            ErrorCode::FunctionOomKilled,
            format!(
                "an instance of {path} was killed for exceeding its memory limit of {memory_mb} MB while starting"
            ),
        ),
        StartError::Exited { exit_code, .. } => (
            ErrorCode::FunctionCrashed,
            format!("an instance of {path} exited with code {exit_code} while starting"),
        ),
        StartError::Timeout { timeout_ms, .. } => (
            ErrorCode::StartupFailed,
            format!("an instance of {path} did not answer its health check within {timeout_ms} ms"),
        ),
        StartError::ImageUnavailable { image, reason } => (
            ErrorCode::ImagePullFailed,
            format!("image {image} of {path} is missing and rebuilding it failed: {reason}"),
        ),
        StartError::Backend(ExecutorError::ImagePull { image, message }) => (
            ErrorCode::ImagePullFailed,
            format!("image {image} of {path} cannot be pulled: {message}"),
        ),
        StartError::Backend(ExecutorError::Forbidden { verb, resource, .. }) => (
            ErrorCode::BackendForbidden,
            format!("Kubernetes does not allow the gateway to {verb} {resource} for {path}"),
        ),
        StartError::Backend(_) => return None,
    };
    Some(LastError {
        code,
        message,
        at: Utc::now(),
    })
}
