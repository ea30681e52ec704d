//! Instances leaving: a drained revision (calls in flight finish first), and removals.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{Pool, PoolError, SlotState};

impl Pool {
    /// Stops taking calls: queued ones retry on the new revision, calls in flight finish (up to
    /// `grace`), then every instance is removed.
    pub async fn drain(self: &Arc<Self>, grace: Duration) {
        {
            let mut st = self.lock();
            st.draining = true;
            for slot in &mut st.slots {
                slot.state = SlotState::Draining;
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
        let executor = self.executor();
        for r in futures::future::join_all(ids.iter().map(|id| executor.remove(id))).await {
            if let Err(e) = r {
                tracing::warn!(callback.path = %self.spec.path, error = %e, "cannot remove an instance");
            }
        }
    }

    pub(super) fn remove_in_background(&self, id: String) {
        let executor = Arc::clone(self.executor());
        self.launcher.spawn(async move {
            if let Err(e) = executor.remove(&id).await {
                tracing::warn!(instance.id = %id, error = %e, "cannot remove an instance");
            }
        });
    }
}
