//! The emulated cluster: the store, the scenario each test picks, the requests it received,
//! and kubelets moving pods through the states captured on a real cluster (the controllers
//! reacting to every write are in `controllers.rs`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;

use super::scenario::{JobScenario, PodLogs, ServiceScenario, Step};
use super::store::{Res, Store};

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
    pub(super) logs: Mutex<HashMap<String, PodLogs>>,
    requests: Mutex<Vec<Recorded>>,
    pub(super) jobs_started: Mutex<HashSet<String>>,
    /// Pods whose kubelet is still moving them through their scenario.
    busy: Mutex<HashSet<String>>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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
            busy: Mutex::new(HashSet::new()),
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

    /// Sets a pod's state to a captured one, as its kubelet would, once the pod has gone
    /// through its scenario (so the scenario's next step cannot overwrite it).
    pub async fn set_pod_state(self: &Arc<Self>, pod: &str, frame: &Value) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while lock(&self.busy).contains(pod) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "pod {pod} never settled"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let ip = self.settings().pod_ip.clone();
        self.write(|s| {
            if let Some(mut p) = s.get(Res::Pods, pod).cloned() {
                apply_frame(&mut p, frame, &ip);
                s.update(Res::Pods, p);
            }
        });
    }

    /// Moves a pod through its states, one step at a time.
    fn spawn_kubelet(self: &Arc<Self>, pod: String, steps: Vec<Step>) {
        let cluster = Arc::clone(self);
        lock(&self.busy).insert(pod.clone());
        tokio::spawn(async move {
            cluster.run_kubelet(&pod, steps).await;
            lock(&cluster.busy).remove(&pod);
        });
    }

    async fn run_kubelet(self: &Arc<Self>, pod: &str, steps: Vec<Step>) {
        for step in steps {
            let pause = self.settings().step;
            tokio::time::sleep(pause).await;
            let ip = self.settings().pod_ip.clone();
            let alive = self.write(|s| {
                let Some(mut p) = s.get(Res::Pods, pod).cloned() else {
                    return false;
                };
                match &step {
                    Step::Pod(frame) => {
                        apply_frame(&mut p, frame, &ip);
                        s.update(Res::Pods, p);
                    }
                    Step::Job(status) => {
                        let owner = &p["metadata"]["ownerReferences"][0]["name"];
                        let job = owner.as_str().unwrap_or_default();
                        if let Some(mut j) = s.get(Res::Jobs, job).cloned() {
                            j["status"] = status.clone();
                            s.update(Res::Jobs, j);
                        }
                    }
                    Step::DeletePod => {
                        s.delete(Res::Pods, pod);
                    }
                }
                true
            });
            if !alive {
                return;
            }
        }
    }
}

/// Takes a captured pod's spec and status, keeping the metadata; the captured pod IP becomes
/// the tests' pod network address.
pub(super) fn apply_frame(pod: &mut Value, frame: &Value, ip: &str) {
    pod["spec"] = frame["spec"].clone();
    let mut status = frame["status"].clone();
    if status.get("podIP").is_some() {
        status["podIP"] = json!(ip);
        status["podIPs"] = json!([{"ip": ip}]);
    }
    pod["status"] = status;
}
