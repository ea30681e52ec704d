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
mod replicas;
mod retire;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use tokio::sync::mpsc;

use super::{
    Executor, ExecutorError, Instance, InstanceExit, InstanceSpec, InstanceStatus, JobOutcome,
    LogLine, ObservedInstance,
};
pub use objects::RUNTIME_PORT;

/// How long a start waits for a new pod's container to run (or fail) before giving up: the
/// default of `FAAS_STARTUP_TIMEOUT_MS`; a pod no node can take must not hang a deploy.
const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs instances as pods of per-revision Deployments, and job-mode calls as Jobs.
pub struct KubeExecutor {
    client: kube::Client,
    namespace: String,
    gateway_id: String,
    pod_port: u16,
    start_timeout: Duration,
    /// Pods handed out as instances (or taken over after a restart), which no later start
    /// may hand out again. A std mutex: it is never held across an `.await`.
    claimed: Mutex<HashSet<String>>,
    /// Whether the pods found at the first listing were claimed (see `observe::list`).
    seeded: AtomicBool,
    /// One lock per Deployment, so this gateway's own starts and removals change its
    /// replicas one after the other instead of racing on its resourceVersion.
    scaling: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
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
            claimed: Mutex::new(HashSet::new()),
            seeded: AtomicBool::new(false),
            scaling: Mutex::new(HashMap::new()),
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

    /// How long a start waits for a pod that neither runs nor fails (unschedulable …).
    pub fn with_start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
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

    fn claimed(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.claimed.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn scaling_lock(&self, deployment: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.scaling.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(locks.entry(deployment.to_owned()).or_default())
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

    async fn watch(&self, tx: mpsc::Sender<InstanceExit>) -> Result<(), ExecutorError> {
        self.watch_exits(tx).await
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
