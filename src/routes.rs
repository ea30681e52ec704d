//! Which revision serves each callback, kept in memory so the invoke path never reads SQLite.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::executor::Executor;
use crate::jobs::Jobs;
use crate::model::CallbackSpec;
use crate::pool::{Pool, PoolCounts};

/// How a revision's calls run.
pub enum Runner {
    /// On warm instances (`mode: service`).
    Warm(Arc<Pool>),
    /// One fresh instance per call (`mode: job`).
    Jobs(Arc<Jobs>),
}

/// One deployed revision of a callback, as calls reach it.
pub struct Revision {
    pub spec: Arc<CallbackSpec>,
    pub number: u64,
    pub image: String,
    pub runner: Runner,
}

impl Revision {
    /// Its warm instances, in service mode.
    pub fn pool(&self) -> Option<&Arc<Pool>> {
        match &self.runner {
            Runner::Warm(p) => Some(p),
            Runner::Jobs(_) => None,
        }
    }

    /// The backend it runs on.
    pub fn executor(&self) -> &Arc<dyn Executor> {
        match &self.runner {
            Runner::Warm(p) => p.executor(),
            Runner::Jobs(j) => j.executor(),
        }
    }

    /// Instances by state and queued calls (job mode: running jobs count as ready).
    pub fn counts(&self) -> PoolCounts {
        match &self.runner {
            Runner::Warm(p) => p.counts(),
            Runner::Jobs(j) => {
                let (running, queued) = j.counts();
                PoolCounts {
                    ready: running,
                    queued,
                    ..PoolCounts::default()
                }
            }
        }
    }

    /// Stops taking calls and removes its instances once their calls finished (up to
    /// `grace`). Jobs end by themselves.
    pub async fn drain(&self, grace: Duration) {
        if let Runner::Warm(p) = &self.runner {
            p.drain(grace).await;
        }
    }
}

/// How calls to a callback are routed.
#[derive(Clone)]
pub enum Route {
    /// A revision serves.
    Serving(Arc<Revision>),
    /// Known, but no revision serves yet (first deploy building or failed).
    NotReady,
    /// Undeployed.
    Undeployed,
}

/// Routes by callback path. Reads take a read lock for a hash lookup and an `Arc` clone.
#[derive(Default)]
pub struct RouteTable {
    routes: RwLock<HashMap<String, Route>>,
    /// The namespace owning each known callback, so a call is checked against its caller's
    /// namespace without reading SQLite.
    owners: RwLock<HashMap<String, Arc<str>>>,
}

impl RouteTable {
    /// The route of `path`; `None` for an unknown callback.
    pub fn get(&self, path: &str) -> Option<Route> {
        self.read().get(path).cloned()
    }

    /// Sets the route of `path`, returning the previous one.
    pub fn set(&self, path: &str, route: Route) -> Option<Route> {
        self.write().insert(path.to_owned(), route)
    }

    /// Forgets `path` and its owner, returning its route.
    pub fn remove(&self, path: &str) -> Option<Route> {
        self.owners
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(path);
        self.write().remove(path)
    }

    /// Records that `namespace` owns `path`.
    pub fn set_owner(&self, path: &str, namespace: &str) {
        self.owners
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path.to_owned(), Arc::from(namespace));
    }

    /// The namespace owning `path`, if it is known.
    pub fn owner(&self, path: &str) -> Option<Arc<str>> {
        self.owners
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(path)
            .cloned()
    }

    /// The serving revision of `path`.
    pub fn revision(&self, path: &str) -> Option<Arc<Revision>> {
        match self.get(path) {
            Some(Route::Serving(r)) => Some(r),
            _ => None,
        }
    }

    /// Every serving revision.
    pub fn revisions(&self) -> Vec<Arc<Revision>> {
        self.read()
            .values()
            .filter_map(|r| match r {
                Route::Serving(r) => Some(Arc::clone(r)),
                _ => None,
            })
            .collect()
    }

    /// Every serving revision's warm pool.
    pub fn pools(&self) -> Vec<Arc<Pool>> {
        self.revisions()
            .iter()
            .filter_map(|r| r.pool().cloned())
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
