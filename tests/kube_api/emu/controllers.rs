//! The controllers: a Deployment's ReplicaSet creating pods up to its replicas and deleting
//! surplus ones the way the real one ranks them, a Job creating its pod, the garbage
//! collector removing pods whose owner is gone.

use serde_json::{Value, json};

use super::cluster::{Cluster, Settings, apply_frame, lock};
use super::scenario::{Step, job_steps, service_steps};
use super::store::{Res, Store, has_labels, name_of};

/// The pod-template-hash of every emulated ReplicaSet (the captured one's).
pub const TEMPLATE_HASH: &str = "6db6f4c569";

impl Cluster {
    /// Creates pods missing from Deployments and Jobs and deletes surplus ones; returns the
    /// new pods with the states their kubelet will move them through.
    pub(super) fn reconcile(&self, store: &mut Store) -> Vec<(String, Vec<Step>)> {
        let settings = self.settings().clone();
        let mut started = Vec::new();
        for d in store.list(Res::Deployments) {
            started.extend(self.reconcile_deployment(store, &d, &settings));
        }
        for job in store.list(Res::Jobs) {
            let name = name_of(&job);
            if lock(&self.jobs_started).insert(name) {
                started.extend(self.start_job_pod(store, &job, &settings));
            }
        }
        collect_orphans(store);
        started
    }

    fn reconcile_deployment(
        &self,
        store: &mut Store,
        d: &Value,
        settings: &Settings,
    ) -> Vec<(String, Vec<Step>)> {
        let name = name_of(d);
        let selector = &d["spec"]["selector"]["matchLabels"];
        let mut pods: Vec<Value> = store
            .list(Res::Pods)
            .into_iter()
            .filter(|p| has_labels(p, selector))
            .collect();
        let want = usize::try_from(d["spec"]["replicas"].as_i64().unwrap_or(1)).unwrap_or(0);
        let mut started = Vec::new();
        while pods.len() < want {
            let (first, steps, logs) = service_steps(settings.service);
            let mut labels = d["spec"]["template"]["metadata"]["labels"].clone();
            labels["pod-template-hash"] = json!(TEMPLATE_HASH);
            let rs = format!("{name}-{TEMPLATE_HASH}");
            let pod_name = format!("{rs}-{}", &uuid::Uuid::new_v4().simple().to_string()[..5]);
            let owner = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                "uid": d["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true});
            let pod = new_pod(&pod_name, &rs, labels, owner, &first, &settings.pod_ip);
            if let Some(pod) = store.create(Res::Pods, &self.namespace, pod) {
                lock(&self.logs).insert(pod_name.clone(), logs);
                started.push((pod_name, steps));
                pods.push(pod);
            }
        }
        if pods.len() > want {
            // The ReplicaSet controller's ranking: not ready first, then the lowest
            // pod-deletion-cost, then the newest.
            pods.sort_by_key(|p| {
                let cost: i64 =
                    p["metadata"]["annotations"]["controller.kubernetes.io/pod-deletion-cost"]
                        .as_str()
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(0);
                (is_ready(p), cost, std::cmp::Reverse(creation_order(p)))
            });
            for victim in &pods[..pods.len() - want] {
                store.delete(Res::Pods, &name_of(victim));
            }
        }
        update_deployment_status(store, d, &selector.clone());
        started
    }

    fn start_job_pod(
        &self,
        store: &mut Store,
        job: &Value,
        settings: &Settings,
    ) -> Option<(String, Vec<Step>)> {
        let name = name_of(job);
        let uid = job["metadata"]["uid"].clone();
        let (first, steps, logs) = job_steps(settings.job);
        let mut labels = job["spec"]["template"]["metadata"]["labels"].clone();
        for (k, v) in [
            ("batch.kubernetes.io/controller-uid", uid.clone()),
            ("batch.kubernetes.io/job-name", json!(name)),
            ("controller-uid", uid.clone()),
            ("job-name", json!(name)),
        ] {
            labels[k] = v;
        }
        let pod_name = format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..5]);
        let owner = json!({"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid,
            "controller": true, "blockOwnerDeletion": true});
        let pod = new_pod(&pod_name, &name, labels, owner, &first, &settings.pod_ip);
        store.create(Res::Pods, &self.namespace, pod)?;
        lock(&self.logs).insert(pod_name.clone(), logs);
        Some((pod_name, steps))
    }
}

/// The order pods were created in (the store numbers uids in sequence).
fn creation_order(o: &Value) -> u64 {
    o["metadata"]["uid"]
        .as_str()
        .and_then(|u| u.rsplit('-').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn new_pod(
    name: &str,
    generate: &str,
    labels: Value,
    owner: Value,
    frame: &Value,
    ip: &str,
) -> Value {
    let mut pod = json!({
        "metadata": {"name": name, "generateName": format!("{generate}-"), "labels": labels,
            "ownerReferences": [owner]},
    });
    apply_frame(&mut pod, frame, ip);
    pod
}

pub fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn update_deployment_status(store: &mut Store, d: &Value, selector: &Value) {
    let pods: Vec<Value> = store
        .list(Res::Pods)
        .into_iter()
        .filter(|p| has_labels(p, selector))
        .collect();
    let ready = pods.iter().filter(|p| is_ready(p)).count();
    let status = json!({"observedGeneration": d["metadata"]["generation"], "replicas": pods.len(),
        "updatedReplicas": pods.len(), "readyReplicas": ready, "availableReplicas": ready});
    let name = name_of(d);
    if let Some(mut current) = store.get(Res::Deployments, &name).cloned()
        && current["status"] != status
    {
        current["status"] = status;
        store.update(Res::Deployments, current);
    }
}

/// The garbage collector: pods whose ReplicaSet's Deployment or whose Job is gone.
fn collect_orphans(store: &mut Store) {
    for pod in store.list(Res::Pods) {
        let owner = &pod["metadata"]["ownerReferences"][0];
        let name = owner["name"].as_str().unwrap_or_default();
        let alive = match owner["kind"].as_str() {
            Some("ReplicaSet") => name
                .strip_suffix(&format!("-{TEMPLATE_HASH}"))
                .is_some_and(|d| store.get(Res::Deployments, d).is_some()),
            Some("Job") => store.get(Res::Jobs, name).is_some(),
            _ => true,
        };
        if !alive {
            store.delete(Res::Pods, &name_of(&pod));
        }
    }
}
