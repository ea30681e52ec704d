//! Undeploy and delete: stop serving, remove every instance, Deployment, Service, Job and
//! image of a callback on every backend; delete also forgets its definition and history.
//! A caller sees only the callbacks of its scope: others are not found.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{DeployError, Deployer};
use crate::executor::{Executor, ExecutorError};
use crate::model::{CallbackRecord, CallbackState, Scope};
use crate::routes::Route;

/// Longest an undeploy waits for calls in flight.
const UNDEPLOY_GRACE: Duration = Duration::from_secs(10);

impl Deployer {
    /// Stops serving `path` and removes all its instances and images; keeps the record.
    pub async fn undeploy(&self, path: &str, scope: &Scope) -> Result<CallbackRecord, DeployError> {
        let _guard = self
            .locks
            .try_lock(path)
            .ok_or_else(|| DeployError::InProgress(path.to_owned()))?;
        let rec = self.visible_record(path, scope).await?;
        if rec.state != CallbackState::Undeployed {
            self.remove_everything(path, Route::Undeployed).await?;
            self.store
                .set_state(path, CallbackState::Undeployed, None)
                .await?;
        }
        self.record(path).await
    }

    /// Undeploys `path` and deletes its definition and history.
    pub async fn delete(&self, path: &str, scope: &Scope) -> Result<(), DeployError> {
        let _guard = self
            .locks
            .try_lock(path)
            .ok_or_else(|| DeployError::InProgress(path.to_owned()))?;
        self.visible_record(path, scope).await?;
        self.delete_locked(path).await
    }

    /// Deletes `path`, whose lock the caller holds.
    pub(super) async fn delete_locked(&self, path: &str) -> Result<(), DeployError> {
        let rec = self.record(path).await?;
        self.remove_everything(path, Route::Undeployed).await?;
        if self.store.delete_callback(path).await? {
            self.namespaces.callback_gone(&rec.spec.namespace);
        }
        self.routes.remove(path);
        Ok(())
    }

    /// The record of `path` if `scope` sees it; one of another namespace is not found.
    async fn visible_record(
        &self,
        path: &str,
        scope: &Scope,
    ) -> Result<CallbackRecord, DeployError> {
        let rec = self.record(path).await?;
        if scope.sees(&rec.spec.namespace) {
            Ok(rec)
        } else {
            Err(DeployError::NotFound(path.to_owned()))
        }
    }

    /// Routes `path` to `route`, drains what served it, and removes every container and image
    /// labelled with it (including leftovers of interrupted deploys).
    async fn remove_everything(&self, path: &str, route: Route) -> Result<(), DeployError> {
        if let Some(Route::Serving(revision)) = self.routes.set(path, route) {
            revision.drain(UNDEPLOY_GRACE).await;
        }
        for (_, executor) in self.backends.all() {
            remove_instances_of(executor.as_ref(), path).await?;
            executor.retire(Some(path), &BTreeMap::new()).await?;
        }
        self.images.prune(path, &[]).await;
        Ok(())
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
