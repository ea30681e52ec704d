//! Instances arriving: starts for waiting calls or `min_instances`, the deploy's first ones,
//! and those taken over after a gateway restart.

use std::sync::Arc;

use tokio::time::Instant;

use super::{Pool, PoolError, Slot, SlotState};
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
        if matches!(result, Ok(Started::Ready(_))) && for_calls {
            let seconds = started.elapsed().as_secs_f64();
            self.launcher.metrics().cold_start(&self.spec.path, seconds);
        }
        let mut st = self.lock();
        st.starting -= 1;
        let e = match result {
            Ok(Started::Ready(instance)) => {
                tracing::info!(callback.path = %self.spec.path, instance.id = %instance.id, "instance ready");
                if st.draining {
                    drop(st);
                    self.remove_in_background(instance.id);
                    return;
                }
                if st.crash.started() {
                    self.report_recovered();
                }
                self.add_slot(&mut st, instance, true);
                return;
            }
            Ok(Started::Restarting(instance, e)) => {
                let mut slot = Slot::new(instance, SlotState::Restarting);
                if let StartError::Exited { exit, .. } = &e {
                    slot.exits = exit.restarts + 1;
                    slot.restarts = exit.restarts + 1;
                }
                st.slots.push(slot);
                e
            }
            Err(e) => e,
        };
        tracing::warn!(callback.path = %self.spec.path, error = %e, "instance failed to start");
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
                Ok(Started::Ready(instance)) => self.add_slot(&mut self.lock(), instance, false),
                // Never with `OnFailure::Remove`; an instance is an instance all the same.
                Ok(Started::Restarting(instance, e)) => {
                    self.lock()
                        .slots
                        .push(Slot::new(instance, SlotState::Restarting));
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
        self.add_slot(&mut self.lock(), instance, false);
    }

    /// Takes over an instance found between two in-place restarts.
    pub fn adopt_restarting(&self, instance: Instance) {
        self.lock()
            .slots
            .push(Slot::new(instance, SlotState::Restarting));
    }
}
