//! Warm instances of one revision: acquire a slot on an instance, release it, start instances
//! on demand (one start per `concurrency` waiting calls, so a burst causes one cold start, not
//! one per request), drain on redeploy.
//!
//! All bookkeeping sits behind one `std::sync::Mutex` per revision, held only for a few field
//! updates and never across an `.await`; slow work (starting, removing) runs in spawned tasks.

mod lease;
pub mod registry;
pub mod scaler;
mod start;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

pub use lease::Lease;
pub use start::{START_LOG_LINES, StartError, output_tail, start_instance};

use crate::executor::{Executor, Instance, InstanceSpec};
use crate::invoker::HttpClient;
use crate::model::{CallbackSpec, InstanceState, InstanceView};

/// Why no instance slot could be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PoolError {
    #[error("the queue of this callback is full")]
    QueueFull,
    #[error("no instance became free before the deadline")]
    Timeout,
    /// The revision is being replaced; the caller retries on the current one.
    #[error("the revision is draining")]
    Draining,
    #[error(transparent)]
    Start(#[from] StartError),
}

/// Limits shared by every pool.
#[derive(Debug, Clone, Copy)]
pub struct PoolLimits {
    pub queue_len: usize,
    pub startup_timeout: Duration,
}

/// What a pool needs from the outside.
#[derive(Clone)]
pub struct PoolDeps {
    pub executor: Arc<dyn Executor>,
    pub client: HttpClient,
    pub limits: PoolLimits,
}

struct Slot {
    instance: Instance,
    state: InstanceState,
    in_flight: u32,
    last_used: Instant,
    restarts: u32,
}

type Waiter = oneshot::Sender<Result<Lease, PoolError>>;

#[derive(Default)]
struct PoolState {
    slots: Vec<Slot>,
    starting: u32,
    waiters: VecDeque<Waiter>,
    draining: bool,
}

/// The instances of one revision of one callback.
pub struct Pool {
    pub spec: Arc<CallbackSpec>,
    pub revision: u64,
    pub image: String,
    deps: PoolDeps,
    state: Mutex<PoolState>,
    /// Signalled whenever a slot is released, for drains.
    released: Notify,
}

impl Pool {
    /// An empty pool for `revision` of `spec`.
    pub fn new(spec: CallbackSpec, revision: u64, image: String, deps: PoolDeps) -> Arc<Self> {
        Arc::new(Pool {
            spec: Arc::new(spec),
            revision,
            image,
            deps,
            state: Mutex::new(PoolState::default()),
            released: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // Every critical section leaves the state consistent before anything can panic.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The environment and limits an instance of this revision starts with.
    pub fn instance_spec(&self) -> InstanceSpec {
        let s = &self.spec;
        let mut env = s.env.clone();
        for (k, v) in [
            ("PORT", "8080".to_owned()),
            ("FAAS_HANDLER", s.handler.clone()),
            ("FAAS_FUNCTION", s.path.clone()),
            ("FAAS_REVISION", self.revision.to_string()),
            ("FAAS_MEMORY_MB", s.memory_mb.to_string()),
            ("FAAS_TIMEOUT_MS", s.timeout_ms.to_string()),
            ("FAAS_CONCURRENCY", s.concurrency.to_string()),
            ("FAAS_MODE", s.mode.as_str().to_owned()),
        ] {
            env.insert(k.to_owned(), v);
        }
        InstanceSpec {
            callback: s.path.clone(),
            revision: self.revision,
            image: self.image.clone(),
            env,
            memory_mb: s.memory_mb,
            cpu: s.cpu,
        }
    }

    /// Takes a slot on a ready instance, waiting in the queue (and starting an instance when
    /// below `max_instances`) until `deadline`.
    pub async fn acquire(self: &Arc<Self>, deadline: Instant) -> Result<Lease, PoolError> {
        let rx = {
            let mut st = self.lock();
            if st.draining {
                return Err(PoolError::Draining);
            }
            if let Some(i) = self.pick(&st) {
                return Ok(self.lease(&mut st, i, false));
            }
            st.waiters.retain(|w| !w.is_closed());
            if st.waiters.len() >= self.deps.limits.queue_len {
                return Err(PoolError::QueueFull);
            }
            let (tx, rx) = oneshot::channel();
            st.waiters.push_back(tx);
            self.scale_up(&mut st);
            rx
        };
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(result)) => result,
            // The pool was dropped with us in its queue: it is gone, so is its revision.
            Ok(Err(_)) => Err(PoolError::Draining),
            Err(_) => Err(PoolError::Timeout),
        }
    }

    /// The ready instance with the fewest calls in flight and room for one more; ties go to
    /// the oldest, so light traffic stays on one instance and the rest can scale to zero.
    fn pick(&self, st: &PoolState) -> Option<usize> {
        st.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.state == InstanceState::Ready && s.in_flight < self.spec.concurrency)
            .min_by_key(|(i, s)| (s.in_flight, *i))
            .map(|(i, _)| i)
    }

    fn lease(self: &Arc<Self>, st: &mut PoolState, i: usize, cold: bool) -> Lease {
        let slot = &mut st.slots[i];
        slot.in_flight += 1;
        Lease::new(Arc::clone(self), &slot.instance, cold)
    }

    /// Starts one instance per `concurrency` queued calls not yet covered by a start.
    fn scale_up(self: &Arc<Self>, st: &mut PoolState) {
        let live = st.slots.len() as u32 + st.starting;
        let covered = st.starting as usize * self.spec.concurrency as usize;
        if live < self.spec.max_instances && st.waiters.len() > covered {
            st.starting += 1;
            let pool = Arc::clone(self);
            tokio::spawn(async move { pool.start_one().await });
        }
    }

    async fn start_one(self: Arc<Self>) {
        let spec = self.instance_spec();
        let d = &self.deps;
        let result = start_instance(
            d.executor.as_ref(),
            &d.client,
            &spec,
            d.limits.startup_timeout,
        )
        .await;
        let mut st = self.lock();
        st.starting -= 1;
        match result {
            Ok(instance) => {
                tracing::info!(callback.path = %self.spec.path, instance.id = %instance.id, "instance ready");
                self.add_slot(&mut st, instance, true);
            }
            Err(e) => {
                tracing::warn!(callback.path = %self.spec.path, error = %e, "instance failed to start");
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

    /// Adds a ready instance and hands it to queued calls.
    fn add_slot(self: &Arc<Self>, st: &mut PoolState, instance: Instance, cold: bool) {
        st.slots.push(Slot {
            instance,
            state: InstanceState::Ready,
            in_flight: 0,
            last_used: Instant::now(),
            restarts: 0,
        });
        let i = st.slots.len() - 1;
        self.hand_off(st, i, cold);
    }

    /// Gives slot `i`'s free capacity to the calls at the head of the queue.
    fn hand_off(self: &Arc<Self>, st: &mut PoolState, i: usize, cold: bool) {
        while st.slots[i].in_flight < self.spec.concurrency {
            let Some(waiter) = st.waiters.pop_front() else {
                break;
            };
            if waiter.is_closed() {
                continue;
            }
            let lease = self.lease(st, i, cold);
            if let Err(Ok(lease)) = waiter.send(Ok(lease)) {
                // The caller gave up in between: undo without re-entering the lock.
                lease.disarm();
                st.slots[i].in_flight -= 1;
            }
        }
    }

    /// Returns a slot (called by [`Lease`]'s drop).
    fn release(self: &Arc<Self>, id: &str) {
        let mut st = self.lock();
        if let Some(i) = st.slots.iter().position(|s| s.instance.id == id) {
            let slot = &mut st.slots[i];
            slot.in_flight = slot.in_flight.saturating_sub(1);
            slot.last_used = Instant::now();
            if slot.state == InstanceState::Ready {
                self.hand_off(&mut st, i, false);
            }
        }
        drop(st);
        self.released.notify_waiters();
    }

    /// Takes an instance out of service (it died or is wedged) and removes it; queued calls
    /// get a replacement when below `max_instances`.
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
        self.remove_in_background(id.to_owned());
    }

    fn remove_in_background(&self, id: String) {
        let executor = Arc::clone(&self.deps.executor);
        tokio::spawn(async move {
            if let Err(e) = executor.remove(&id).await {
                tracing::warn!(instance.id = %id, error = %e, "cannot remove an instance");
            }
        });
    }

    /// Starts `n` instances at once and waits until all are ready (a deploy).
    pub async fn start_initial(self: &Arc<Self>, n: u32) -> Result<(), StartError> {
        let spec = self.instance_spec();
        let d = &self.deps;
        let starts = (0..n.max(1)).map(|_| {
            start_instance(
                d.executor.as_ref(),
                &d.client,
                &spec,
                d.limits.startup_timeout,
            )
        });
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

    /// Takes over instances found running with this revision's labels.
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

    /// The instances as the API shows them.
    pub fn instances(&self) -> Vec<InstanceView> {
        self.lock()
            .slots
            .iter()
            .map(|s| InstanceView {
                id: s.instance.id.chars().take(12).collect(),
                state: s.state,
                started_at: s.instance.started_at,
                in_flight: s.in_flight,
                restarts: s.restarts,
            })
            .collect()
    }

    /// Ids of the instances, for logs.
    pub fn instance_ids(&self) -> Vec<String> {
        self.lock()
            .slots
            .iter()
            .map(|s| s.instance.id.clone())
            .collect()
    }
}
