//! The Kubernetes backend (SPEC 8): per revision a Deployment and a ClusterIP Service whose
//! replicas the gateway scales itself, one pod per instance (reached on its pod IP); per
//! job-mode call one Job.
//!
//! Scaling works with the Deployment rather than around it: a start adds a replica and claims
//! the first new pod whose container runs (or fails); a removal marks its pod with the lowest
//! deletion cost, drops a replica (so the ReplicaSet deletes that pod and no other) and
//! deletes the pod. Pod states are classified as they appear on a watch, so an image that
//! cannot be pulled or a container killed for its memory is reported at once.

mod classify;
mod errors;
mod instances;
mod jobs;
mod names;
mod objects;
mod observe;
pub mod permissions;
mod pod_events;
mod replicas;
mod retire;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use crate::keyed_locks::KeyedLocks;

use super::{
    Executor, ExecutorError, Instance, InstanceEvent, InstanceSpec, InstanceStatus, JobOutcome,
    LogLine, ObservedInstance,
};
pub use objects::RUNTIME_PORT;

/// How long a start waits for a new pod's container to run (or fail) before giving up: the
/// default of `FAAS_STARTUP_TIMEOUT_MS`; a pod no node can take must not hang a deploy.
const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(60);
use crate::config::DEFAULT_KUBE_CPU_REQUEST as DEFAULT_CPU_REQUEST;

/// Runs instances as pods of per-revision Deployments, and job-mode calls as Jobs.
pub struct KubeExecutor {
    client: kube::Client,
    namespace: String,
    gateway_id: String,
    pod_port: u16,
    start_timeout: Duration,
    /// A pod's CPU request as a fraction of its limit.
    cpu_request: f64,
    /// Pods handed out as instances (or taken over after a restart), which no later start
    /// may hand out again. A std mutex: it is never held across an `.await`.
    claimed: Mutex<HashMap<String, tokio::time::Instant>>,
    /// Whether the pods found at the first listing were claimed (see `observe::list`).
    seeded: AtomicBool,
    /// One lock per Deployment, so this gateway's own starts and removals change its
    /// replicas one after the other instead of racing on its resourceVersion.
    scaling: KeyedLocks,
    /// Where clean-ups of abandoned starts and calls run, so shutdown can wait for them.
    tasks: TaskTracker,
}

impl KubeExecutor {
    /// An executor working in `namespace`, owning the objects labelled with `gateway_id`.
    pub fn new(client: kube::Client, namespace: &str, gateway_id: &str) -> Self {
        KubeExecutor {
            client,
            namespace: namespace.into(),
            gateway_id: gateway_id.into(),
            pod_port: RUNTIME_PORT,
            start_timeout: DEFAULT_START_TIMEOUT,
            cpu_request: DEFAULT_CPU_REQUEST,
            claimed: Mutex::new(HashMap::new()),
            seeded: AtomicBool::new(false),
            scaling: KeyedLocks::default(),
            tasks: TaskTracker::new(),
        }
    }

    /// An executor on the cluster the environment names: the in-cluster ServiceAccount, or
    /// `KUBECONFIG` / `~/.kube/config`.
    pub async fn from_env(namespace: &str, gateway_id: &str) -> Result<Self, ExecutorError> {
        let client = kube::Client::try_default()
            .await
            .map_err(|e| errors::map(e, "connect to", "the API server"))?;
        Ok(Self::new(client, namespace, gateway_id))
    }

    /// Dials pods on `port` instead of the runtime's 8080 (for a network that maps ports,
    /// such as the tests' stand-in pods).
    pub fn with_pod_port(mut self, port: u16) -> Self {
        self.pod_port = port;
        self
    }

    /// How long a start (or a job's pod) may take to run its container: scheduling, pulling
    /// the image, creating the container.
    pub fn with_start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Runs its background clean-ups on `tasks` (the gateway's, drained at shutdown).
    pub fn with_tasks(mut self, tasks: TaskTracker) -> Self {
        self.tasks = tasks;
        self
    }

    /// Runs `work` in the background, tracked; nothing runs outside a runtime (a test's
    /// teardown), where there is nothing left to clean with.
    pub(super) fn spawn_tracked<F>(tasks: &TaskTracker, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            tasks.spawn_on(work, &rt);
        }
    }

    /// Requests this fraction of each pod's CPU limit (`FAAS_KUBE_CPU_REQUEST`).
    pub fn with_cpu_request(mut self, fraction: f64) -> Self {
        self.cpu_request = fraction;
        self
    }

    fn shape(&self) -> objects::PodShape<'_> {
        objects::PodShape {
            gateway_id: &self.gateway_id,
            cpu_request: self.cpu_request,
        }
    }

    fn pods(&self) -> kube::Api<Pod> {
        kube::Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn deployments(&self) -> kube::Api<Deployment> {
        kube::Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn services(&self) -> kube::Api<Service> {
        kube::Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn jobs(&self) -> kube::Api<Job> {
        kube::Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn config_maps(&self) -> kube::Api<ConfigMap> {
        kube::Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn claimed(&self) -> std::sync::MutexGuard<'_, HashMap<String, tokio::time::Instant>> {
        self.claimed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims a pod for one start; false when another start (or a previous run of the
    /// gateway) has it.
    fn claim(&self, pod: &str) -> bool {
        let mut claimed = self.claimed();
        if claimed.contains_key(pod) {
            return false;
        }
        claimed.insert(pod.to_owned(), tokio::time::Instant::now());
        true
    }

    fn scaling_locks(&self) -> KeyedLocks {
        self.scaling.clone()
    }
}

#[async_trait]
impl Executor for KubeExecutor {
    async fn ping(&self) -> Result<String, ExecutorError> {
        let info = errors::call(self.client.apiserver_version(), "get", "/version").await?;
        Ok(format!("kubernetes {}", info.git_version))
    }

    async fn start(&self, spec: &InstanceSpec) -> Result<Instance, ExecutorError> {
        self.start_pod(spec).await
    }

    async fn remove(&self, id: &str) -> Result<(), ExecutorError> {
        self.remove_pod(id).await
    }

    /// A pod cannot be stopped and kept: stopping one removes it like [`Self::remove`].
    async fn stop(&self, id: &str) -> Result<(), ExecutorError> {
        self.remove_pod(id).await
    }

    async fn watch(&self, tx: mpsc::Sender<InstanceEvent>) -> Result<(), ExecutorError> {
        self.watch_pods(tx).await
    }

    async fn status(&self, id: &str) -> Result<InstanceStatus, ExecutorError> {
        self.pod_status(id).await
    }

    async fn list(&self) -> Result<Vec<ObservedInstance>, ExecutorError> {
        self.list_pods().await
    }

    async fn run_job(
        &self,
        spec: &InstanceSpec,
        event: &str,
        timeout: Duration,
    ) -> Result<JobOutcome, ExecutorError> {
        self.run_job_to_end(spec, event, timeout).await
    }

    async fn retire(
        &self,
        callback: Option<&str>,
        keep: &BTreeMap<String, u64>,
    ) -> Result<(), ExecutorError> {
        self.retire_revisions(callback, keep).await
    }

    async fn logs(&self, ids: &[String], tail: usize) -> Result<Vec<LogLine>, ExecutorError> {
        self.pod_logs(ids, tail).await
    }
}
