//! A slot on one instance, returned to its pool when dropped (also when a call is cancelled).

use std::net::SocketAddr;
use std::sync::Arc;

use super::Pool;
use crate::executor::Instance;

/// What a call waited for before it got its instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// An instance was free (or became free).
    Nothing,
    /// A new instance started for it (a cold start).
    Start,
    /// A paused instance resumed for it.
    Resume,
}

/// The right to send one call to one instance.
pub struct Lease {
    pool: Arc<Pool>,
    instance_id: String,
    endpoint: SocketAddr,
    /// The instance's in-place restarts when the call was given it.
    restarts: u32,
    waited: Waited,
    armed: bool,
}

impl Lease {
    pub(super) fn new(pool: Arc<Pool>, instance: &Instance, restarts: u32, waited: Waited) -> Self {
        Lease {
            pool,
            instance_id: instance.id.clone(),
            endpoint: instance.endpoint,
            restarts,
            waited,
            armed: true,
        }
    }

    /// Where to send the call.
    pub fn endpoint(&self) -> SocketAddr {
        self.endpoint
    }

    /// The instance's id.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// How often the instance had been restarted in place when the call got it: a higher
    /// count later means it died during the call.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Whether the call waited for an instance to start.
    pub fn cold(&self) -> bool {
        self.waited == Waited::Start
    }

    /// Whether the call waited for a paused instance to resume.
    pub fn resumed(&self) -> bool {
        self.waited == Waited::Resume
    }

    /// The pool (revision) it belongs to.
    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// Forgets the slot without returning it: the pool already took it back.
    pub(super) fn disarm(mut self) {
        self.armed = false;
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("instance_id", &self.instance_id)
            .field("endpoint", &self.endpoint)
            .field("waited", &self.waited)
            .finish()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.armed {
            self.pool.release(&self.instance_id);
        }
    }
}
