//! The read side: callbacks as the API shows them (the stored record with the live instances
//! of its serving revision), their revisions and their output.

use std::sync::Arc;

use crate::executor::{Backends, ExecutorError, LogLine};
use crate::model::{CallbackRecord, CallbackState, CallbackView, Mode, Revision};
use crate::routes::RouteTable;
use crate::store::{Store, StoreError};

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("no callback is deployed at {0}")]
    NotFound(String),
    #[error(transparent)]
    Backend(#[from] ExecutorError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Answers reads about callbacks.
pub struct Queries {
    store: Store,
    routes: Arc<RouteTable>,
    backends: Backends,
}

impl Queries {
    /// Reads over the given parts.
    pub fn new(store: Store, routes: Arc<RouteTable>, backends: Backends) -> Self {
        Queries {
            store,
            routes,
            backends,
        }
    }

    async fn record(&self, path: &str) -> Result<CallbackRecord, QueryError> {
        self.store
            .callback(path)
            .await?
            .ok_or_else(|| QueryError::NotFound(path.to_owned()))
    }

    /// One callback's resource.
    pub async fn get(&self, path: &str) -> Result<CallbackView, QueryError> {
        Ok(self.view(&self.record(path).await?))
    }

    /// Every callback's resource.
    pub async fn list(&self) -> Result<Vec<CallbackView>, QueryError> {
        let records = self.store.callbacks().await?;
        Ok(records.iter().map(|r| self.view(r)).collect())
    }

    /// The revisions of `path`, newest first.
    pub async fn revisions(&self, path: &str) -> Result<Vec<Revision>, QueryError> {
        self.record(path).await?;
        Ok(self.store.revisions(path).await?)
    }

    /// The last `tail` lines of the current revision's instances, running or exited.
    pub async fn logs(&self, path: &str, tail: usize) -> Result<Vec<LogLine>, QueryError> {
        let rec = self.record(path).await?;
        let Some(executor) = self.backends.get(rec.spec.backend) else {
            return Ok(Vec::new());
        };
        let ids: Vec<String> = executor
            .list()
            .await?
            .into_iter()
            .filter(|o| o.callback == path && o.revision == rec.revision)
            .map(|o| o.instance.id)
            .collect();
        Ok(executor.logs(&ids, tail).await?)
    }

    /// The API resource of a record, with live instances.
    pub fn view(&self, rec: &CallbackRecord) -> CallbackView {
        let pool = self
            .routes
            .revision(&rec.spec.path)
            .filter(|r| r.number == rec.revision)
            .and_then(|r| r.pool().cloned());
        let looping = pool.as_ref().is_some_and(|p| p.crash_looping());
        let starting = pool.as_ref().is_some_and(|p| p.starting());
        let instances = pool.map(|p| p.instances()).unwrap_or_default();
        let mut view = CallbackView::new(rec, instances);
        if looping && view.state.is_serving() {
            view.state = CallbackState::CrashLoop;
        }
        if view.state == CallbackState::Ready
            && view.instances.is_empty()
            && rec.spec.mode == Mode::Service
        {
            // Zero instances with one on its way (a cold start, a replacement) is no idle.
            view.state = if starting {
                CallbackState::Starting
            } else {
                CallbackState::Idle
            };
        }
        view
    }
}
