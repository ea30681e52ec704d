//! One lock per key (a callback's path, a Deployment's name), made when first asked for and
//! forgotten when the last holder lets go, so the map never grows with keys long gone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

type Locks = Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>;

/// Locks by key.
#[derive(Default, Clone)]
pub struct KeyedLocks {
    locks: Locks,
}

/// The lock of one key, held until dropped.
pub struct KeyGuard {
    // Dropped after `Drop::drop` below has run: the map is cleaned while the lock is held.
    _held: OwnedMutexGuard<()>,
    locks: Locks,
    key: String,
}

impl KeyedLocks {
    /// The key's lock (made if needed). Cloned under the map's lock, so a holder that lets go
    /// sees every other claimant and leaves the entry in place for them.
    fn entry(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(map.entry(key.to_owned()).or_default())
    }

    /// The key's lock if nobody holds it.
    pub fn try_lock(&self, key: &str) -> Option<KeyGuard> {
        let held = self.entry(key).try_lock_owned().ok();
        match held {
            Some(held) => Some(self.guard(held, key)),
            None => {
                self.forget_if_unused(key);
                None
            }
        }
    }

    /// The key's lock, waiting for its holder.
    pub async fn lock(&self, key: &str) -> KeyGuard {
        let held = self.entry(key).lock_owned().await;
        self.guard(held, key)
    }

    fn guard(&self, held: OwnedMutexGuard<()>, key: &str) -> KeyGuard {
        KeyGuard {
            _held: held,
            locks: Arc::clone(&self.locks),
            key: key.to_owned(),
        }
    }

    fn forget_if_unused(&self, key: &str) {
        forget_if_unused(&self.locks, key, 1);
    }

    /// How many keys have a lock now.
    pub fn len(&self) -> usize {
        self.locks.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no key has a lock.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Removes the key's entry when nobody but the map (and `holders` more) has its lock.
fn forget_if_unused(locks: &Locks, key: &str, holders: usize) {
    let mut map = locks.lock().unwrap_or_else(|p| p.into_inner());
    if map
        .get(key)
        .is_some_and(|l| Arc::strong_count(l) <= holders)
    {
        map.remove(key);
    }
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        // The map's reference and this guard's.
        forget_if_unused(&self.locks, &self.key, 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_key_is_refused_and_others_are_not() {
        let locks = KeyedLocks::default();
        let held = locks.try_lock("a").expect("free");
        assert!(locks.try_lock("a").is_none());
        assert!(locks.try_lock("b").is_some());
        drop(held);
        assert!(locks.try_lock("a").is_some());
    }

    #[test]
    fn the_map_shrinks_when_the_last_holder_lets_go() {
        let locks = KeyedLocks::default();
        let a = locks.try_lock("a").expect("free");
        let b = locks.try_lock("b").expect("free");
        assert!(
            locks.try_lock("a").is_none(),
            "refused, and nothing left behind"
        );
        assert_eq!(locks.len(), 2);
        drop(a);
        drop(b);
        assert!(locks.is_empty());
    }

    #[tokio::test]
    async fn a_waiter_keeps_the_entry_and_gets_the_lock_next() {
        let locks = KeyedLocks::default();
        let first = locks.lock("d").await;
        let waiter = tokio::spawn({
            let locks = locks.clone();
            async move {
                let _second = locks.lock("d").await;
            }
        });
        tokio::task::yield_now().await;
        drop(first);
        waiter.await.expect("the waiter got the lock");
        assert!(locks.is_empty());
    }
}
