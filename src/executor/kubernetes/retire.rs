//! Deleting what a revision leaves besides its pods: its Deployment and Service, once the
//! revision no longer serves (replaced, moved to another backend, undeployed, forgotten); and
//! when a whole callback goes, its Jobs (with their event ConfigMaps), even those whose pod
//! is not there yet.

use std::collections::BTreeMap;

use kube::api::{DeleteParams, ListParams};

use super::{KubeExecutor, errors, names};
use crate::executor::{CALLBACK_LABEL, ExecutorError, REVISION_LABEL};

impl KubeExecutor {
    /// Deletes the Deployments and Services of `callback` (of every callback when `None`)
    /// whose revision `keep` does not name; and the Jobs of a `callback` that `keep` does not
    /// name at all.
    pub(super) async fn retire_revisions(
        &self,
        callback: Option<&str>,
        keep: &BTreeMap<String, u64>,
    ) -> Result<(), ExecutorError> {
        if let Some(cb) = callback.filter(|cb| !keep.contains_key(*cb)) {
            self.delete_jobs_of(cb).await?;
        }
        let mut selector = names::gateway_selector(&self.gateway_id);
        if let Some(cb) = callback {
            selector.push_str(&format!(",{CALLBACK_LABEL}={cb}"));
        }
        let lp = ListParams::default().labels(&selector);
        let listed = errors::raw(self.deployments().list(&lp))
            .await?
            .map_err(|e| errors::map(e, "list", "deployments"))?;
        for d in listed.items {
            let labels = d.metadata.labels.clone().unwrap_or_default();
            let (Some(cb), Some(rev)) = (labels.get(CALLBACK_LABEL), labels.get(REVISION_LABEL))
            else {
                continue;
            };
            let serving = rev
                .parse::<u64>()
                .ok()
                .is_some_and(|r| keep.get(cb) == Some(&r));
            let Some(name) = d.metadata.name.filter(|_| !serving) else {
                continue;
            };
            tracing::info!(callback.path = %cb, revision = %rev, "deleting a retired revision's Deployment and Service");
            match errors::raw(
                self.deployments()
                    .delete(&name, &DeleteParams::background()),
            )
            .await?
            {
                Ok(_) => {}
                Err(e) if errors::is_not_found(&e) => {}
                Err(e) => return Err(errors::map(e, "delete", "deployments")),
            }
            match errors::raw(self.services().delete(&name, &DeleteParams::default())).await? {
                Ok(_) => {}
                Err(e) if errors::is_not_found(&e) => {}
                Err(e) => return Err(errors::map(e, "delete", "services")),
            }
        }
        Ok(())
    }

    /// Deletes every Job of `callback` with its event ConfigMap (and, through the Job, its
    /// pods).
    async fn delete_jobs_of(&self, callback: &str) -> Result<(), ExecutorError> {
        let selector = format!(
            "{},{CALLBACK_LABEL}={callback}",
            names::gateway_selector(&self.gateway_id)
        );
        let lp = ListParams::default().labels(&selector);
        let listed = errors::raw(self.jobs().list(&lp))
            .await?
            .map_err(|e| errors::map(e, "list", "jobs"))?;
        for job in listed.items {
            if let Some(name) = job.metadata.name {
                tracing::info!(callback.path = %callback, job = %name, "deleting a Job of a callback that goes");
                self.delete_job(&name).await?;
            }
        }
        Ok(())
    }
}
