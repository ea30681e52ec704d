//! Starting instances of a revision: the image (rebuilt from its stored definition when it
//! went missing), the backend's start, the health probe; running job-mode calls the same way;
//! and reporting what fails for the callback's record. Shared by the warm pools and job
//! mode; every task it spawns is tracked, so shutdown can wait for it.

mod admission;
mod failures;
mod start;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

pub use admission::{Admission, InstanceQuota, Unlimited};
pub use failures::{DiedError, Failure, RuntimeEvent, death, start_failure};
pub use start::{
    OnFailure, START_LOG_LINES, StartError, begin, give_up, output_tail, start_instance,
    wait_healthy,
};

use crate::builder::Images;
use crate::executor::{Executor, ExecutorError, Instance, InstanceSpec, JobOutcome};
use crate::metrics::Metrics;
use crate::model::CallbackSpec;
use crate::upstream::Probe;

/// How long a resumed instance may take to answer again: a thawed process answers in
/// milliseconds; one that does not is replaced by a cold start.
const RESUME_TIMEOUT: Duration = Duration::from_secs(5);

/// Limits every start and queue shares.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub queue_len: usize,
    pub startup_timeout: Duration,
}

/// One revision of a callback, as its instances are made from it.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub spec: &'a CallbackSpec,
    pub revision: u64,
    pub image: &'a str,
}

impl Target<'_> {
    /// The environment and limits an instance of this revision starts with.
    pub fn instance_spec(&self) -> InstanceSpec {
        let s = self.spec;
        let mut env: BTreeMap<String, String> = s.env.clone();
        for (k, v) in [
            ("PORT", "8080".to_owned()),
            ("FAAS_HANDLER", s.handler.clone()),
            ("FAAS_FUNCTION", s.path.clone()),
            ("FAAS_REVISION", self.revision.to_string()),
            ("FAAS_MEMORY_MB", s.memory_mb.to_string()),
            ("FAAS_TIMEOUT_MS", s.timeout_ms.to_string()),
            ("FAAS_CONCURRENCY", s.concurrency.to_string()),
            ("FAAS_MODE", s.mode.as_str().to_owned()),
        ] {
            env.insert(k.to_owned(), v);
        }
        InstanceSpec {
            callback: s.path.clone(),
            revision: self.revision,
            image: self.image.to_owned(),
            env,
            memory_mb: s.memory_mb,
            cpu: s.cpu,
            namespace: s.namespace.clone(),
        }
    }
}

/// How a start ended when it did not fail outright. The [`Admission`] is the instance's room
/// in its namespace's quota: whoever keeps the instance keeps it, for as long.
pub enum Started {
    /// Healthy: ready for calls.
    Ready(Instance, Admission),
    /// It exited while starting and the backend restarts it in place: it stays an instance
    /// of the revision, coming back by itself (`error` is how it exited).
    Restarting(Instance, StartError, Admission),
}

/// What starts need from the outside; cheap to clone.
#[derive(Clone)]
pub struct Launcher {
    executor: Arc<dyn Executor>,
    probe: Arc<dyn Probe>,
    images: Images,
    limits: Limits,
    events: mpsc::UnboundedSender<RuntimeEvent>,
    metrics: Arc<Metrics>,
    tasks: TaskTracker,
    quota: Arc<dyn InstanceQuota>,
}

/// The parts of a [`Launcher`].
pub struct LauncherParts {
    pub executor: Arc<dyn Executor>,
    pub probe: Arc<dyn Probe>,
    pub images: Images,
    pub limits: Limits,
    /// Failures and recoveries, for the callbacks' records.
    pub events: mpsc::UnboundedSender<RuntimeEvent>,
    pub metrics: Arc<Metrics>,
    /// Where background work is spawned, so shutdown can wait for it.
    pub tasks: TaskTracker,
    /// Asked before every start: the namespaces' quotas.
    pub quota: Arc<dyn InstanceQuota>,
}

impl Launcher {
    /// A launcher over `parts`.
    pub fn new(parts: LauncherParts) -> Self {
        Launcher {
            executor: parts.executor,
            probe: parts.probe,
            images: parts.images,
            limits: parts.limits,
            events: parts.events,
            metrics: parts.metrics,
            tasks: parts.tasks,
            quota: parts.quota,
        }
    }

    /// The same launcher on another backend.
    pub fn on(&self, executor: Arc<dyn Executor>) -> Self {
        Launcher {
            executor,
            ..self.clone()
        }
    }

    /// The backend instances start on.
    pub fn executor(&self) -> &Arc<dyn Executor> {
        &self.executor
    }

    /// The shared limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The metrics starts are counted in.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Reports a failure or a recovery for the callback's record.
    pub fn report(&self, event: RuntimeEvent) {
        // The receiver lives as long as the app; a closed channel means shutdown.
        let _ = self.events.send(event);
    }

    /// Runs `work` in the background, tracked.
    pub fn spawn<F>(&self, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(work);
    }

    /// Starts one instance of `target` if its namespace's quota has room for it, rebuilding
    /// its image from its stored definition when it has gone missing.
    pub async fn launch(
        &self,
        target: Target<'_>,
        on_failure: OnFailure,
    ) -> Result<Started, StartError> {
        // Reserved before anything starts, released (dropped) if the start fails.
        let admission = self.quota.admit(target.spec)?;
        let launched = match self.launch_once(target, on_failure).await {
            Err(StartError::Backend(ExecutorError::ImageMissing { image })) => {
                self.rebuild(target, &image).await?;
                self.launch_once(target, on_failure).await
            }
            other => other,
        }?;
        Ok(match launched {
            (instance, None) => Started::Ready(instance, admission),
            (instance, Some(e)) => Started::Restarting(instance, e, admission),
        })
    }

    /// Room for an instance that already runs (taken over after a restart), counted even
    /// over quota.
    pub fn count(&self, spec: &CallbackSpec) -> Admission {
        self.quota.count(spec)
    }

    /// The instance, healthy, or with how it exited when the backend restarts it in place.
    async fn launch_once(
        &self,
        target: Target<'_>,
        on_failure: OnFailure,
    ) -> Result<(Instance, Option<StartError>), StartError> {
        let executor = self.executor.as_ref();
        let timeout = self.limits.startup_timeout;
        let instance = begin(executor, &target.instance_spec(), timeout).await?;
        match wait_healthy(executor, self.probe.as_ref(), &instance, timeout).await {
            Ok(()) => Ok((instance, None)),
            // A cold start whose instance the backend restarts in place: removing it would
            // only make the next call start another.
            Err(e @ StartError::Exited { exit, .. })
                if exit.restarting && on_failure == OnFailure::KeepExited =>
            {
                Ok((instance, Some(e)))
            }
            Err(e) => Err(give_up(executor, &instance, e, on_failure).await),
        }
    }

    /// Thaws a paused instance and waits (briefly) until it answers again.
    pub async fn resume(&self, instance: &Instance) -> Result<(), StartError> {
        let executor = self.executor.as_ref();
        executor.resume(&instance.id).await?;
        wait_healthy(executor, self.probe.as_ref(), instance, RESUME_TIMEOUT).await
    }

    /// Freezes an instance that idled out of service.
    pub async fn pause(&self, instance: &Instance) -> Result<(), ExecutorError> {
        self.executor.pause(&instance.id).await
    }

    async fn rebuild(&self, target: Target<'_>, image: &str) -> Result<(), StartError> {
        self.images
            .rebuild(target.spec, image)
            .await
            .map_err(|e| StartError::ImageUnavailable {
                image: image.to_owned(),
                reason: e.to_string(),
            })
    }

    /// Runs one job-mode call of `target` with `env` added to its environment, if its
    /// namespace's quota has room for one more instance (held while the job runs), rebuilding
    /// a lost image first.
    pub async fn run_job(
        &self,
        target: Target<'_>,
        env: &[(&str, String)],
        event: &str,
        timeout: Duration,
    ) -> Result<JobOutcome, StartError> {
        let _admission = self.quota.admit(target.spec)?;
        let mut spec = target.instance_spec();
        for (k, v) in env {
            spec.env.insert((*k).to_owned(), v.clone());
        }
        match self.executor.run_job(&spec, event, timeout).await {
            Err(ExecutorError::ImageMissing { image }) => {
                self.rebuild(target, &image).await?;
                Ok(self.executor.run_job(&spec, event, timeout).await?)
            }
            other => Ok(other?),
        }
    }
}
