//! The emulated cluster: the store, the scenario each test picks, the requests it received,
//! and the work the controllers hand out on every write (kubelets moving pods through the
//! states captured on a real cluster, Job deadlines). The controllers are in
//! `controllers.rs`, the scheduler in `scheduler.rs`, the kubelet in `kubelet.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;

use super::scenario::{JobScenario, PodLogs, ServiceScenario, Step};
use super::scheduler::Scheduler;
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
    /// Pause between two states of a pod, as a kubelet would take.
    pub step: Duration,
    /// What the kubelet's 10 s of back-off take here.
    pub back_off_unit: Duration,
    /// The one node's allocatable CPU, in millicores (the captures' node has 2 CPUs).
    pub node_cpu_millis: u64,
    /// A pod's termination grace, as the Job controller waits it out after a deadline.
    pub grace: Duration,
}

/// Work the controllers hand out after a write.
pub(super) enum Work {
    /// A kubelet moves a pod through these states.
    Kubelet(String, Vec<Step>),
    /// The Job controller checks this Job's deadline at this time.
    Deadline(String, chrono::DateTime<chrono::Utc>),
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
    pub(super) scheduler: Mutex<Scheduler>,
    /// Pods whose kubelet is still moving them through their scenario.
    pub(super) busy: Mutex<HashSet<String>>,
    /// When each pod's container was first seen running, for assertions.
    pub(super) running_since: Mutex<HashMap<String, tokio::time::Instant>>,
    /// Each pod's IP on the tests' stand-in pod network (a loopback address of its own).
    ips: Mutex<HashMap<String, String>>,
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
                step: Duration::from_millis(10),
                back_off_unit: Duration::from_millis(100),
                node_cpu_millis: 2000,
                grace: Duration::from_millis(200),
            }),
            logs: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            jobs_started: Mutex::new(HashSet::new()),
            scheduler: Mutex::new(Scheduler::default()),
            busy: Mutex::new(HashSet::new()),
            running_since: Mutex::new(HashMap::new()),
            ips: Mutex::new(HashMap::new()),
        })
    }

    /// The pod's IP: its own loopback address, where the stand-in runtime answers for it.
    pub fn pod_ip(&self, pod: &str) -> String {
        let mut ips = lock(&self.ips);
        let n = ips.len() + 2;
        ips.entry(pod.to_owned())
            .or_insert_with(|| format!("127.0.{}.{}", n / 250, n % 250 + 2))
            .clone()
    }

    /// The pod that has `ip`, if its container runs.
    pub fn running_pod_at(&self, ip: &str) -> Option<String> {
        self.read(|s| {
            s.list(Res::Pods).into_iter().find_map(|p| {
                let runs = p["status"]["containerStatuses"][0]["state"]["running"].is_object();
                (runs && p["status"]["podIP"] == ip && p["metadata"]["deletionTimestamp"].is_null())
                    .then(|| super::store::name_of(&p))
            })
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
        let (result, work) = {
            let mut store = lock(&self.store);
            let result = f(&mut store);
            let work = self.reconcile(&mut store);
            self.note_running(&store);
            self.changed.send_replace(store.rv());
            (result, work)
        };
        for w in work {
            match w {
                Work::Kubelet(pod, steps) => self.spawn_kubelet(pod, steps),
                Work::Deadline(job, at) => self.spawn_deadline(job, at),
            }
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

    /// When a pod's container was first seen running.
    pub fn running_since(&self, pod: &str) -> Option<tokio::time::Instant> {
        lock(&self.running_since).get(pod).copied()
    }

    fn note_running(&self, store: &Store) {
        let mut since = lock(&self.running_since);
        for pod in store.list(Res::Pods) {
            let cs = &pod["status"]["containerStatuses"][0]["state"];
            if cs["running"].is_object() || cs["terminated"].is_object() {
                since
                    .entry(super::store::name_of(&pod))
                    .or_insert_with(tokio::time::Instant::now);
            }
        }
    }
}

/// Takes a captured pod's status, keeping the pod's own metadata and spec (from its
/// template); the captured pod IP becomes the pod's address on the tests' pod network.
pub(super) fn apply_frame(pod: &mut Value, frame: &Value, ip: &str) {
    if pod["spec"].is_null() {
        pod["spec"] = frame["spec"].clone();
    }
    let mut status = frame["status"].clone();
    if status.get("podIP").is_some() {
        status["podIP"] = json!(ip);
        status["podIPs"] = json!([{"ip": ip}]);
    }
    pod["status"] = status;
}
