//! What happens to instances once started: deaths, in-place restarts and their back-offs,
//! instances ready again, wedged ones evicted — and the failure accounting that drives crash
//! loops and `last_error`.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{Pool, PoolError, PoolState, SlotState, Waited};
use crate::executor::{Exit, InstanceEvent};
use crate::launcher::{DiedError, Failure, RuntimeEvent, death};

impl Pool {
    /// Calls wait for a start; when none is under way and nothing serves, they fail now with
    /// the cause (the start they waited for died) rather than at their deadline.
    pub(super) fn fail_waiters_if_hopeless(
        &self,
        st: &mut PoolState,
        cause: impl Fn() -> PoolError,
    ) {
        if st.starting > 0 || st.slots.iter().any(|s| s.state == SlotState::Ready) {
            return;
        }
        for w in st.waiters.drain(..) {
            let _ = w.send(Err(cause()));
        }
    }

    /// Records a failure: crashes count toward a crash loop; every failure is reported for
    /// the callback's `last_error` (none for an unreachable backend: that is no failure of
    /// the function).
    pub(super) fn failed(&self, st: &mut PoolState, failure: Option<Failure>) {
        let Some(failure) = failure else { return };
        let crash_loop = if failure.crash {
            st.crash.failure(Instant::now())
        } else {
            st.crash.looping()
        };
        self.launcher.report(RuntimeEvent::Failed {
            path: self.spec.path.clone(),
            revision: self.revision,
            error: failure.error,
            instance: failure.instance,
            crash_loop,
        });
    }

    /// What the backend reports of an instance. Returns whether this pool holds it.
    pub fn instance_event(self: &Arc<Self>, event: &InstanceEvent) -> bool {
        match event {
            InstanceEvent::Exited { id, exit } => self.instance_exited(id, exit),
            InstanceEvent::BackingOff { id, retry_after } => self.backing_off(id, *retry_after),
            InstanceEvent::Ready { id } => self.ready_again(id),
        }
    }

    /// An instance stopped (reported by the backend's events or found by a broken call).
    /// Returns whether this pool holds it; an exit already counted is no news.
    pub fn instance_exited(self: &Arc<Self>, id: &str, exit: &Exit) -> bool {
        let mut st = self.lock();
        let Some(i) = st.slot_of(id) else {
            return false;
        };
        if matches!(st.slots[i].state, SlotState::Paused { .. }) {
            // Frozen, it ran no code: something outside removed or killed it. It is simply
            // gone (SPEC 2.1); the next call cold-starts.
            st.slots.remove(i);
            tracing::info!(callback.path = %self.spec.path, instance.id = %id, "paused instance gone");
            return true;
        }
        if exit.restarting {
            let slot = &mut st.slots[i];
            if slot.exits > exit.restarts {
                return true;
            }
            slot.exits = exit.restarts + 1;
            slot.restarts = exit.restarts + 1;
            if slot.state != SlotState::Draining {
                slot.state = SlotState::Restarting;
            }
        } else {
            st.slots.remove(i);
        }
        tracing::warn!(callback.path = %self.spec.path, instance.id = %id, exit_code = exit.exit_code, oom_killed = exit.oom_killed, restarting = exit.restarting, "instance died");
        let failure = death(&self.spec.path, self.spec.memory_mb, id, exit);
        let cause = failure.error.clone();
        self.failed(&mut st, Some(failure));
        if !st.draining && !exit.restarting {
            self.scale_up(&mut st);
        }
        let exit = *exit;
        self.fail_waiters_if_hopeless(&mut st, move || {
            PoolError::Died(DiedError {
                exit,
                message: cause.message.clone(),
            })
        });
        // An exited container stays (not removed) so its output can be read in the logs.
        true
    }

    /// The backend backs off the restarts of a crashing instance: the revision is in a crash
    /// loop until the instance is ready again.
    fn backing_off(self: &Arc<Self>, id: &str, retry_after: Duration) -> bool {
        let mut st = self.lock();
        let now = Instant::now();
        let Some(slot) = st.slots.iter_mut().find(|s| s.instance.id == id) else {
            return false;
        };
        if slot.state != SlotState::Draining {
            slot.state = SlotState::Restarting;
        }
        slot.back_off_until = Some(now + retry_after);
        if !st.crash.backing_off() {
            self.launcher.report(RuntimeEvent::CrashLoop {
                path: self.spec.path.clone(),
                revision: self.revision,
            });
        }
        self.fail_waiters_if_hopeless(&mut st, || PoolError::CrashLoop { retry_after });
        true
    }

    /// An instance restarted in place serves again: a successful start.
    fn ready_again(self: &Arc<Self>, id: &str) -> bool {
        let mut st = self.lock();
        let Some(i) = st.slot_of(id) else {
            return false;
        };
        if st.slots[i].state != SlotState::Restarting {
            return true;
        }
        tracing::info!(callback.path = %self.spec.path, instance.id = %id, "instance ready again after a restart");
        let slot = &mut st.slots[i];
        slot.state = SlotState::Ready;
        slot.back_off_until = None;
        slot.last_used = Instant::now();
        if st.crash.started() {
            self.report_recovered();
        }
        self.hand_off(&mut st, i, Waited::Start);
        true
    }

    /// Takes a wedged instance (past its deadline) out of service and kills it; it is kept
    /// for its logs. Queued calls get a replacement when below `max_instances`.
    pub fn evict(self: &Arc<Self>, id: &str) {
        let mut st = self.lock();
        let Some(i) = st.slot_of(id) else {
            return;
        };
        st.slots.remove(i);
        if !st.draining {
            self.scale_up(&mut st);
        }
        drop(st);
        let executor = Arc::clone(self.executor());
        let id = id.to_owned();
        self.launcher.spawn(async move {
            if let Err(e) = executor.stop(&id).await {
                tracing::warn!(instance.id = %id, error = %e, "cannot stop a wedged instance");
            }
        });
    }
}
