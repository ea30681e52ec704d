//! The Job controller's deadline, as the captured one keeps it: `activeDeadlineSeconds`
//! counts from `status.startTime` (cut to the second), not from the container's start. At the
//! deadline the Job gets `FailureTarget`/`DeadlineExceeded` while its pod terminates; after the
//! pod's termination grace the pod is gone, `failed` is 1 and the `Failed` condition follows.

use std::sync::Arc;

use serde_json::{Value, json};

use super::cluster::Cluster;
use super::fixtures;
use super::store::{Res, Store, name_of};

impl Cluster {
    /// Checks the Job's deadline at `at`.
    pub(super) fn spawn_deadline(self: &Arc<Self>, job: String, at: chrono::DateTime<chrono::Utc>) {
        let cluster = Arc::clone(self);
        tokio::spawn(async move {
            let wait = (at - chrono::Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(wait).await;
            let statuses = fixtures::job_deadline_statuses();
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let expired = cluster.write(|s| match s.get(Res::Jobs, &job).cloned() {
                Some(j) if !finished(&j) => {
                    set_status(s, j, &statuses[0], &now);
                    true
                }
                _ => false,
            });
            if !expired {
                return;
            }
            let grace = cluster.settings().grace;
            tokio::time::sleep(grace).await;
            let later = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            cluster.write(|s| {
                for pod in s.list(Res::Pods) {
                    if pod["metadata"]["ownerReferences"][0]["name"] == job.as_str() {
                        s.delete(Res::Pods, &name_of(&pod));
                    }
                }
                if let Some(j) = s.get(Res::Jobs, &job).cloned() {
                    let last = statuses.last().cloned().unwrap_or_default();
                    set_status(s, j, &last, &later);
                }
            });
        });
    }
}

/// Whether a Job already completed or failed.
fn finished(job: &Value) -> bool {
    job["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter().any(|c| {
            c["status"] == "True" && matches!(c["type"].as_str(), Some("Complete" | "Failed"))
        })
    })
}

/// The captured status, with this Job's start time and the transitions stamped `now`.
fn set_status(store: &mut Store, mut job: Value, captured: &Value, now: &str) {
    let start = job["status"]["startTime"].clone();
    let mut status = captured.clone();
    status["startTime"] = start;
    if let Some(conditions) = status["conditions"].as_array_mut() {
        let first = conditions.len() == 1;
        for (i, c) in conditions.iter_mut().enumerate() {
            // The FailureTarget keeps the time it was first set; the Failed condition is new.
            let stamp = if first || i > 0 {
                json!(now)
            } else {
                job["status"]["conditions"][0]["lastTransitionTime"].clone()
            };
            c["lastTransitionTime"] = stamp.clone();
            c["lastProbeTime"] = stamp;
        }
    }
    job["status"] = status;
    store.update(Res::Jobs, job);
}
