//! Job mode on Kubernetes: one Job per call (`backoffLimit: 0`, killed at its deadline), the
//! event in the environment or, when large, in a ConfigMap; the response document read from
//! the pod's termination message; the Job and ConfigMap deleted afterwards.

use std::time::Duration;

use futures::StreamExt;
use futures::stream::{self, BoxStream};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::watcher;
use tokio::time::Instant;

use super::classify::{JobState, PodState, Stopped, job_state, pod_state};
use super::instances::{pending_reason, watch_ended};
use super::names;
use super::objects::{self, EventSource};
use super::{KubeExecutor, errors};
use crate::executor::{ExecutorError, InstanceSpec, JobOutcome};

/// Largest event passed in the environment.
const MAX_ENV_EVENT: usize = 64 * 1024;
/// Largest event a ConfigMap holds (the API stores objects up to 1 MiB, metadata included).
const MAX_CONFIG_MAP_EVENT: usize = 1000 * 1024;
/// Lines of output kept for error details.
const LOG_LINES: usize = 50;
/// Slack on a Job's own deadline (`activeDeadlineSeconds`) beyond the time its pod may take to
/// start and the function's timeout. The gateway ends a job itself at the function's timeout
/// counted from its container's start; the Job's deadline only ends a job whose gateway went
/// away.
const JOB_DEADLINE_SLACK: Duration = Duration::from_secs(5);

/// What the two watches of a running job report.
enum Seen {
    Job(Box<Job>),
    Pod(Box<Pod>),
}

impl KubeExecutor {
    /// Creates one Job for `event`, waits for its end and deletes it.
    pub(super) async fn run_job_to_end(
        &self,
        spec: &InstanceSpec,
        event: &str,
        timeout: Duration,
    ) -> Result<JobOutcome, ExecutorError> {
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let name = names::job_name(&spec.callback, suffix);
        let large = event.len() > MAX_ENV_EVENT;
        if event.len() > MAX_CONFIG_MAP_EVENT {
            return Err(ExecutorError::Other(format!(
                "the event of {} bytes is over the {MAX_CONFIG_MAP_EVENT} bytes a Kubernetes job can receive",
                event.len()
            )));
        }
        // Deletes what was created if this call is dropped half-way (its caller went away).
        let mut guard = Cleanup::new(self, &name);
        let pp = PostParams::default();
        let source = if large {
            let cm = objects::event_config_map(&self.gateway_id, &name, spec, event);
            errors::call(self.config_maps().create(&pp, &cm), "create", "configmaps").await?;
            EventSource::ConfigMap
        } else {
            EventSource::Env(event)
        };
        let backstop = self.start_timeout + timeout + JOB_DEADLINE_SLACK;
        let job = objects::job(self.shape(), &name, spec, source, backstop);
        let outcome = match errors::call(self.jobs().create(&pp, &job), "create", "jobs").await {
            Ok(_) => self.await_job(&name, timeout).await,
            Err(e) => Err(e),
        };
        guard.disarm();
        if let Err(e) = self.delete_job(&name).await {
            tracing::warn!(job = %name, error = %e, "cannot delete a finished job");
        }
        outcome
    }

    /// Deletes a Job with its pods, and its event ConfigMap if it had one.
    pub(super) async fn delete_job(&self, name: &str) -> Result<(), ExecutorError> {
        let dp = DeleteParams::background();
        match errors::raw(self.jobs().delete(name, &dp)).await? {
            Ok(_) => {}
            Err(e) if errors::is_not_found(&e) => {}
            Err(e) => return Err(errors::map(e, "delete", "jobs")),
        }
        match errors::raw(self.config_maps().delete(name, &DeleteParams::default())).await? {
            Ok(_) => Ok(()),
            Err(e) if errors::is_not_found(&e) => Ok(()),
            Err(e) => Err(errors::map(e, "delete", "configmaps")),
        }
    }

    /// Watches the Job and its pod until it ends, classifying each state as it appears. The
    /// function gets its whole `timeout` from the moment its container runs: scheduling and
    /// the image pull do not eat it, they fail with their own errors (or, past the start
    /// timeout, as a job that did not start).
    async fn await_job(&self, name: &str, timeout: Duration) -> Result<JobOutcome, ExecutorError> {
        let mut events = self.job_events(name);
        let mut clock = JobClock::new(self.start_timeout, timeout);
        let mut last_pod: Option<String> = None;
        let mut pending_because: Option<String> = None;
        loop {
            let seen = match tokio::time::timeout_at(clock.deadline(), events.next()).await {
                Err(_) if clock.started() => return Ok(self.timed_out(last_pod.as_deref()).await),
                Err(_) => return Err(not_started(name, self.start_timeout, pending_because)),
                Ok(None) => return Err(watch_ended()),
                Ok(Some(Err(e))) if errors::is_transient_watch_error(&e) => continue,
                Ok(Some(Err(e))) => return Err(errors::map_watch(e, "jobs")),
                Ok(Some(Ok(seen))) => seen,
            };
            match seen {
                Seen::Job(job) => match job_state(&job) {
                    // Its own deadline is a backstop far past the function's timeout.
                    JobState::TimedOut if clock.started() => {
                        return Ok(self.timed_out(last_pod.as_deref()).await);
                    }
                    JobState::TimedOut => {
                        return Err(not_started(name, self.start_timeout, pending_because));
                    }
                    JobState::Running => {}
                    // Ended, but its pod's exit has not been seen: read it once.
                    JobState::Complete | JobState::Failed { .. } => {
                        return self.ended_without_exit(name, &job).await;
                    }
                },
                Seen::Pod(pod) => {
                    let pod_name = pod.metadata.name.clone().unwrap_or_default();
                    match pod_state(&pod) {
                        PodState::Stopped(exit) => return self.exited(name, &pod_name, exit).await,
                        PodState::ImagePull { image, message } => {
                            return Err(ExecutorError::ImagePull { image, message });
                        }
                        PodState::Unschedulable { message } => {
                            return Err(ExecutorError::Unschedulable { reason: message });
                        }
                        PodState::Unstartable { reason, message } => {
                            return Err(ExecutorError::Other(format!(
                                "job {name} cannot start its container: {reason}: {message}"
                            )));
                        }
                        PodState::Running { .. } => {
                            clock.container_runs();
                            last_pod = Some(pod_name);
                        }
                        PodState::Pending => {
                            pending_because = pending_reason(&pod).or(pending_because);
                            last_pod = Some(pod_name);
                        }
                    }
                }
            }
        }
    }

    /// The Job's and its pods' changes as one stream.
    fn job_events(&self, name: &str) -> BoxStream<'static, Result<Seen, watcher::Error>> {
        let jobs = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let pods =
            watcher::Config::default().labels(&format!("batch.kubernetes.io/job-name={name}"));
        let jobs = watcher(self.jobs(), jobs).filter_map(|e| async move {
            match e {
                Ok(watcher::Event::Apply(j) | watcher::Event::InitApply(j)) => {
                    Some(Ok(Seen::Job(Box::new(j))))
                }
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            }
        });
        let pods = watcher(self.pods(), pods).filter_map(|e| async move {
            match e {
                Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => {
                    Some(Ok(Seen::Pod(Box::new(p))))
                }
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            }
        });
        stream::select(jobs, pods).boxed()
    }

    /// The pod stopped. A kill at the deadline also ends here; the Job controller marks the
    /// Job before it kills the pod, so a fresh read of the Job tells.
    async fn exited(
        &self,
        job: &str,
        pod: &str,
        exit: Stopped,
    ) -> Result<JobOutcome, ExecutorError> {
        if exit.exit_code != 0 {
            let got = errors::call(self.jobs().get_opt(job), "get", "jobs").await?;
            if got.as_ref().map(job_state) == Some(JobState::TimedOut) {
                return Ok(self.timed_out(Some(pod)).await);
            }
        }
        let log = self.read_log(pod, LOG_LINES, false, false).await?;
        // The termination message holds the response document; the kubelet cuts it at 4 KiB,
        // so a longer one is read from the last line of output, where the runtime prints it too.
        let document = exit
            .message
            .filter(|m| serde_json::from_str::<serde_json::Value>(m).is_ok())
            .or_else(|| last_line(&log));
        Ok(JobOutcome {
            exit_code: exit.exit_code,
            oom_killed: exit.oom_killed,
            timed_out: false,
            document,
            log,
        })
    }

    async fn ended_without_exit(&self, name: &str, job: &Job) -> Result<JobOutcome, ExecutorError> {
        let lp = kube::api::ListParams::default()
            .labels(&format!("batch.kubernetes.io/job-name={name}"));
        let pods = errors::call(self.pods().list(&lp), "list", "pods").await?;
        for pod in &pods.items {
            if let PodState::Stopped(exit) = pod_state(pod) {
                let pod_name = pod.metadata.name.clone().unwrap_or_default();
                return self.exited(name, &pod_name, exit).await;
            }
        }
        let exit_code = if job_state(job) == JobState::Complete {
            0
        } else {
            -1
        };
        Ok(JobOutcome {
            exit_code,
            oom_killed: false,
            timed_out: false,
            document: None,
            log: String::new(),
        })
    }

    async fn timed_out(&self, pod: Option<&str>) -> JobOutcome {
        let log = match pod {
            Some(pod) => self
                .read_log(pod, LOG_LINES, false, false)
                .await
                .unwrap_or_default(),
            None => String::new(),
        };
        JobOutcome {
            exit_code: -1,
            oom_killed: false,
            timed_out: true,
            document: None,
            log,
        }
    }
}

/// When a job must have started, and when it must have ended.
struct JobClock {
    created: Instant,
    start_timeout: Duration,
    timeout: Duration,
    running_since: Option<Instant>,
}

impl JobClock {
    fn new(start_timeout: Duration, timeout: Duration) -> Self {
        JobClock {
            created: Instant::now(),
            start_timeout,
            timeout,
            running_since: None,
        }
    }

    /// The container runs: the function's timeout counts from the first time this is seen
    /// (never earlier than the container's real start).
    fn container_runs(&mut self) {
        self.running_since.get_or_insert_with(Instant::now);
    }

    fn started(&self) -> bool {
        self.running_since.is_some()
    }

    fn deadline(&self) -> Instant {
        match self.running_since {
            Some(t) => t + self.timeout,
            None => self.created + self.start_timeout,
        }
    }
}

fn not_started(job: &str, start_timeout: Duration, why: Option<String>) -> ExecutorError {
    let why = why.map(|w| format!(" ({w})")).unwrap_or_default();
    ExecutorError::NotStarted {
        reason: format!(
            "the pod of job {job} did not start within {} s{why}",
            start_timeout.as_secs()
        ),
    }
}

fn last_line(log: &str) -> Option<String> {
    log.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::to_owned)
}

/// Deletes a job's objects in the background unless disarmed: a dropped call must not
/// leave its Job (and ConfigMap) behind.
struct Cleanup {
    jobs: kube::Api<Job>,
    config_maps: kube::Api<k8s_openapi::api::core::v1::ConfigMap>,
    name: String,
    armed: bool,
    tasks: tokio_util::task::TaskTracker,
}

impl Cleanup {
    fn new(executor: &KubeExecutor, name: &str) -> Self {
        Cleanup {
            jobs: executor.jobs(),
            config_maps: executor.config_maps(),
            name: name.into(),
            armed: true,
            tasks: executor.tasks.clone(),
        }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (jobs, config_maps, name) = (
            self.jobs.clone(),
            self.config_maps.clone(),
            self.name.clone(),
        );
        KubeExecutor::spawn_tracked(&self.tasks, async move {
            let _ = jobs.delete(&name, &DeleteParams::background()).await;
            let _ = config_maps.delete(&name, &DeleteParams::default()).await;
        });
    }
}
