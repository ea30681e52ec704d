//! Replicas: a Deployment scaled by one (its replica count read and written under its
//! resourceVersion), and one chosen pod removed.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;

use super::instances::label;
use super::names::{self, Role};
use super::objects::{DELETION_COST, DELETION_COST_REMOVE};
use super::{KubeExecutor, errors};
use crate::executor::{CALLBACK_LABEL, ExecutorError, REVISION_LABEL, ROLE_LABEL};

/// Read-modify-write attempts before giving up on an object others keep changing.
const MAX_CONFLICTS: usize = 10;

impl KubeExecutor {
    /// Changes a Deployment's replicas by `delta` (never below 0); `None` when it does not
    /// exist. Within this gateway, changes to one Deployment queue on a lock, so only the
    /// controllers' status updates make [`change_replicas`] retry.
    pub(super) async fn scale(&self, name: &str, delta: i32) -> Result<Option<i32>, ExecutorError> {
        let lock = self.scaling_lock(name);
        let _one_at_a_time = lock.lock().await;
        change_replicas(&self.deployments(), name, delta).await
    }

    /// Removes one pod: marks it as the cheapest to delete, drops a replica of its
    /// Deployment, then deletes it. The mark is written with the pod's resourceVersion as
    /// precondition, so of two removals of one pod only one drops a replica; deleting the pod
    /// as well covers a ReplicaSet that preferred a pod still starting.
    pub(super) async fn remove_pod(&self, id: &str) -> Result<(), ExecutorError> {
        self.mark_and_scale_down(id).await?;
        let deleted = errors::raw(self.pods().delete(id, &DeleteParams::default())).await?;
        match deleted {
            Ok(_) => {}
            Err(e) if errors::is_not_found(&e) => {}
            Err(e) => return Err(errors::map(e, "delete", "pods")),
        }
        self.claimed().remove(id);
        Ok(())
    }

    async fn mark_and_scale_down(&self, id: &str) -> Result<(), ExecutorError> {
        let api = self.pods();
        for _ in 0..MAX_CONFLICTS {
            let got = errors::raw(api.get_opt(id)).await?;
            let Some(pod) = got.map_err(|e| errors::map(e, "get", "pods"))? else {
                return Ok(());
            };
            if label(&pod, ROLE_LABEL) == Some(Role::Job.as_str()) {
                return self.delete_job_of(&pod).await;
            }
            if pod.metadata.deletion_timestamp.is_some() || is_marked(&pod) {
                return Ok(());
            }
            let patch = json!({"metadata": {
                "resourceVersion": pod.metadata.resource_version,
                "annotations": {DELETION_COST: DELETION_COST_REMOVE},
            }});
            let pp = PatchParams::default();
            match errors::raw(api.patch(id, &pp, &Patch::Merge(&patch))).await? {
                Ok(_) => {}
                // The kubelet updated the pod meanwhile: read it again.
                Err(e) if errors::is_conflict(&e) => continue,
                Err(e) if errors::is_not_found(&e) => return Ok(()),
                Err(e) => return Err(errors::map(e, "patch", "pods")),
            }
            if let Some(deployment) = deployment_of(&pod) {
                self.scale(&deployment, -1).await?;
            }
            return Ok(());
        }
        Err(ExecutorError::Other(format!(
            "pod {id} kept changing while it was marked for removal"
        )))
    }

    /// A job pod found by `list` goes with its Job.
    async fn delete_job_of(&self, pod: &Pod) -> Result<(), ExecutorError> {
        let Some(job) = label(pod, "batch.kubernetes.io/job-name").or(label(pod, "job-name"))
        else {
            return Ok(());
        };
        self.delete_job(job).await
    }
}

/// Changes a Deployment's replicas by `delta`. The replica count read is a precondition of
/// the write (its resourceVersion), so concurrent changes each count.
async fn change_replicas(
    api: &Api<Deployment>,
    name: &str,
    delta: i32,
) -> Result<Option<i32>, ExecutorError> {
    for _ in 0..MAX_CONFLICTS {
        let got = errors::raw(api.get_opt(name)).await?;
        let Some(d) = got.map_err(|e| errors::map(e, "get", "deployments"))? else {
            return Ok(None);
        };
        let current = d.spec.replicas.unwrap_or(1);
        let replicas = (current + delta).max(0);
        let patch = json!({
            "metadata": {"resourceVersion": d.metadata.resource_version},
            "spec": {"replicas": replicas},
        });
        let pp = PatchParams::default();
        match errors::raw(api.patch(name, &pp, &Patch::Merge(&patch))).await? {
            Ok(_) => return Ok(Some(replicas)),
            Err(e) if errors::is_conflict(&e) => continue,
            Err(e) if errors::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(errors::map(e, "patch", "deployments")),
        }
    }
    Err(ExecutorError::Other(format!(
        "deployment {name} kept changing while it was scaled"
    )))
}

/// Gives back the replica a start added if the start is dropped before it claimed a pod
/// (its caller went away), so no replica is left that nobody uses.
pub(super) struct GiveBack {
    api: Api<Deployment>,
    name: String,
    armed: bool,
}

impl GiveBack {
    pub(super) fn new(api: Api<Deployment>, name: &str) -> Self {
        GiveBack {
            api,
            name: name.into(),
            armed: true,
        }
    }

    /// The start finished; it handles its replica itself.
    pub(super) fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for GiveBack {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (api, name) = (self.api.clone(), self.name.clone());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = change_replicas(&api, &name, -1).await {
                    tracing::warn!(deployment = %name, error = %e, "cannot give back the replica of an abandoned start");
                }
            });
        }
    }
}

/// Whether the gateway marked this pod for removal.
pub(super) fn is_marked(pod: &Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DELETION_COST))
        .is_some_and(|v| v == DELETION_COST_REMOVE)
}

/// The Deployment a service pod belongs to, from its labels.
fn deployment_of(pod: &Pod) -> Option<String> {
    let callback = label(pod, CALLBACK_LABEL)?;
    let revision = label(pod, REVISION_LABEL)?.parse().ok()?;
    Some(names::deployment_name(callback, revision))
}
