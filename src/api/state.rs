//! What every handler shares: the services, built once by `App` (cheap to clone).

use std::sync::Arc;

use crate::api::auth::Tokens;
use crate::deployer::Deployer;
use crate::executor::Backends;
use crate::invocations::Invocations;
use crate::metrics::{CallbackGauges, Metrics};
use crate::model::SpecDefaults;
use crate::proxy::Proxy;
use crate::queries::Queries;
use crate::routes::RouteTable;
use crate::store::Store;

/// Limits the API enforces itself.
#[derive(Debug, Clone, Copy)]
pub struct ApiLimits {
    pub max_code_bytes: usize,
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
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
}

impl AppState {
    /// The bearer tokens in force.
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
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
                    queued: c.queued,
                }
            })
            .collect()
    }
}
