//! Handles to the metrics of the hot path, found again without allocating: a family's
//! `get_or_create` needs an owned label set (a `String` per label) for every lookup; here the
//! first call for a (name, status) pair makes the label set once and keeps a clone of the
//! metric (the same counter or histogram, shared), later calls find it by `&str`.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

/// Metric handles by name and status.
pub struct Handles<M> {
    by_name: RwLock<HashMap<String, Vec<(u16, M)>>>,
}

impl<M> Default for Handles<M> {
    fn default() -> Self {
        Handles {
            by_name: RwLock::new(HashMap::new()),
        }
    }
}

impl<M: Clone> Handles<M> {
    /// The handle for `name` and `status`, made by `make` the first time.
    pub fn get(&self, name: &str, status: u16, make: impl FnOnce() -> M) -> M {
        let found = self
            .by_name
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .and_then(|v| v.iter().find(|(s, _)| *s == status).map(|(_, m)| m.clone()));
        if let Some(m) = found {
            return m;
        }
        let mut map = self.by_name.write().unwrap_or_else(PoisonError::into_inner);
        let statuses = map.entry(name.to_owned()).or_default();
        if let Some((_, m)) = statuses.iter().find(|(s, _)| *s == status) {
            return m.clone();
        }
        let m = make();
        statuses.push((status, m.clone()));
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn a_handle_is_made_once_per_name_and_status() {
        let made = AtomicU32::new(0);
        let handles = Handles::<u32>::default();
        let make = |v| {
            made.fetch_add(1, Ordering::Relaxed);
            v
        };
        assert_eq!(handles.get("a", 200, || make(1)), 1);
        assert_eq!(handles.get("a", 200, || make(9)), 1);
        assert_eq!(handles.get("a", 500, || make(2)), 2);
        assert_eq!(handles.get("b", 200, || make(3)), 3);
        assert_eq!(made.load(Ordering::Relaxed), 3);
    }
}
