//! The kubelet: moves a pod through the states of its scenario, one step at a time, waiting
//! out the back-offs it announces, and restarts a container in place when a test says it was
//! killed.

use std::sync::Arc;

use super::cluster::{Cluster, apply_frame, lock};
use super::scenario::{Step, oom_restart_in_place};
use super::store::Res;

impl Cluster {
    /// Moves a pod through `steps`.
    pub(super) fn spawn_kubelet(self: &Arc<Self>, pod: String, steps: Vec<Step>) {
        let cluster = Arc::clone(self);
        lock(&self.busy).insert(pod.clone());
        tokio::spawn(async move {
            cluster.run_kubelet(&pod, steps).await;
            lock(&cluster.busy).remove(&pod);
        });
    }

    async fn run_kubelet(self: &Arc<Self>, pod: &str, steps: Vec<Step>) {
        for step in steps {
            let (pause, unit) = {
                let s = self.settings();
                (s.step, s.back_off_unit)
            };
            let ip = self.pod_ip(pod);
            tokio::time::sleep(pause).await;
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
                            // The Job controller's own start time stays.
                            let start = j["status"]["startTime"].clone();
                            j["status"] = status.clone();
                            if !start.is_null() {
                                j["status"]["startTime"] = start;
                            }
                            s.update(Res::Jobs, j);
                        }
                    }
                    Step::BackOff(_) => {}
                }
                true
            });
            if !alive {
                return;
            }
            if let Step::BackOff(seconds) = step {
                tokio::time::sleep(unit.mul_f64(seconds as f64 / 10.0)).await;
            }
        }
    }

    /// A serving pod's container is killed for its memory and restarted in place, as the
    /// captured one was: terminated `OOMKilled`, running again (`restartCount` 1), ready. Waits
    /// until the pod has gone through its scenario first.
    pub async fn oom_kill_and_restart(self: &Arc<Self>, pod: &str) {
        self.settle(pod).await;
        if let Some(logs) = lock(&self.logs).get_mut(pod) {
            logs.previous = logs.current.clone();
        }
        self.spawn_kubelet(pod.to_owned(), oom_restart_in_place());
    }

    /// Waits until a pod's kubelet has nothing more to do.
    pub async fn settle(&self, pod: &str) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while lock(&self.busy).contains(pod) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "pod {pod} never settled"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Sets a pod's state to a captured one, as its kubelet would, once the pod has gone
    /// through its scenario (so the scenario's next step cannot overwrite it).
    pub async fn set_pod_state(self: &Arc<Self>, pod: &str, frame: &serde_json::Value) {
        self.settle(pod).await;
        let ip = self.pod_ip(pod);
        self.write(|s| {
            if let Some(mut p) = s.get(Res::Pods, pod).cloned() {
                apply_frame(&mut p, frame, &ip);
                s.update(Res::Pods, p);
            }
        });
    }
}
