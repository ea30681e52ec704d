//! The deploy path: validate → record → build (or reuse) the image → start the new revision →
//! commit it → move traffic → drain the old revision. Undeploy, delete and the reconcile
//! after a restart are in `undeploy.rs` and `reconcile.rs`; deleting a whole namespace in
//! `namespaces.rs`; what failures and recoveries the revisions report is written into the
//! records by `records.rs`.

mod namespaces;
mod reconcile;
mod records;
mod undeploy;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::task::TaskTracker;

use crate::builder::{BuildError, Images};
use crate::executor::{Backends, ExecutorError};
use crate::jobs::Jobs;
use crate::keyed_locks::KeyedLocks;
use crate::launcher::{Launcher, StartError};
use crate::model::{
    CallbackRecord, CallbackSpec, CallbackState, FieldErrors, Mode, QuotaExceeded, Scope,
};
use crate::namespaces::{NamespaceError, Namespaces};
use crate::pool::Pool;
use crate::routes::{Revision, Route, RouteTable, Runner};
use crate::store::{Store, StoreError};

pub use records::last_error_of;

/// Errors of deploy, undeploy and delete.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("no callback is deployed at {0}")]
    NotFound(String),
    #[error("another deploy of {0} is running; retry when it finishes")]
    InProgress(String),
    #[error("the deploy is invalid")]
    Invalid(FieldErrors),
    #[error("the image of {path} failed to build: {reason}")]
    Build {
        path: String,
        reason: String,
        log: String,
    },
    #[error("{path} did not become healthy: {source}")]
    Startup { path: String, source: StartError },
    #[error("path {0} is taken by a callback of another namespace; pick another path")]
    PathTaken(String),
    #[error(transparent)]
    Quota(#[from] QuotaExceeded),
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    #[error(transparent)]
    Backend(#[from] ExecutorError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a deploy call ended, for the status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployOutcome {
    /// The record was created by this deploy (201).
    Created,
    /// Redeployed, or an identical deploy that changed nothing (200).
    Updated,
    /// Accepted to run in the background (202).
    Accepted,
}

/// Deploys, undeploys and reconciles callbacks.
pub struct Deployer {
    store: Store,
    routes: Arc<RouteTable>,
    backends: Backends,
    images: Images,
    launcher: Launcher,
    namespaces: Arc<Namespaces>,
    /// One deploy, undeploy or delete at a time per path: a second one is refused (409).
    locks: KeyedLocks,
    tasks: TaskTracker,
}

/// What a [`Deployer`] works with.
pub struct DeployerParts {
    pub store: Store,
    pub routes: Arc<RouteTable>,
    pub backends: Backends,
    pub images: Images,
    /// Used on each callback's backend.
    pub launcher: Launcher,
    pub namespaces: Arc<Namespaces>,
    /// Where background work is spawned, so shutdown can wait for it.
    pub tasks: TaskTracker,
}

impl Deployer {
    /// A deployer over `parts`.
    pub fn new(parts: DeployerParts) -> Arc<Self> {
        Arc::new(Deployer {
            store: parts.store,
            routes: parts.routes,
            backends: parts.backends,
            images: parts.images,
            launcher: parts.launcher,
            namespaces: parts.namespaces,
            locks: KeyedLocks::default(),
            tasks: parts.tasks,
        })
    }

    /// Deploys `spec` on behalf of a caller who sees `scope`; with `wait == false` the work
    /// continues in the background.
    pub async fn deploy(
        self: &Arc<Self>,
        spec: CallbackSpec,
        wait: bool,
        scope: &Scope,
    ) -> Result<(CallbackRecord, DeployOutcome), DeployError> {
        self.launcher_for(&spec)?;
        self.namespaces.accepts(&spec.namespace)?;
        let guard = self
            .locks
            .try_lock(&spec.path)
            .ok_or_else(|| DeployError::InProgress(spec.path.clone()))?;
        let existing = self.store.callback(&spec.path).await?;
        if let Some(rec) = &existing {
            same_owner(rec, &spec, scope)?;
        }
        if let Some(rec) = existing.clone()
            && rec.state.is_serving()
            && rec.spec == spec
        {
            return Ok((rec, DeployOutcome::Updated));
        }
        self.namespaces.check_revision(&spec)?;
        let created = match &existing {
            None => self.create_record(&spec).await?,
            Some(rec) => {
                if rec.revision == 0 {
                    self.store.replace_attempt(&spec).await?;
                }
                self.store
                    .set_state(&spec.path, CallbackState::Building, None)
                    .await?;
                false
            }
        };
        if self.routes.revision(&spec.path).is_none() {
            self.routes.set(&spec.path, Route::NotReady);
        }
        if !wait {
            let this = Arc::clone(self);
            let spec_bg = spec.clone();
            self.tasks.spawn(async move {
                let _guard = guard;
                if let Err(e) = this.roll_out(spec_bg).await {
                    tracing::warn!(error = %e, "background deploy failed");
                }
            });
            let rec = self.record(&spec.path).await?;
            return Ok((rec, DeployOutcome::Accepted));
        }
        let rec = self.roll_out(spec).await?;
        drop(guard);
        let outcome = if created {
            DeployOutcome::Created
        } else {
            DeployOutcome::Updated
        };
        Ok((rec, outcome))
    }

    /// Build, start, commit, switch; on failure records `last_error` and leaves the serving
    /// revision (if any) untouched.
    async fn roll_out(&self, spec: CallbackSpec) -> Result<CallbackRecord, DeployError> {
        let path = spec.path.clone();
        match self.try_roll_out(spec).await {
            Ok(rec) => Ok(rec),
            Err(e) => {
                self.record_failure(&path, &e).await;
                Err(e)
            }
        }
    }

    async fn try_roll_out(&self, spec: CallbackSpec) -> Result<CallbackRecord, DeployError> {
        let path = spec.path.clone();
        let image = self
            .images
            .ensure(&spec)
            .await
            .map_err(|e| build_error(&path, e))?;
        self.store
            .set_state(&path, CallbackState::Starting, None)
            .await?;
        let number = self.store.next_revision(&path).await?;
        let revision = self.revision(Arc::new(spec.clone()), number, image.clone())?;
        let started = match &revision.runner {
            // Job mode keeps no instances: check once that the handler imports.
            Runner::Jobs(jobs) => jobs.check().await,
            Runner::Warm(pool) => pool.start_initial(spec.min_instances.max(1)).await,
        };
        started.map_err(|source| match source {
            StartError::Backend(e) => DeployError::Backend(e),
            StartError::Quota(q) => DeployError::Quota(q),
            source => DeployError::Startup {
                path: path.clone(),
                source,
            },
        })?;
        let rec = self
            .store
            .commit_revision(&spec, &image, CallbackState::Ready)
            .await?;
        let serving = Route::Serving(Arc::new(revision));
        if let Some(Route::Serving(old)) = self.routes.set(&path, serving) {
            let moved = old.spec.backend != spec.backend;
            self.retire(old, number, Some(image), moved);
        }
        tracing::info!(callback.path = %path, revision = number, "revision serving");
        Ok(rec)
    }

    /// A revision of `spec`, ready to start, on its backend.
    fn revision(
        &self,
        spec: Arc<CallbackSpec>,
        number: u64,
        image: String,
    ) -> Result<Revision, DeployError> {
        let launcher = self.launcher_for(&spec)?;
        let runner = match spec.mode {
            Mode::Service => Runner::Warm(Pool::new(
                Arc::clone(&spec),
                number,
                image.clone(),
                launcher,
            )),
            Mode::Job => Runner::Jobs(Jobs::new(
                Arc::clone(&spec),
                number,
                image.clone(),
                launcher,
            )),
        };
        Ok(Revision {
            spec,
            number,
            image,
            runner,
        })
    }

    /// Drains a replaced revision in the background, then drops images no longer used. When
    /// the callback moved to another backend (`moved`), everything of it left on the old one
    /// goes too.
    fn retire(
        &self,
        old: Arc<Revision>,
        new_revision: u64,
        keep_image: Option<String>,
        moved: bool,
    ) {
        let images = self.images.clone();
        let grace = Duration::from_millis(old.spec.timeout_ms) + Duration::from_secs(1);
        self.tasks.spawn(async move {
            old.drain(grace).await;
            let path = &old.spec.path;
            let executor = Arc::clone(old.executor());
            // Moved: nothing of the callback stays on the old backend; else only the new
            // revision's objects stay.
            let keep = if moved {
                BTreeMap::new()
            } else {
                BTreeMap::from([(path.clone(), new_revision)])
            };
            if moved && let Err(e) = undeploy::remove_instances_of(executor.as_ref(), path).await {
                tracing::warn!(callback.path = %path, error = %e, "cannot clean the old backend");
            }
            if let Err(e) = executor.retire(Some(path), &keep).await {
                tracing::warn!(callback.path = %path, error = %e, "cannot delete a retired revision");
            }
            let keep: Vec<String> = keep_image.into_iter().collect();
            images.prune(&old.spec.path, &keep).await;
        });
    }

    async fn record_failure(&self, path: &str, e: &DeployError) {
        let last = last_error_of(e);
        let state = if self.routes.revision(path).is_some() {
            CallbackState::Ready
        } else {
            CallbackState::Failed
        };
        if let Err(err) = self.store.set_state(path, state, Some(&last)).await {
            tracing::error!(callback.path = %path, error = %err, "cannot record a failed deploy");
        }
    }

    /// The first record of a callback, counted against its namespace's quota. Returns
    /// whether this call made it.
    async fn create_record(&self, spec: &CallbackSpec) -> Result<bool, DeployError> {
        // Again, now that the path is locked: a delete of the namespace may have begun.
        self.namespaces.accepts(&spec.namespace)?;
        let hold = self.namespaces.reserve_callback(&spec.namespace)?;
        let created = self
            .store
            .create_callback(spec, CallbackState::Building)
            .await?;
        if created {
            hold.keep();
        }
        self.routes.set_owner(&spec.path, &spec.namespace);
        Ok(created)
    }

    async fn record(&self, path: &str) -> Result<CallbackRecord, DeployError> {
        self.store
            .callback(path)
            .await?
            .ok_or_else(|| DeployError::NotFound(path.to_owned()))
    }

    /// The launcher on `spec`'s backend (422 when that backend is not configured here).
    fn launcher_for(&self, spec: &CallbackSpec) -> Result<Launcher, DeployError> {
        let executor = self.backends.get(spec.backend).ok_or_else(|| {
            DeployError::Invalid(FieldErrors::from([(
                "backend".to_owned(),
                format!(
                    "the {} backend is not configured on this gateway",
                    spec.backend.as_str()
                ),
            )]))
        })?;
        Ok(self.launcher.on(Arc::clone(executor)))
    }
}

/// A redeploy keeps its namespace. To a caller who sees the owner, naming another namespace
/// is a wrong field; to one who does not, the path is simply taken.
fn same_owner(rec: &CallbackRecord, spec: &CallbackSpec, scope: &Scope) -> Result<(), DeployError> {
    let owner = &rec.spec.namespace;
    if *owner == spec.namespace {
        return Ok(());
    }
    if !scope.sees(owner) {
        return Err(DeployError::PathTaken(spec.path.clone()));
    }
    Err(DeployError::Invalid(FieldErrors::from([(
        "namespace".to_owned(),
        format!(
            "{} belongs to namespace {owner}: a callback cannot change namespace (delete it, then deploy it in the other)",
            spec.path
        ),
    )])))
}

fn build_error(path: &str, e: BuildError) -> DeployError {
    match e {
        BuildError::Failed { reason, log } => DeployError::Build {
            path: path.to_owned(),
            reason,
            log,
        },
        BuildError::Unavailable(reason) => DeployError::Backend(ExecutorError::Unavailable {
            backend: "docker",
            reason,
        }),
    }
}
