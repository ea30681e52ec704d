//! Warm instances of one revision: acquire a slot on an instance, release it, start instances
//! on demand (one start per `concurrency` waiting calls, so a burst causes one cold start, not
//! one per request), drain on redeploy.
//!
//! All bookkeeping sits behind one `std::sync::Mutex` per revision, held only for a few field
//! updates and never across an `.await`; slow work (starting, removing) runs in spawned tasks.

mod crash;
mod jobs;
mod lease;
mod lifecycle;
pub mod registry;
pub mod scaler;
mod start;
pub mod supervisor;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use std::sync::atomic::AtomicUsize;

use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use tokio::time::Instant;

pub use lease::Lease;
pub use start::{OnFailure, START_LOG_LINES, StartError, output_tail, start_instance};

use crate::builder::Images;
use crate::executor::{Executor, Instance, InstanceSpec};
use crate::invoker::HttpClient;
use crate::metrics::Metrics;
use crate::model::{CallbackSpec, InstanceState, InstanceView, LastError};
use crash::CrashTracker;

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
    /// Repeated crashes: starts are backing off.
    #[error("the callback keeps crashing; starts are backing off")]
    CrashLoop { retry_after: Duration },
    #[error(transparent)]
    Start(#[from] StartError),
}

/// What a pool reports for the callback's record (its state and `last_error`).
#[derive(Debug, Clone)]
pub enum PoolEvent {
    /// An instance failed to start or died.
    Failed {
        path: String,
        revision: u64,
        error: LastError,
        crash_loop: bool,
    },
    /// An instance started after a crash loop: the loop is over.
    Recovered { path: String, revision: u64 },
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
    /// To rebuild an image removed behind the gateway's back.
    pub images: Images,
    /// Failures and recoveries, for the callback's record.
    pub events: mpsc::UnboundedSender<PoolEvent>,
    pub metrics: Arc<Metrics>,
}

/// How many instances of a pool stand where, and how many calls wait.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolCounts {
    pub starting: u32,
    pub ready: u32,
    pub draining: u32,
    pub queued: usize,
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
    crash: CrashTracker,
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
    /// Job mode: one permit per job that may run at once.
    jobs: Arc<Semaphore>,
    /// Job mode: calls waiting for a permit.
    job_waiting: AtomicUsize,
}

impl Pool {
    /// An empty pool for `revision` of `spec`.
    pub fn new(spec: CallbackSpec, revision: u64, image: String, deps: PoolDeps) -> Arc<Self> {
        let max = spec.max_instances as usize;
        Arc::new(Pool {
            jobs: Arc::new(Semaphore::new(max)),
            job_waiting: AtomicUsize::new(0),
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
            if st.starting == 0
                && let Some(retry_after) = st.crash.retry_after(Instant::now())
            {
                return Err(PoolError::CrashLoop { retry_after });
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
        let may_start = st.crash.may_start(Instant::now());
        if may_start && live < self.spec.max_instances && st.waiters.len() > covered {
            st.starting += 1;
            let pool = Arc::clone(self);
            tokio::spawn(async move { pool.start_one(true).await });
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

    /// Instances by state and queued calls (job mode: running jobs count as ready).
    pub fn counts(&self) -> PoolCounts {
        let st = self.lock();
        let state = |want| st.slots.iter().filter(|s| s.state == want).count() as u32;
        let running_jobs = self.spec.max_instances as usize - self.jobs.available_permits();
        PoolCounts {
            starting: st.starting,
            ready: state(InstanceState::Ready) + running_jobs as u32,
            draining: state(InstanceState::Draining),
            queued: st.waiters.iter().filter(|w| !w.is_closed()).count()
                + self.job_waiting.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// The backend this revision runs on.
    pub fn executor(&self) -> &Arc<dyn Executor> {
        &self.deps.executor
    }

    /// Whether the revision is in a crash loop.
    pub fn crash_looping(&self) -> bool {
        self.lock().crash.looping()
    }

    /// Ids of the instances in service.
    pub fn instance_ids(&self) -> Vec<String> {
        self.lock()
            .slots
            .iter()
            .map(|s| s.instance.id.clone())
            .collect()
    }
}
