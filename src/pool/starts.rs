//! Instances arriving: starts for waiting calls or `min_instances`, the deploy's first ones,
//! and those taken over after a gateway restart.

use std::sync::Arc;

use tokio::time::Instant;

use super::{Pool, PoolError, Slot, SlotState, Waited};
use crate::executor::Instance;
use crate::launcher::{OnFailure, RuntimeEvent, StartError, Started, start_failure};

impl Pool {
    /// A start on behalf of queued calls (`for_calls`: a cold start) or to reach
    /// `min_instances`.
    pub(super) async fn start_one(self: Arc<Self>, for_calls: bool) {
        let started = Instant::now();
        let result = self
            .launcher
            .launch(self.target(), OnFailure::KeepExited)
            .await;
        if matches!(result, Ok(Started::Ready(..))) && for_calls {
            let seconds = started.elapsed().as_secs_f64();
            self.launcher.metrics().cold_start(&self.spec.path, seconds);
        }
        let mut st = self.lock();
        st.starting -= 1;
        let e = match result {
            Ok(Started::Ready(instance, admission)) => {
                tracing::info!(callback.path = %self.spec.path, instance.id = %instance.id, "instance ready");
                if st.draining {
                    drop(st);
                    self.remove_in_background(instance.id);
                    return;
                }
                if st.crash.started() {
                    self.report_recovered();
                }
                self.add_slot(&mut st, (instance, admission), Waited::Start);
                return;
            }
            Ok(Started::Restarting(instance, e, admission)) => {
                let mut slot = Slot::new(instance, SlotState::Restarting, admission);
                if let StartError::Exited { exit, .. } = &e {
                    slot.exits = exit.restarts + 1;
                    slot.restarts = exit.restarts + 1;
                }
                st.slots.push(slot);
                e
            }
            Err(e) => e,
        };
        if let StartError::Quota(q) = &e {
            // Asked again at each scale-up or top-up while the namespace is full: no warning.
            tracing::debug!(callback.path = %self.spec.path, error = %q, "instance not started: quota");
        } else {
            tracing::warn!(callback.path = %self.spec.path, error = %e, "instance failed to start");
        }
        let failure = start_failure(&self.spec.path, self.spec.memory_mb, &e);
        self.failed(&mut st, failure);
        self.fail_waiters_if_hopeless(&mut st, || PoolError::Start(e.clone()));
    }

    pub(super) fn report_recovered(&self) {
        self.launcher.report(RuntimeEvent::Recovered {
            path: self.spec.path.clone(),
            revision: self.revision,
        });
    }

    /// Starts `n` instances at once and waits until all are ready (a deploy).
    pub async fn start_initial(self: &Arc<Self>, n: u32) -> Result<(), StartError> {
        let starts = (0..n.max(1)).map(|_| self.launcher.launch(self.target(), OnFailure::Remove));
        let mut first_error = None;
        for result in futures::future::join_all(starts).await {
            match result {
                Ok(Started::Ready(instance, admission)) => {
                    self.add_slot(&mut self.lock(), (instance, admission), Waited::Nothing);
                }
                // Never with `OnFailure::Remove`; an instance is an instance all the same.
                Ok(Started::Restarting(instance, e, admission)) => {
                    self.lock()
                        .slots
                        .push(Slot::new(instance, SlotState::Restarting, admission));
                    first_error.get_or_insert(e);
                }
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
        let admission = self.launcher.count(&self.spec);
        self.add_slot(&mut self.lock(), (instance, admission), Waited::Nothing);
    }

    /// Takes over an instance found paused (its idle clock starts again now).
    pub fn adopt_paused(&self, instance: Instance) {
        self.lock().slots.push(Slot::new(
            instance,
            SlotState::Paused {
                since: Instant::now(),
            },
            self.launcher.count(&self.spec),
        ));
    }

    /// Thaws a paused instance for waiting calls; one that does not come back is removed and
    /// the calls get a cold start instead.
    pub(super) async fn resume_one(self: Arc<Self>, instance: Instance) {
        let started = Instant::now();
        let resumed = self.launcher.resume(&instance).await;
        let mut st = self.lock();
        let Some(i) = st.slot_in(&instance.id, SlotState::Resuming) else {
            return;
        };
        match resumed {
            Ok(()) => {
                let seconds = started.elapsed().as_secs_f64();
                self.launcher.metrics().resume(&self.spec.path, seconds);
                tracing::info!(callback.path = %self.spec.path, instance.id = %instance.id, duration_ms = seconds * 1000.0, "instance resumed");
                let slot = &mut st.slots[i];
                slot.state = SlotState::Ready;
                slot.last_used = Instant::now();
                self.hand_off(&mut st, i, Waited::Resume);
            }
            Err(e) => {
                tracing::warn!(callback.path = %self.spec.path, instance.id = %instance.id, error = %e, "a paused instance did not resume; starting another");
                st.slots.remove(i);
                if !st.draining {
                    self.scale_up(&mut st);
                }
                drop(st);
                self.remove_in_background(instance.id);
            }
        }
    }

    /// Takes over an instance found between two in-place restarts.
    pub fn adopt_restarting(&self, instance: Instance) {
        let admission = self.launcher.count(&self.spec);
        self.lock()
            .slots
            .push(Slot::new(instance, SlotState::Restarting, admission));
    }
}
