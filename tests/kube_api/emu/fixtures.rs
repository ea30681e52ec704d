//! Objects captured from a real cluster (`fixtures/`, copied unchanged from the shared
//! captures), loaded at test time. The emulator answers with these shapes, renaming only
//! metadata to match what the executor created.

use serde_json::Value;

fn read(file: &str) -> String {
    let path = format!(
        "{}/tests/kube_api/fixtures/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// The object in a fixture file (the only item of a `List`).
pub fn object(file: &str) -> Value {
    let v: Value =
        serde_json::from_str(&read(file)).unwrap_or_else(|e| panic!("{file} is not JSON: {e}"));
    match v.get("items") {
        Some(items) => items[0].clone(),
        None => v,
    }
}

/// The states of the pod that started while the captured Deployment scaled 1 → 2, in order:
/// Pending, …, Running and not ready, Running and ready.
pub fn starting_pod_frames() -> Vec<Value> {
    let new_pod = "web-6db6f4c569-5gvhx";
    read("watch-pods-scale.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a watch event per line"))
        .map(|e| e["object"].clone())
        .filter(|o| o["metadata"]["name"] == new_pod)
        .collect()
}

/// The first captured state of a starting pod: scheduled, nothing running.
pub fn pending_pod() -> Value {
    starting_pod_frames().remove(0)
}

/// The captured state of the starting pod once its container runs but is not ready yet.
pub fn running_unready_pod() -> Value {
    starting_pod_frames()
        .into_iter()
        .find(|o| o["status"]["phase"] == "Running")
        .expect("the capture holds a running pod")
}

/// A Job fixture's `status`.
pub fn job_status(file: &str) -> Value {
    object(file)["status"].clone()
}

/// The objects of a captured watch stream (`--output-watch-events`), in order, with the event
/// type of each.
pub fn watch_frames(file: &str) -> Vec<(String, Value)> {
    read(file)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a watch event per line"))
        .map(|e| {
            let kind = e["type"].as_str().unwrap_or_default().to_owned();
            (kind, e["object"].clone())
        })
        .collect()
}

/// The captured pod the scheduler could not place (`PodScheduled=False`, `Unschedulable`).
pub fn unschedulable_pod() -> Value {
    watch_frames("watch-deployment-scale-0-1-unschedulable.jsonl")
        .into_iter()
        .map(|(_, o)| o)
        .find(|o| o["status"]["conditions"][0]["reason"] == "Unschedulable")
        .expect("the capture holds the unschedulable state")
}

/// The captured Job statuses while its `activeDeadlineSeconds` passed: FailureTarget with
/// the pod terminating, then `failed`, then the Failed condition.
pub fn job_deadline_statuses() -> Vec<Value> {
    watch_frames("watch-job-active-deadline.jsonl")
        .into_iter()
        .map(|(_, o)| o["status"].clone())
        .filter(|s| s["conditions"].is_array())
        .collect()
}
