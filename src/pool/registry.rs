//! Which revision serves each callback, kept in memory so the invoke path never reads SQLite.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::Pool;

/// How calls to a callback are routed.
#[derive(Clone)]
pub enum Route {
    /// A revision serves.
    Serving(Arc<Pool>),
    /// Known, but no revision serves yet (first deploy building or failed).
    NotReady,
    /// Undeployed.
    Undeployed,
}

/// Routes by callback path. Reads take a read lock for a hash lookup and an `Arc` clone.
#[derive(Default)]
pub struct Registry {
    routes: RwLock<HashMap<String, Route>>,
}

impl Registry {
    /// The route of `path`; `None` for an unknown callback.
    pub fn get(&self, path: &str) -> Option<Route> {
        self.read().get(path).cloned()
    }

    /// Sets the route of `path`, returning the previous one.
    pub fn set(&self, path: &str, route: Route) -> Option<Route> {
        self.write().insert(path.to_owned(), route)
    }

    /// Forgets `path`, returning its route.
    pub fn remove(&self, path: &str) -> Option<Route> {
        self.write().remove(path)
    }

    /// The serving pool of `path`.
    pub fn pool(&self, path: &str) -> Option<Arc<Pool>> {
        match self.get(path) {
            Some(Route::Serving(p)) => Some(p),
            _ => None,
        }
    }

    /// Every serving pool.
    pub fn pools(&self) -> Vec<Arc<Pool>> {
        self.read()
            .values()
            .filter_map(|r| match r {
                Route::Serving(p) => Some(Arc::clone(p)),
                _ => None,
            })
            .collect()
    }

    // Nothing panics while holding these locks, so poisoning cannot leave the map half-written.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Route>> {
        self.routes.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Route>> {
        self.routes.write().unwrap_or_else(|p| p.into_inner())
    }
}
