//! After a restart: route every stored callback again, take over the instances of serving
//! revisions that still run (or restart in place), and remove everything else the gateway's
//! labels mark. Namespace deletes a restart interrupted are finished: their callbacks do not
//! serve again, and their instances go with the rest.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{DeployError, Deployer};
use crate::executor::{Executor, ExecutorError};
use crate::model::{Backend, CallbackRecord, CallbackState, ErrorCode, LastError};
use crate::routes::{Revision, Route};

impl Deployer {
    /// Routes, adopts and cleans up as the database says.
    pub async fn reconcile(self: &Arc<Self>) -> Result<(), DeployError> {
        let mut serving: HashMap<String, Arc<Revision>> = HashMap::new();
        for rec in self.store.callbacks().await? {
            let path = rec.spec.path.clone();
            self.routes.set_owner(&path, &rec.spec.namespace);
            if self.namespaces.is_deleting(&rec.spec.namespace) {
                self.routes.set(&path, Route::Undeployed);
                continue;
            }
            match self.restore(&rec).await? {
                Some(revision) => {
                    let revision = Arc::new(revision);
                    serving.insert(path.clone(), Arc::clone(&revision));
                    self.routes.set(&path, Route::Serving(revision));
                }
                None if rec.state == CallbackState::Undeployed => {
                    self.routes.set(&path, Route::Undeployed);
                }
                None => {
                    self.routes.set(&path, Route::NotReady);
                }
            }
        }
        self.resume_namespace_deletes();
        let (mut adopted, mut removed) = (0, 0);
        for (backend, executor) in self.backends.all() {
            let (a, r) = reconcile_backend(executor.as_ref(), backend, &serving).await?;
            adopted += a;
            removed += r;
            // Objects of revisions that no longer serve (or of callbacks since deleted).
            let keep: BTreeMap<String, u64> = serving
                .values()
                .filter(|r| r.spec.backend == backend)
                .map(|r| (r.spec.path.clone(), r.number))
                .collect();
            executor.retire(None, &keep).await?;
        }
        tracing::info!(adopted, removed, "instances reconciled");
        Ok(())
    }

    /// The revision a stored record serves from, fixing states a restart interrupted.
    async fn restore(&self, rec: &CallbackRecord) -> Result<Option<Revision>, DeployError> {
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
                    .revision(Arc::new(rec.spec.clone()), rev, image.clone())
                    .ok())
            }
            (_, 0, true) => {
                let last = LastError::now(
                    ErrorCode::InternalError,
                    "the first deploy was interrupted by a gateway restart; deploy again",
                );
                self.store
                    .set_state(path, CallbackState::Failed, Some(&last))
                    .await?;
                Ok(None)
            }
            _ => Ok(None),
        }
    }
}

/// Adopts one backend's instances of serving revisions and removes the rest.
async fn reconcile_backend(
    executor: &dyn Executor,
    backend: Backend,
    serving: &HashMap<String, Arc<Revision>>,
) -> Result<(usize, usize), ExecutorError> {
    let (mut adopted, mut removed) = (0, 0);
    for o in executor.list().await? {
        let revision = serving
            .get(&o.callback)
            .filter(|r| r.spec.backend == backend && r.number == o.revision);
        match revision.and_then(|r| r.pool()) {
            // Frozen while idle: it comes back for the next call.
            Some(pool) if o.paused && !o.job => {
                pool.adopt_paused(o.instance);
                adopted += 1;
            }
            Some(pool) if o.running && !o.job => {
                pool.adopt(o.instance);
                adopted += 1;
            }
            // Between two in-place restarts: still one of the revision's instances.
            Some(pool) if o.restarting && !o.job => {
                pool.adopt_restarting(o.instance);
                adopted += 1;
            }
            // An exited instance of a serving revision keeps its output for the logs until
            // the supervisor's sweep.
            Some(_) if !o.job => {}
            _ => {
                executor.remove(&o.instance.id).await?;
                removed += 1;
            }
        }
    }
    Ok((adopted, removed))
}
