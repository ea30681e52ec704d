//! What every handler shares: the services, built once by `App` (cheap to clone).

use std::sync::Arc;

use crate::api::auth::Tokens;
use crate::deployer::Deployer;
use crate::executor::Backends;
use crate::invocations::Invocations;
use crate::metrics::{CallbackGauges, Metrics};
use crate::model::{Scope, SpecDefaults};
use crate::namespaces::Namespaces;
use crate::proxy::Proxy;
use crate::queries::Queries;
use crate::routes::RouteTable;
use crate::store::Store;

/// Limits the API enforces itself.
#[derive(Debug, Clone, Copy)]
pub struct ApiLimits {
    pub max_code_bytes: usize,
}

/// Shared state of every handler: the services behind one `Arc`, so the clone each request
/// and middleware makes is one counter increment.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl From<Services> for AppState {
    fn from(services: Services) -> Self {
        AppState(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The services handlers use.
pub struct Services {
    pub invocations: Arc<Invocations>,
    pub metrics: Arc<Metrics>,
    /// The routes, for gauges read at scrape time.
    pub routes: Arc<RouteTable>,
    pub store: Store,
    pub deployer: Arc<Deployer>,
    pub queries: Arc<Queries>,
    pub proxy: Arc<Proxy>,
    pub backends: Backends,
    pub limits: ApiLimits,
    pub defaults: SpecDefaults,
    pub tokens: Arc<Tokens>,
    pub namespaces: Arc<Namespaces>,
}

impl Services {
    /// The bearer tokens in force.
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// Whether a caller who sees `scope` may call `path` now: not when it belongs to another
    /// namespace, nor while its namespace is being deleted. Read from memory only.
    pub fn callable(&self, scope: &Scope, path: &str) -> bool {
        if *scope == Scope::All && !self.namespaces.any_deleting() {
            return true;
        }
        // An unknown path has no owner: the proxy answers it as unknown.
        self.routes
            .owner(path)
            .is_none_or(|owner| scope.sees(&owner) && !self.namespaces.is_deleting(&owner))
    }

    /// Defaults for deploy bodies.
    pub fn spec_defaults(&self) -> SpecDefaults {
        self.defaults
    }

    /// The instance and queue gauges of every serving revision, now.
    pub fn gauges(&self) -> Vec<CallbackGauges> {
        self.routes
            .revisions()
            .iter()
            .map(|r| {
                let c = r.counts();
                CallbackGauges {
                    path: r.spec.path.clone(),
                    starting: c.starting,
                    ready: c.ready,
                    draining: c.draining,
                    paused: c.paused,
                    queued: c.queued,
                }
            })
            .collect()
    }
}
