//! The emulated cluster: the store, the scenario each test picks, and what the controllers
//! do (a Deployment's ReplicaSet creating and deleting pods, a Job creating its pod, kubelets
//! moving pods through the states captured on a real cluster).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;

use super::scenario::{JobScenario, PodLogs, ServiceScenario, Step, job_steps, service_steps};
use super::store::{Res, Store, has_labels, name_of};

/// The pod-template-hash of every emulated ReplicaSet (the captured one's).
pub const TEMPLATE_HASH: &str = "6db6f4c569";

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: Option<String>,
    pub body: Value,
}

/// What a test chose.
#[derive(Debug, Clone)]
pub struct Settings {
    pub service: ServiceScenario,
    pub job: JobScenario,
    /// `(verb, resource)` pairs answered with 403.
    pub forbidden: Vec<(String, String)>,
    /// Where every pod "listens" (the tests' stand-in pod network).
    pub pod_ip: String,
    /// Pause between two states of a pod, as a kubelet would take.
    pub step: Duration,
}

/// One namespace of an emulated cluster.
pub struct Cluster {
    pub namespace: String,
    store: Mutex<Store>,
    changed: watch::Sender<u64>,
    settings: Mutex<Settings>,
    logs: Mutex<HashMap<String, PodLogs>>,
    requests: Mutex<Vec<Recorded>>,
    jobs_started: Mutex<HashSet<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Cluster {
    pub fn new(namespace: &str) -> Arc<Self> {
        Arc::new(Cluster {
            namespace: namespace.into(),
            store: Mutex::new(Store::default()),
            changed: watch::channel(0).0,
            settings: Mutex::new(Settings {
                service: ServiceScenario::Ready,
                job: JobScenario::Complete,
                forbidden: Vec::new(),
                pod_ip: "127.0.0.1".into(),
                step: Duration::from_millis(10),
            }),
            logs: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            jobs_started: Mutex::new(HashSet::new()),
        })
    }

    pub fn settings(&self) -> MutexGuard<'_, Settings> {
        lock(&self.settings)
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    pub fn record(&self, r: Recorded) {
        lock(&self.requests).push(r);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.requests).clone()
    }

    /// Reads the store.
    pub fn read<R>(&self, f: impl FnOnce(&Store) -> R) -> R {
        f(&lock(&self.store))
    }

    /// Changes the store, then lets the controllers react and wakes the watches.
    pub fn write<R>(self: &Arc<Self>, f: impl FnOnce(&mut Store) -> R) -> R {
        let (result, started) = {
            let mut store = lock(&self.store);
            let result = f(&mut store);
            let started = self.reconcile(&mut store);
            self.changed.send_replace(store.rv());
            (result, started)
        };
        for (pod, steps) in started {
            self.spawn_kubelet(pod, steps);
        }
        result
    }

    /// One object, for assertions.
    pub fn object(&self, res: Res, name: &str) -> Option<Value> {
        self.read(|s| s.get(res, name).cloned())
    }

    /// Every object of a resource, for assertions.
    pub fn objects(&self, res: Res) -> Vec<Value> {
        self.read(|s| s.list(res))
    }

    pub fn logs(&self, pod: &str) -> Option<PodLogs> {
        lock(&self.logs).get(pod).cloned()
    }

    /// Sets a pod's state to a captured one, as its kubelet would.
    pub fn set_pod_state(self: &Arc<Self>, pod: &str, frame: &Value) {
        let ip = self.settings().pod_ip.clone();
        self.write(|s| {
            if let Some(mut p) = s.get(Res::Pods, pod).cloned() {
                apply_frame(&mut p, frame, &ip);
                s.update(Res::Pods, p);
            }
        });
    }

    /// Creates pods missing from Deployments and Jobs and deletes surplus ones; returns the
    /// new pods with the states their kubelet will move them through.
    fn reconcile(&self, store: &mut Store) -> Vec<(String, Vec<Step>)> {
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

    /// Moves a pod through its states, one step at a time.
    fn spawn_kubelet(self: &Arc<Self>, pod: String, steps: Vec<Step>) {
        let cluster = Arc::clone(self);
        tokio::spawn(async move {
            for step in steps {
                let pause = cluster.settings().step;
                tokio::time::sleep(pause).await;
                let ip = cluster.settings().pod_ip.clone();
                let alive = cluster.write(|s| {
                    let Some(mut p) = s.get(Res::Pods, &pod).cloned() else {
                        return false;
                    };
                    match &step {
                        Step::Pod(frame) => {
                            apply_frame(&mut p, frame, &ip);
                            s.update(Res::Pods, p);
                        }
                        Step::Job(status) => {
                            let job = p["metadata"]["ownerReferences"][0]["name"]
                                .as_str()
                                .unwrap_or_default();
                            if let Some(mut j) = s.get(Res::Jobs, job).cloned() {
                                j["status"] = status.clone();
                                s.update(Res::Jobs, j);
                            }
                        }
                        Step::DeletePod => {
                            s.delete(Res::Pods, &pod);
                        }
                    }
                    true
                });
                if !alive {
                    return;
                }
            }
        });
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

/// Takes a captured pod's spec and status, keeping the metadata; the captured pod IP becomes
/// the tests' pod network address.
fn apply_frame(pod: &mut Value, frame: &Value, ip: &str) {
    pod["spec"] = frame["spec"].clone();
    let mut status = frame["status"].clone();
    if status.get("podIP").is_some() {
        status["podIP"] = json!(ip);
        status["podIPs"] = json!([{"ip": ip}]);
    }
    pod["status"] = status;
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
