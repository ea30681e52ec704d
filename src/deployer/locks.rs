//! One deploy at a time per callback: a second one is refused (409), not queued.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

/// Per-path deploy locks.
#[derive(Default)]
pub struct DeployLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl DeployLocks {
    /// The path's lock if nobody holds it; the guard can move into a background task.
    pub fn try_lock(&self, path: &str) -> Option<OwnedMutexGuard<()>> {
        let lock = {
            let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(map.entry(path.to_owned()).or_default())
        };
        lock.try_lock_owned().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_path_is_refused_and_others_are_not() {
        let locks = DeployLocks::default();
        let held = locks.try_lock("a").expect("free");
        assert!(locks.try_lock("a").is_none());
        assert!(locks.try_lock("b").is_some());
        drop(held);
        assert!(locks.try_lock("a").is_some());
    }
}
