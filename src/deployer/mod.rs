//! The deploy path: validate → record → build (or reuse) the image → start the new revision →
//! commit it → move traffic → drain the old revision.

mod lifecycle;
mod locks;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::builder::{BuildError, Images};
use crate::executor::{Backends, ExecutorError};
use crate::model::{
    CallbackRecord, CallbackSpec, CallbackState, CallbackView, ErrorCode, FieldErrors, LastError,
    Mode,
};
use crate::pool::registry::{Registry, Route};
use crate::pool::{Pool, PoolDeps, PoolEvent, StartError};
use crate::store::{Store, StoreError};

use locks::DeployLocks;

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
    registry: Arc<Registry>,
    backends: Backends,
    images: Images,
    pool_deps: PoolDeps,
    locks: DeployLocks,
}

impl Deployer {
    /// A deployer over the given parts; `pool_deps` is completed per callback with the
    /// executor of its backend.
    pub fn new(
        store: Store,
        registry: Arc<Registry>,
        backends: Backends,
        pool_deps: PoolDeps,
    ) -> Arc<Self> {
        Arc::new(Deployer {
            store,
            registry,
            backends,
            images: pool_deps.images.clone(),
            pool_deps,
            locks: DeployLocks::default(),
        })
    }

    /// Deploys `spec`; with `wait == false` the work continues in the background.
    pub async fn deploy(
        self: &Arc<Self>,
        spec: CallbackSpec,
        wait: bool,
    ) -> Result<(CallbackView, DeployOutcome), DeployError> {
        self.deps_for(&spec)?;
        let guard = self
            .locks
            .try_lock(&spec.path)
            .ok_or_else(|| DeployError::InProgress(spec.path.clone()))?;
        let existing = self.store.callback(&spec.path).await?;
        if let Some(rec) = &existing
            && rec.state.is_serving()
            && rec.spec == spec
        {
            return Ok((self.view(rec), DeployOutcome::Updated));
        }
        let created = match &existing {
            None => {
                self.store
                    .create_callback(&spec, CallbackState::Building)
                    .await?
            }
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
        if self.registry.pool(&spec.path).is_none() {
            self.registry.set(&spec.path, Route::NotReady);
        }
        if !wait {
            let this = Arc::clone(self);
            let spec_bg = spec.clone();
            tokio::spawn(async move {
                let _guard = guard;
                if let Err(e) = this.roll_out(spec_bg).await {
                    tracing::warn!(error = %e, "background deploy failed");
                }
            });
            let rec = self.record(&spec.path).await?;
            return Ok((self.view(&rec), DeployOutcome::Accepted));
        }
        let rec = self.roll_out(spec).await?;
        drop(guard);
        let outcome = if created {
            DeployOutcome::Created
        } else {
            DeployOutcome::Updated
        };
        Ok((self.view(&rec), outcome))
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
        let revision = self.store.next_revision(&path).await?;
        let pool = Pool::new(spec.clone(), revision, image.clone(), self.deps_for(&spec)?);
        let started = match spec.mode {
            // Job mode keeps no instances: check once that the handler imports.
            Mode::Job => pool.check().await,
            Mode::Service => pool.start_initial(spec.min_instances.max(1)).await,
        };
        started.map_err(|source| match source {
            StartError::Backend(e) => DeployError::Backend(e),
            source => DeployError::Startup {
                path: path.clone(),
                source,
            },
        })?;
        let rec = self
            .store
            .commit_revision(&spec, &image, CallbackState::Ready)
            .await?;
        if let Some(Route::Serving(old)) = self.registry.set(&path, Route::Serving(pool)) {
            let moved = old.spec.backend != spec.backend;
            self.retire(
                old,
                revision,
                Some(image),
                moved.then(|| self.backends.clone()),
            );
        }
        tracing::info!(callback.path = %path, revision, "revision serving");
        Ok(rec)
    }

    /// Drains a replaced revision in the background, then drops images no longer used. When
    /// the callback moved to another backend (`moved`), everything of it left on the old one
    /// goes too.
    fn retire(
        &self,
        old: Arc<Pool>,
        new_revision: u64,
        keep_image: Option<String>,
        moved: Option<Backends>,
    ) {
        let images = self.images.clone();
        let grace = Duration::from_millis(old.spec.timeout_ms) + Duration::from_secs(1);
        tokio::spawn(async move {
            old.drain(grace).await;
            let path = &old.spec.path;
            let executor = Arc::clone(old.executor());
            // Moved: nothing of the callback stays on the old backend; else only the new
            // revision's objects stay.
            let keep = match moved {
                Some(_) => BTreeMap::new(),
                None => BTreeMap::from([(path.clone(), new_revision)]),
            };
            if moved.is_some()
                && let Err(e) = lifecycle::remove_instances_of(executor.as_ref(), path).await
            {
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
        let code = match e {
            DeployError::Build { .. } => ErrorCode::BuildFailed,
            DeployError::Startup { .. } => ErrorCode::StartupFailed,
            DeployError::Backend(_) => ErrorCode::BackendUnavailable,
            _ => ErrorCode::InternalError,
        };
        let last = LastError {
            code,
            message: e.to_string(),
            at: Utc::now(),
        };
        let state = if self.registry.pool(path).is_some() {
            CallbackState::Ready
        } else {
            CallbackState::Failed
        };
        if let Err(err) = self.store.set_state(path, state, Some(&last)).await {
            tracing::error!(callback.path = %path, error = %err, "cannot record a failed deploy");
        }
    }

    /// Writes what pools report (deaths, failed starts, recoveries) into the records, until
    /// the channel closes.
    pub async fn record_pool_events(
        &self,
        mut events: tokio::sync::mpsc::UnboundedReceiver<PoolEvent>,
    ) {
        while let Some(event) = events.recv().await {
            let result = match &event {
                PoolEvent::Failed {
                    path,
                    revision,
                    error,
                    crash_loop,
                } => {
                    let state = if *crash_loop {
                        CallbackState::CrashLoop
                    } else {
                        CallbackState::Ready
                    };
                    self.store
                        .record_runtime_state(path, *revision, state, Some(error))
                        .await
                }
                PoolEvent::Recovered { path, revision } => {
                    self.store
                        .record_runtime_state(path, *revision, CallbackState::Ready, None)
                        .await
                }
            };
            if let Err(e) = result {
                tracing::error!(error = %e, ?event, "cannot record a pool event");
            }
        }
    }

    async fn record(&self, path: &str) -> Result<CallbackRecord, DeployError> {
        self.store
            .callback(path)
            .await?
            .ok_or_else(|| DeployError::NotFound(path.to_owned()))
    }

    /// What a pool of `spec` needs, with the executor of its backend (422 when that backend
    /// is not configured here).
    fn deps_for(&self, spec: &CallbackSpec) -> Result<PoolDeps, DeployError> {
        let executor = self.backends.get(spec.backend).ok_or_else(|| {
            DeployError::Invalid(FieldErrors::from([(
                "backend".to_owned(),
                format!(
                    "the {} backend is not configured on this gateway",
                    spec.backend.as_str()
                ),
            )]))
        })?;
        Ok(PoolDeps {
            executor: Arc::clone(executor),
            ..self.pool_deps.clone()
        })
    }

    /// The API resource of a record, with live instances.
    pub fn view(&self, rec: &CallbackRecord) -> CallbackView {
        let pool = self
            .registry
            .pool(&rec.spec.path)
            .filter(|p| p.revision == rec.revision);
        let looping = pool.as_ref().is_some_and(|p| p.crash_looping());
        let starting = pool.as_ref().is_some_and(|p| p.counts().starting > 0);
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
