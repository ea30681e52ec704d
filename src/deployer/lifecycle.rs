//! Undeploy, delete, logs, and re-adopting instances after a gateway restart.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::{DeployError, Deployer};
use crate::executor::{Executor, ExecutorError, LogLine};
use crate::model::Backend;
use crate::model::{CallbackRecord, CallbackState, CallbackView};
use crate::pool::Pool;
use crate::pool::registry::Route;

/// Longest an undeploy waits for calls in flight.
const UNDEPLOY_GRACE: Duration = Duration::from_secs(10);

impl Deployer {
    /// Stops serving `path` and removes all its instances and images; keeps the record.
    pub async fn undeploy(&self, path: &str) -> Result<CallbackView, DeployError> {
        let _guard = self
            .locks
            .try_lock(path)
            .ok_or_else(|| DeployError::InProgress(path.to_owned()))?;
        let rec = self.record(path).await?;
        if rec.state != CallbackState::Undeployed {
            self.remove_everything(path, Route::Undeployed).await?;
            self.store
                .set_state(path, CallbackState::Undeployed, None)
                .await?;
        }
        Ok(self.view(&self.record(path).await?))
    }

    /// Undeploys `path` and deletes its definition and history.
    pub async fn delete(&self, path: &str) -> Result<(), DeployError> {
        let _guard = self
            .locks
            .try_lock(path)
            .ok_or_else(|| DeployError::InProgress(path.to_owned()))?;
        self.record(path).await?;
        self.remove_everything(path, Route::Undeployed).await?;
        self.store.delete_callback(path).await?;
        self.registry.remove(path);
        Ok(())
    }

    /// Routes `path` to `route`, drains what served it, and removes every container and image
    /// labelled with it (including leftovers of interrupted deploys).
    async fn remove_everything(&self, path: &str, route: Route) -> Result<(), DeployError> {
        if let Some(Route::Serving(pool)) = self.registry.set(path, route) {
            pool.drain(UNDEPLOY_GRACE).await;
        }
        for (_, executor) in self.backends.all() {
            remove_instances_of(executor.as_ref(), path).await?;
            executor.retire(Some(path), &BTreeMap::new()).await?;
        }
        self.images.prune(path, &[]).await;
        Ok(())
    }

    /// One callback's resource.
    pub async fn get(&self, path: &str) -> Result<CallbackView, DeployError> {
        Ok(self.view(&self.record(path).await?))
    }

    /// Every callback's resource.
    pub async fn list(&self) -> Result<Vec<CallbackView>, DeployError> {
        let records = self.store.callbacks().await?;
        Ok(records.iter().map(|r| self.view(r)).collect())
    }

    /// The revisions of `path`, newest first.
    pub async fn revisions(&self, path: &str) -> Result<Vec<crate::model::Revision>, DeployError> {
        self.record(path).await?;
        Ok(self.store.revisions(path).await?)
    }

    /// The last `tail` lines of the current revision's instances, running or exited.
    pub async fn logs(&self, path: &str, tail: usize) -> Result<Vec<LogLine>, DeployError> {
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

    /// After a restart: route every stored callback again, take over the running instances of
    /// serving revisions, and remove everything else the gateway's labels mark.
    pub async fn reconcile(&self) -> Result<(), DeployError> {
        let mut pools: HashMap<String, Arc<Pool>> = HashMap::new();
        for rec in self.store.callbacks().await? {
            let path = rec.spec.path.clone();
            match self.restore(&rec).await? {
                Some(pool) => {
                    pools.insert(path.clone(), Arc::clone(&pool));
                    self.registry.set(&path, Route::Serving(pool));
                }
                None if rec.state == CallbackState::Undeployed => {
                    self.registry.set(&path, Route::Undeployed);
                }
                None => {
                    self.registry.set(&path, Route::NotReady);
                }
            }
        }
        let (mut adopted, mut removed) = (0, 0);
        for (backend, executor) in self.backends.all() {
            let (a, r) = reconcile_backend(executor.as_ref(), backend, &pools).await?;
            adopted += a;
            removed += r;
            // Objects of revisions that no longer serve (or of callbacks since deleted).
            let keep: BTreeMap<String, u64> = pools
                .values()
                .filter(|p| p.spec.backend == backend)
                .map(|p| (p.spec.path.clone(), p.revision))
                .collect();
            executor.retire(None, &keep).await?;
        }
        tracing::info!(adopted, removed, "instances reconciled");
        Ok(())
    }

    /// The pool a stored record serves from, fixing states a restart interrupted.
    async fn restore(&self, rec: &CallbackRecord) -> Result<Option<Arc<Pool>>, DeployError> {
        let path = &rec.spec.path;
        let serving_state = matches!(
            rec.state,
            CallbackState::Ready
                | CallbackState::Idle
                | CallbackState::CrashLoop
                | CallbackState::Building
                | CallbackState::Starting
        );
        match (&rec.image, rec.revision, serving_state) {
            (Some(image), rev, true) if rev > 0 => {
                if matches!(rec.state, CallbackState::Building | CallbackState::Starting) {
                    // A redeploy was cut short; the committed revision still serves.
                    self.store
                        .set_state(path, CallbackState::Ready, None)
                        .await?;
                }
                // A backend no longer configured cannot serve: the callback waits for it.
                Ok(self
                    .deps_for(&rec.spec)
                    .ok()
                    .map(|deps| Pool::new(rec.spec.clone(), rev, image.clone(), deps)))
            }
            (_, 0, true) => {
                let last = crate::model::LastError {
                    code: crate::model::ErrorCode::InternalError,
                    message: "the first deploy was interrupted by a gateway restart; deploy again"
                        .into(),
                    at: chrono::Utc::now(),
                };
                self.store
                    .set_state(path, CallbackState::Failed, Some(&last))
                    .await?;
                Ok(None)
            }
            _ => Ok(None),
        }
    }
}

/// Removes every instance of `path` on one backend.
pub(super) async fn remove_instances_of(
    executor: &dyn Executor,
    path: &str,
) -> Result<(), ExecutorError> {
    for o in executor.list().await? {
        if o.callback == path {
            executor.remove(&o.instance.id).await?;
        }
    }
    Ok(())
}

/// Adopts one backend's running instances of serving revisions and removes the rest.
async fn reconcile_backend(
    executor: &dyn Executor,
    backend: Backend,
    pools: &HashMap<String, Arc<Pool>>,
) -> Result<(usize, usize), ExecutorError> {
    let (mut adopted, mut removed) = (0, 0);
    for o in executor.list().await? {
        let pool = pools.get(&o.callback).filter(|p| p.spec.backend == backend);
        match pool {
            Some(pool) if pool.revision == o.revision && o.running && !o.job => {
                pool.adopt(o.instance);
                adopted += 1;
            }
            // An exited instance of a serving revision keeps its output for the logs until
            // the supervisor's sweep.
            Some(pool) if pool.revision == o.revision && !o.job => {}
            _ => {
                executor.remove(&o.instance.id).await?;
                removed += 1;
            }
        }
    }
    Ok((adopted, removed))
}
