//! Room for an instance in its namespace's quota (SPEC 10): asked for before every start (a
//! cold start, a scale-up, a `min_instances` top-up, a job run, a deploy's first instances),
//! then held by the instance for its whole life and given back when it is dropped — so a
//! removal, a death, an eviction or a drain releases it without anyone remembering to.

use std::any::Any;
use std::fmt;

use crate::model::{CallbackSpec, QuotaExceeded};

/// Counts instances against quotas.
pub trait InstanceQuota: Send + Sync + 'static {
    /// Reserves room for one more instance of `spec` (its `memory_mb` included), or says
    /// which limit it would pass. Reservations are atomic: concurrent starts never overshoot.
    fn admit(&self, spec: &CallbackSpec) -> Result<Admission, QuotaExceeded>;

    /// Counts an instance that already runs (taken over after a restart), even when that puts
    /// its namespace over quota: it exists, so it is used.
    fn count(&self, spec: &CallbackSpec) -> Admission;
}

/// Room held in a quota, given back when dropped.
pub struct Admission {
    _held: Option<Box<dyn Any + Send + Sync>>,
}

impl Admission {
    /// Room held by `guard`, whose own `Drop` gives it back.
    pub fn new(guard: impl Any + Send + Sync) -> Self {
        Admission {
            _held: Some(Box::new(guard)),
        }
    }

    /// Room no quota counts.
    pub fn unlimited() -> Self {
        Admission { _held: None }
    }
}

impl fmt::Debug for Admission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Admission")
    }
}

/// No quota: every start is admitted.
#[derive(Debug, Default, Clone, Copy)]
pub struct Unlimited;

impl InstanceQuota for Unlimited {
    fn admit(&self, _spec: &CallbackSpec) -> Result<Admission, QuotaExceeded> {
        Ok(Admission::unlimited())
    }

    fn count(&self, _spec: &CallbackSpec) -> Admission {
        Admission::unlimited()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    struct Held(Arc<AtomicUsize>);

    impl Drop for Held {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn the_room_is_given_back_when_the_admission_is_dropped() {
        let used = Arc::new(AtomicUsize::new(1));
        let admission = Admission::new(Held(Arc::clone(&used)));
        assert_eq!(used.load(Ordering::SeqCst), 1);
        drop(admission);
        assert_eq!(used.load(Ordering::SeqCst), 0);
    }
}
