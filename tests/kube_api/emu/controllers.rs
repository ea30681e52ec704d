//! The controllers: a Deployment's ReplicaSet creating pods up to its replicas and deleting
//! surplus ones the way the real one ranks them, a Job creating its pod and starting its
//! clock, the scheduler placing pods where there is room, the garbage collector removing pods
//! whose owner is gone.

use serde_json::{Value, json};

use super::cluster::{Cluster, Settings, Work, apply_frame, lock};
use super::fixtures;
use super::scenario::{PodLogs, Step, job_steps, service_steps};
use super::scheduler::{Waiting, cpu_request};
use super::store::{Res, Store, has_labels, name_of};

/// The pod-template-hash of every emulated ReplicaSet (the captured one's).
pub const TEMPLATE_HASH: &str = "6db6f4c569";

impl Cluster {
    /// Creates pods missing from Deployments and Jobs and deletes surplus ones, places
    /// waiting pods where room freed; returns the work that follows (kubelets, deadlines).
    pub(super) fn reconcile(&self, store: &mut Store) -> Vec<Work> {
        let settings = self.settings().clone();
        let mut work = Vec::new();
        for d in store.list(Res::Deployments) {
            work.extend(self.reconcile_deployment(store, &d, &settings));
        }
        for job in store.list(Res::Jobs) {
            let name = name_of(&job);
            if lock(&self.jobs_started).insert(name) {
                work.extend(self.start_job(store, &job, &settings));
            }
        }
        collect_orphans(store);
        work.extend(self.schedule_waiting(store, &settings));
        work
    }

    /// A new pod: placed and handed to its kubelet if the node has room for its CPU
    /// request, else left Pending as the scheduler leaves it (`Unschedulable`).
    fn admit(
        &self,
        store: &mut Store,
        pod: Value,
        (first, steps, logs): (Value, Vec<Step>, PodLogs),
        settings: &Settings,
    ) -> Option<Work> {
        let name = name_of(&pod);
        let request = cpu_request(&pod["spec"]);
        let mut scheduler = lock(&self.scheduler);
        let fits =
            scheduler.waiting.is_empty() && scheduler.fits(request, settings.node_cpu_millis);
        let mut pod = pod;
        let shown = if fits {
            &first
        } else {
            &fixtures::unschedulable_pod()
        };
        apply_frame(&mut pod, shown, &self.pod_ip(&name));
        store.create(Res::Pods, &self.namespace, pod)?;
        lock(&self.logs).insert(name.clone(), logs);
        if fits {
            scheduler.place(&name, request);
            return Some(Work::Kubelet(name, steps));
        }
        scheduler.waiting.push(Waiting {
            pod: name,
            request,
            first,
            steps,
        });
        None
    }

    /// Places waiting pods, oldest first, while they fit.
    fn schedule_waiting(&self, store: &mut Store, settings: &Settings) -> Vec<Work> {
        let mut scheduler = lock(&self.scheduler);
        scheduler.retain(|p| store.get(Res::Pods, p).is_some());
        let mut work = Vec::new();
        while scheduler
            .waiting
            .first()
            .is_some_and(|w| scheduler.fits(w.request, settings.node_cpu_millis))
        {
            let w = scheduler.waiting.remove(0);
            scheduler.place(&w.pod, w.request);
            let mut steps = vec![Step::Pod(w.first)];
            steps.extend(w.steps);
            work.push(Work::Kubelet(w.pod, steps));
        }
        work
    }

    fn reconcile_deployment(&self, store: &mut Store, d: &Value, settings: &Settings) -> Vec<Work> {
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
            let mut labels = d["spec"]["template"]["metadata"]["labels"].clone();
            labels["pod-template-hash"] = json!(TEMPLATE_HASH);
            let rs = format!("{name}-{TEMPLATE_HASH}");
            let pod_name = format!("{rs}-{}", &uuid::Uuid::new_v4().simple().to_string()[..5]);
            let owner = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                "uid": d["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true});
            let pod = new_pod(
                &pod_name,
                &rs,
                labels,
                owner,
                &d["spec"]["template"]["spec"],
            );
            let scenario = service_steps(settings.service);
            started.extend(self.admit(store, pod, scenario, settings));
            match store.get(Res::Pods, &pod_name) {
                Some(p) => pods.push(p.clone()),
                None => break,
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

    /// A new Job: its clock starts (`status.startTime`, cut to the second as the API server
    /// stores it), its deadline is set, its pod created.
    fn start_job(&self, store: &mut Store, job: &Value, settings: &Settings) -> Vec<Work> {
        let name = name_of(job);
        let started = chrono::Utc::now();
        let start_time = started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut work = Vec::new();
        if let Some(mut j) = store.get(Res::Jobs, &name).cloned() {
            j["status"] = json!({"active": 1, "ready": 0, "startTime": start_time,
                "terminating": 0, "uncountedTerminatedPods": {}});
            store.update(Res::Jobs, j);
            if let Some(deadline) = job["spec"]["activeDeadlineSeconds"].as_i64() {
                let from = chrono::DateTime::parse_from_rfc3339(&start_time)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .unwrap_or(started);
                work.push(Work::Deadline(
                    name.clone(),
                    from + chrono::Duration::seconds(deadline),
                ));
            }
        }
        work.extend(self.start_job_pod(store, job, settings));
        work
    }

    fn start_job_pod(&self, store: &mut Store, job: &Value, settings: &Settings) -> Option<Work> {
        let name = name_of(job);
        let uid = job["metadata"]["uid"].clone();
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
        let pod = new_pod(
            &pod_name,
            &name,
            labels,
            owner,
            &job["spec"]["template"]["spec"],
        );
        self.admit(store, pod, job_steps(settings.job), settings)
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

/// A pod of a template: its labels, its owner, its template's spec.
fn new_pod(name: &str, generate: &str, labels: Value, owner: Value, spec: &Value) -> Value {
    json!({
        "metadata": {"name": name, "generateName": format!("{generate}-"), "labels": labels,
            "ownerReferences": [owner]},
        "spec": spec,
    })
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
