//! Starting a service instance: a replica more for the revision's Deployment, then the first
//! new pod whose container runs (or cannot start) is claimed, its state read as it appears.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use chrono::Utc;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::PostParams;
use kube::runtime::watcher;
use tokio::time::Instant;

use super::classify::{PodState, pod_state};
use super::names::{self, Role};
use super::objects;
use super::replicas::is_marked;
use super::{KubeExecutor, errors};
use crate::executor::{ExecutorError, Instance, InstanceSpec, NAMESPACE_LABEL};

/// What a start found.
enum Claim {
    /// A new pod whose container runs, or already stopped: the caller's health check and
    /// `status` tell which (and read its output).
    Started(Instance),
    /// A new pod that cannot start at all (its image cannot be pulled …).
    Failed { pod: String, error: ExecutorError },
}

/// What one pod means to a waiting start.
enum Seen {
    Claimed(Claim),
    /// Not started yet; why, when the pod says.
    Pending(Option<String>),
    /// Taken, going away, or someone else's.
    Skip,
}

impl KubeExecutor {
    /// Adds a replica and waits until a pod no start has claimed runs or fails.
    pub(super) async fn start_pod(&self, spec: &InstanceSpec) -> Result<Instance, ExecutorError> {
        let name = names::deployment_name(&spec.callback, spec.revision);
        let replica = match self.add_replica(&name).await? {
            Some(replica) => replica,
            None => {
                self.create_revision(spec).await?;
                self.add_replica(&name).await?.ok_or_else(|| {
                    ExecutorError::Other(format!(
                        "deployment {name} disappeared while it was scaled up"
                    ))
                })?
            }
        };
        // The revision's pods by the labels that name a revision: those of a Deployment made
        // before namespaces existed carry no namespace label.
        let mut labels = names::labels(&self.gateway_id, spec, Role::Service);
        labels.remove(NAMESPACE_LABEL);
        let selector = names::selector(&labels);
        match self.claim_new_pod(&name, &selector).await {
            Ok(Claim::Started(instance)) => {
                replica.keep();
                Ok(instance)
            }
            Ok(Claim::Failed { pod, error }) => {
                // Removing the pod takes its replica with it.
                replica.keep();
                if let Err(e) = self.remove_pod(&pod).await {
                    tracing::warn!(instance.id = %pod, error = %e, "cannot remove a pod that failed to start");
                }
                Err(error)
            }
            Err(e) => {
                // The ReplicaSet deletes a pod that is not ready first.
                replica.give_back().await;
                Err(e)
            }
        }
    }

    /// Creates the revision's Deployment and Service unless they exist.
    async fn create_revision(&self, spec: &InstanceSpec) -> Result<(), ExecutorError> {
        let pp = PostParams::default();
        let deployment = objects::deployment(self.shape(), spec);
        tolerate_exists(
            errors::raw(self.deployments().create(&pp, &deployment)).await?,
            "deployments",
        )?;
        let service = objects::service(&self.gateway_id, spec);
        tolerate_exists(
            errors::raw(self.services().create(&pp, &service)).await?,
            "services",
        )
    }

    /// Watches the revision's pods until one no start has claimed runs or fails, classifying
    /// each state as it appears.
    async fn claim_new_pod(
        &self,
        deployment: &str,
        selector: &str,
    ) -> Result<Claim, ExecutorError> {
        let deadline = Instant::now() + self.start_timeout;
        let config = watcher::Config::default().labels(selector);
        let mut events = watcher(self.pods(), config).boxed();
        let mut pending_because = None;
        loop {
            let next = match tokio::time::timeout_at(deadline, events.next()).await {
                Ok(Some(next)) => next,
                Ok(None) => return Err(watch_ended()),
                Err(_) => return Err(self.start_timed_out(deployment, pending_because)),
            };
            let pod = match next {
                Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) => pod,
                Ok(_) => continue,
                Err(e) if errors::is_transient_watch_error(&e) => continue,
                Err(e) => return Err(errors::map_watch(e, "pods")),
            };
            match self.consider(&pod) {
                Seen::Claimed(claim) => return Ok(claim),
                Seen::Pending(why) => pending_because = why.or(pending_because),
                Seen::Skip => {}
            }
        }
    }

    fn consider(&self, pod: &Pod) -> Seen {
        let Some(name) = pod.metadata.name.clone() else {
            return Seen::Skip;
        };
        if pod.metadata.deletion_timestamp.is_some() || is_marked(pod) {
            return Seen::Skip;
        }
        let state = pod_state(pod);
        let claim = match state {
            PodState::Pending | PodState::Running { ip: None, .. } => {
                return Seen::Pending(pending_reason(pod));
            }
            PodState::Running { ip: Some(ip), .. } => {
                Claim::Started(self.instance(&name, Some(ip)))
            }
            PodState::Stopped(_) => Claim::Started(self.instance(&name, pod_ip(pod))),
            // The scheduler said so: reported now, not when the start times out.
            PodState::Unschedulable { message } => Claim::Failed {
                pod: name.clone(),
                error: ExecutorError::Unschedulable { reason: message },
            },
            PodState::ImagePull { image, message } => Claim::Failed {
                pod: name.clone(),
                error: ExecutorError::ImagePull { image, message },
            },
            PodState::Unstartable { reason, message } => Claim::Failed {
                pod: name.clone(),
                error: ExecutorError::Other(format!(
                    "pod {name} cannot start its container: {reason}: {message}"
                )),
            },
        };
        // Two starts may see the same pod: the first to insert it owns it.
        if self.claim(&name) {
            Seen::Claimed(claim)
        } else {
            Seen::Skip
        }
    }

    pub(super) fn instance(&self, name: &str, ip: Option<IpAddr>) -> Instance {
        let endpoint = match ip {
            Some(ip) => SocketAddr::new(ip, self.pod_port),
            None => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        };
        Instance {
            id: name.into(),
            endpoint,
            started_at: Utc::now(),
        }
    }

    fn start_timed_out(&self, deployment: &str, why: Option<String>) -> ExecutorError {
        let why = why.map(|w| format!(" ({w})")).unwrap_or_default();
        ExecutorError::NotStarted {
            reason: format!(
                "no new pod of deployment {deployment} started within {} s{why}",
                self.start_timeout.as_secs()
            ),
        }
    }
}

pub(super) fn label<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

pub(super) fn pod_ip(pod: &Pod) -> Option<IpAddr> {
    pod.status.as_ref()?.pod_ip.as_deref()?.parse().ok()
}

/// Why a pod has not started: the scheduler's or the kubelet's word.
pub(super) fn pending_reason(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    let unscheduled = status.conditions.as_ref().and_then(|cs| {
        cs.iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
            .and_then(|c| c.message.clone())
    });
    let waiting = || {
        let cs = status.container_statuses.as_ref()?.first()?;
        let w = cs.state.as_ref()?.waiting.as_ref()?;
        w.reason.clone()
    };
    unscheduled.or_else(waiting)
}

fn tolerate_exists<T>(r: kube::Result<T>, resource: &str) -> Result<(), ExecutorError> {
    match r {
        Ok(_) => Ok(()),
        // Created meanwhile by a concurrent start.
        Err(e) if errors::is_conflict(&e) => Ok(()),
        Err(e) => Err(errors::map(e, "create", resource)),
    }
}

pub(super) fn watch_ended() -> ExecutorError {
    ExecutorError::Unavailable {
        backend: "kubernetes",
        reason: "the watch stream ended".into(),
    }
}
