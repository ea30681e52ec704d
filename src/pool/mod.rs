//! Warm instances of one revision: acquire a slot on an instance, release it, start instances
//! on demand (one start per `concurrency` waiting calls, so a burst causes one cold start, not
//! one per request), drain on redeploy.
//!
//! All bookkeeping sits behind one `std::sync::Mutex` per revision, held only for a few field
//! updates and never across an `.await`; slow work (starting, removing) runs in spawned tasks.

mod crash;
mod drain;
mod events;
mod lease;
pub mod scaler;
mod starts;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

pub use lease::{Lease, Waited};

use crate::executor::{Executor, Instance, short_id};
use crate::launcher::{Admission, DiedError, Launcher, StartError, Target};
use crate::model::{CallbackSpec, InstanceState, InstanceView};
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
    /// The instance the call waited for died (it is being restarted, or replaced).
    #[error(transparent)]
    Died(#[from] DiedError),
}

/// How many instances of a pool stand where, and how many calls wait.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolCounts {
    pub starting: u32,
    pub ready: u32,
    pub draining: u32,
    pub paused: u32,
    pub queued: usize,
}

/// Where one instance stands, as the pool sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    /// Serving: calls are routed to it.
    Ready,
    /// Its process stopped and the backend restarts it in place (a pod's container): it
    /// takes no calls until it is ready again, and no other instance is started for it.
    Restarting,
    /// The revision is being replaced: it finishes its calls and goes.
    Draining,
    /// Being frozen after idling out as the last running instance.
    Pausing,
    /// Frozen (no CPU, memory kept) since then: the next call resumes it.
    Paused { since: Instant },
    /// Being thawed for waiting calls.
    Resuming,
}

impl SlotState {
    fn shown(self) -> InstanceState {
        match self {
            SlotState::Ready => InstanceState::Ready,
            SlotState::Restarting | SlotState::Resuming => InstanceState::Starting,
            SlotState::Draining => InstanceState::Draining,
            SlotState::Pausing | SlotState::Paused { .. } => InstanceState::Paused,
        }
    }

    /// Whether it is coming (back) into service by itself: calls wait for it rather than
    /// for a new instance. A pausing one is resumed as soon as its pause is done.
    fn on_its_way(self) -> bool {
        matches!(
            self,
            SlotState::Restarting | SlotState::Pausing | SlotState::Resuming
        )
    }
}

struct Slot {
    instance: Instance,
    state: SlotState,
    in_flight: u32,
    last_used: Instant,
    /// Times the backend restarted it in place.
    restarts: u32,
    /// Exits already counted (each exit of an instance restarting in place is reported by
    /// the backend's watch, and maybe by a broken call too: it counts once).
    exits: u32,
    /// When the backend's next restart comes, while it backs off (CrashLoopBackOff).
    back_off_until: Option<Instant>,
    /// Its room in its namespace's quota, given back when the slot goes.
    _admission: Admission,
}

impl Slot {
    fn new(instance: Instance, state: SlotState, admission: Admission) -> Self {
        Slot {
            instance,
            state,
            in_flight: 0,
            last_used: Instant::now(),
            restarts: 0,
            exits: 0,
            back_off_until: None,
            _admission: admission,
        }
    }
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

impl PoolState {
    /// The index of instance `id`'s slot.
    fn slot_of(&self, id: &str) -> Option<usize> {
        self.slots.iter().position(|s| s.instance.id == id)
    }

    /// The index of instance `id`'s slot while it is in `state`: a pause or resume that
    /// finishes after something else took the slot over changes nothing.
    fn slot_in(&self, id: &str, state: SlotState) -> Option<usize> {
        self.slot_of(id).filter(|&i| self.slots[i].state == state)
    }
}

/// The warm instances of one revision of one callback (`mode: service`).
pub struct Pool {
    pub spec: Arc<CallbackSpec>,
    pub revision: u64,
    pub image: String,
    launcher: Launcher,
    state: Mutex<PoolState>,
    /// Signalled whenever a slot is released, for drains.
    released: Notify,
}

impl Pool {
    /// An empty pool for `revision` of `spec`, starting its instances with `launcher`.
    pub fn new(
        spec: Arc<CallbackSpec>,
        revision: u64,
        image: String,
        launcher: Launcher,
    ) -> Arc<Self> {
        Arc::new(Pool {
            spec,
            revision,
            image,
            launcher,
            state: Mutex::new(PoolState::default()),
            released: Notify::new(),
        })
    }

    /// What its instances are made from.
    pub fn target(&self) -> Target<'_> {
        Target {
            spec: &self.spec,
            revision: self.revision,
            image: &self.image,
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // Every critical section leaves the state consistent before anything can panic.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
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
                return Ok(self.lease(&mut st, i, Waited::Nothing));
            }
            if let Some(retry_after) = crash_loop_retry(&st, Instant::now()) {
                return Err(PoolError::CrashLoop { retry_after });
            }
            st.waiters.retain(|w| !w.is_closed());
            if st.waiters.len() >= self.launcher.limits().queue_len {
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
            .filter(|(_, s)| s.state == SlotState::Ready && s.in_flight < self.spec.concurrency)
            .min_by_key(|(i, s)| (s.in_flight, *i))
            .map(|(i, _)| i)
    }

    fn lease(self: &Arc<Self>, st: &mut PoolState, i: usize, waited: Waited) -> Lease {
        let slot = &mut st.slots[i];
        slot.in_flight += 1;
        Lease::new(Arc::clone(self), &slot.instance, slot.restarts, waited)
    }

    /// Brings one instance per `concurrency` queued calls not yet covered by one on its way:
    /// a paused instance is resumed first (milliseconds); else a new one starts (a cold start).
    fn scale_up(self: &Arc<Self>, st: &mut PoolState) {
        let on_its_way = st.slots.iter().filter(|s| s.state.on_its_way()).count();
        let covered = (st.starting as usize + on_its_way) * self.spec.concurrency as usize;
        if st.waiters.len() <= covered {
            return;
        }
        if let Some(i) = st
            .slots
            .iter()
            .position(|s| matches!(s.state, SlotState::Paused { .. }))
        {
            st.slots[i].state = SlotState::Resuming;
            st.slots[i].last_used = Instant::now();
            let (pool, instance) = (Arc::clone(self), st.slots[i].instance.clone());
            self.launcher
                .spawn(async move { pool.resume_one(instance).await });
            return;
        }
        let live = st.slots.len() as u32 + st.starting;
        let may_start = st.crash.may_start(Instant::now());
        if may_start && live < self.spec.max_instances {
            st.starting += 1;
            let pool = Arc::clone(self);
            self.launcher
                .spawn(async move { pool.start_one(true).await });
        }
    }

    /// Adds a ready instance and hands it to queued calls.
    fn add_slot(
        self: &Arc<Self>,
        st: &mut PoolState,
        (instance, admission): (Instance, Admission),
        waited: Waited,
    ) {
        st.slots
            .push(Slot::new(instance, SlotState::Ready, admission));
        let i = st.slots.len() - 1;
        self.hand_off(st, i, waited);
    }

    /// Gives slot `i`'s free capacity to the calls at the head of the queue.
    fn hand_off(self: &Arc<Self>, st: &mut PoolState, i: usize, waited: Waited) {
        while st.slots[i].in_flight < self.spec.concurrency {
            let Some(waiter) = st.waiters.pop_front() else {
                break;
            };
            if waiter.is_closed() {
                continue;
            }
            let lease = self.lease(st, i, waited);
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
        if let Some(i) = st.slot_of(id) {
            let slot = &mut st.slots[i];
            slot.in_flight = slot.in_flight.saturating_sub(1);
            slot.last_used = Instant::now();
            if slot.state == SlotState::Ready {
                self.hand_off(&mut st, i, Waited::Nothing);
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
                id: short_id(&s.instance.id).to_owned(),
                state: s.state.shown(),
                started_at: s.instance.started_at,
                in_flight: s.in_flight,
                restarts: s.restarts,
            })
            .collect()
    }

    /// Instances by state and queued calls.
    pub fn counts(&self) -> PoolCounts {
        let st = self.lock();
        let shown = |want| st.slots.iter().filter(|s| s.state.shown() == want).count() as u32;
        PoolCounts {
            starting: st.starting + shown(InstanceState::Starting),
            ready: shown(InstanceState::Ready),
            draining: shown(InstanceState::Draining),
            paused: shown(InstanceState::Paused),
            queued: st.waiters.iter().filter(|w| !w.is_closed()).count(),
        }
    }

    /// The backend this revision runs on.
    pub fn executor(&self) -> &Arc<dyn Executor> {
        self.launcher.executor()
    }

    /// Whether the revision is in a crash loop.
    pub fn crash_looping(&self) -> bool {
        self.lock().crash.looping()
    }

    /// Whether an instance is starting (a cold start, a replacement, an in-place restart).
    pub fn starting(&self) -> bool {
        self.counts().starting > 0
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

/// Whether calls must be refused now because the revision keeps crashing, and for how long:
/// while its own starts back off (Docker), or while it crash-loops with nothing but instances
/// the backend is restarting in place (Kubernetes' CrashLoopBackOff), and no start is under
/// way that could serve them.
fn crash_loop_retry(st: &PoolState, now: Instant) -> Option<Duration> {
    if st.starting > 0 || st.slots.iter().any(|s| s.state == SlotState::Ready) {
        return None;
    }
    if let Some(retry_after) = st.crash.retry_after(now) {
        return Some(retry_after);
    }
    let restarting: Vec<&Slot> = st
        .slots
        .iter()
        .filter(|s| s.state == SlotState::Restarting)
        .collect();
    if restarting.is_empty() || !st.crash.looping() {
        return None;
    }
    let next = restarting
        .iter()
        .filter_map(|s| s.back_off_until)
        .map(|t| t.saturating_duration_since(now))
        .min()
        .unwrap_or_default();
    Some(next.max(Duration::from_secs(1)))
}
