//! Replicas: a Deployment scaled by one (its replica count read and written under its
//! resourceVersion), and one chosen pod removed.

use std::sync::{Arc, Mutex};

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
        let _one_at_a_time = self.scaling.lock(name).await;
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

/// Where a start's replica stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The patch that adds it is on its way.
    Adding,
    /// Added: the start owns it.
    Added,
    /// The start was dropped while the patch was on its way: whoever finishes the patch
    /// gives it back.
    Abandoned,
    /// Handed over (a pod was claimed) or given back: nothing left to do.
    Done,
}

/// A replica added for one start. Dropped before [`Replica::keep`] (the start's caller went
/// away), it is given back — also when the caller went away while it was being added, so no
/// replica is left that nobody uses.
pub(super) struct Replica {
    api: Api<Deployment>,
    name: String,
    stage: Arc<Mutex<Stage>>,
    tasks: tokio_util::task::TaskTracker,
}

impl KubeExecutor {
    /// Adds a replica to a Deployment, in a task of its own so a caller that goes away
    /// midway cannot leave it behind; `None` when the Deployment does not exist.
    pub(super) async fn add_replica(&self, name: &str) -> Result<Option<Replica>, ExecutorError> {
        let stage = Arc::new(Mutex::new(Stage::Adding));
        let replica = Replica {
            api: self.deployments(),
            name: name.to_owned(),
            stage: Arc::clone(&stage),
            tasks: self.tasks.clone(),
        };
        let (api, locks, name) = (self.deployments(), self.scaling_locks(), name.to_owned());
        let adding = self.tasks.spawn(async move {
            let added = {
                let _one_at_a_time = locks.lock(&name).await;
                change_replicas(&api, &name, 1).await
            };
            let abandoned = {
                let mut stage = stage.lock().unwrap_or_else(|p| p.into_inner());
                let abandoned = *stage == Stage::Abandoned;
                *stage = if matches!(added, Ok(Some(_))) && !abandoned {
                    Stage::Added
                } else {
                    Stage::Done
                };
                abandoned
            };
            if abandoned && matches!(added, Ok(Some(_))) {
                give_back(&api, &name).await;
            }
            added
        });
        let added = adding.await.map_err(|e| {
            ExecutorError::Other(format!("adding a replica to {} stopped: {e}", replica.name))
        })??;
        Ok(added.map(|_| replica))
    }
}

impl Replica {
    /// A pod was claimed for it: the start keeps it.
    pub(super) fn keep(self) {
        *self.lock() = Stage::Done;
    }

    /// The start failed: the replica goes back now.
    pub(super) async fn give_back(self) {
        *self.lock() = Stage::Done;
        give_back(&self.api, &self.name).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Stage> {
        self.stage.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let added = {
            let mut stage = self.lock();
            match *stage {
                Stage::Adding => {
                    *stage = Stage::Abandoned;
                    false
                }
                Stage::Added => {
                    *stage = Stage::Done;
                    true
                }
                Stage::Abandoned | Stage::Done => false,
            }
        };
        if !added {
            return;
        }
        let (api, name) = (self.api.clone(), self.name.clone());
        KubeExecutor::spawn_tracked(&self.tasks, async move { give_back(&api, &name).await });
    }
}

async fn give_back(api: &Api<Deployment>, name: &str) {
    if let Err(e) = change_replicas(api, name, -1).await {
        tracing::warn!(deployment = %name, error = %e, "cannot give back the replica of a start");
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
