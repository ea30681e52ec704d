//! Deleting a namespace (SPEC 10): mark it as being deleted (its calls answer 404 and its
//! deploys are refused from then on), delete every callback of it as `DELETE
//! /callbacks/<path>` does — instances on every backend, Deployments, Services, Jobs, images,
//! records — then its async invocations, then the namespace. The mark is in the database, so
//! a gateway that dies half-way finishes the delete when it starts again.

use std::sync::Arc;

use super::{DeployError, Deployer};
use crate::store::StoreError;

/// Rounds of "list the namespace's callbacks, delete them": a deploy that passed its check
/// just before the mark may still create one, and the next round takes it.
const ROUNDS: usize = 5;

impl Deployer {
    /// Deletes namespace `name` and everything it owns. The work runs as a task of its own,
    /// so a client that goes away does not leave it half done.
    pub async fn delete_namespace(self: &Arc<Self>, name: &str) -> Result<(), DeployError> {
        self.namespaces.begin_delete(name).await?;
        let (this, name) = (Arc::clone(self), name.to_owned());
        self.tasks
            .spawn(async move { this.finish_namespace_delete(&name).await })
            .await
            .map_err(|e| DeployError::Store(StoreError::Join(e)))?
    }

    /// Finishes, in the background, the deletes a restart interrupted.
    pub(super) fn resume_namespace_deletes(self: &Arc<Self>) {
        for name in self.namespaces.deleting_names() {
            tracing::info!(namespace = %name, "finishing a namespace delete a restart interrupted");
            let this = Arc::clone(self);
            self.tasks.spawn(async move {
                if let Err(e) = this.finish_namespace_delete(&name).await {
                    tracing::error!(namespace = %name, error = %e, "cannot finish deleting a namespace; delete it again");
                }
            });
        }
    }

    async fn finish_namespace_delete(&self, name: &str) -> Result<(), DeployError> {
        // Queued calls first, so no worker starts one of them while its callback goes.
        self.store.delete_invocations_of(name, true).await?;
        for _ in 0..ROUNDS {
            let paths = self.store.callbacks_in(name).await?;
            if paths.is_empty() {
                let n = self.store.delete_invocations_of(name, false).await?;
                tracing::info!(namespace = %name, invocations = n, "namespace emptied");
                self.namespaces.forget(name).await?;
                return Ok(());
            }
            for path in paths {
                // A deploy of it under way finishes first (new ones are refused).
                let _guard = self.locks.lock(&path).await;
                match self.delete_locked(&path).await {
                    Ok(()) | Err(DeployError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
                tracing::info!(namespace = %name, callback.path = %path, "callback deleted with its namespace");
            }
        }
        Err(DeployError::InProgress(format!("namespace {name}")))
    }
}
