//! A slot on one instance, returned to its pool when dropped (also when a call is cancelled).

use std::net::SocketAddr;
use std::sync::Arc;

use super::Pool;
use crate::executor::Instance;

/// The right to send one call to one instance.
pub struct Lease {
    pool: Arc<Pool>,
    instance_id: String,
    endpoint: SocketAddr,
    /// The instance's in-place restarts when the call was given it.
    restarts: u32,
    cold: bool,
    armed: bool,
}

impl Lease {
    pub(super) fn new(pool: Arc<Pool>, instance: &Instance, restarts: u32, cold: bool) -> Self {
        Lease {
            pool,
            instance_id: instance.id.clone(),
            endpoint: instance.endpoint,
            restarts,
            cold,
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
        self.cold
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
            .field("cold", &self.cold)
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
