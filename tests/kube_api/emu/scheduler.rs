//! The scheduler: one node with a fixed CPU capacity. A pod whose CPU request does not fit
//! beside those already placed stays Pending with the captured `PodScheduled=False`,
//! `Unschedulable` condition, and is placed (its kubelet starts) as soon as capacity frees,
//! in the order pods were created.

use std::collections::HashMap;

use serde_json::Value;

use super::scenario::Step;

/// A pod waiting for room.
pub(super) struct Waiting {
    pub pod: String,
    pub request: u64,
    pub first: Value,
    pub steps: Vec<Step>,
}

/// What is placed on the node, and what waits.
#[derive(Default)]
pub struct Scheduler {
    /// CPU millicores requested by each placed pod.
    placed: HashMap<String, u64>,
    pub(super) waiting: Vec<Waiting>,
}

impl Scheduler {
    /// Whether `request` fits on a node of `capacity` beside the pods placed.
    pub(super) fn fits(&self, request: u64, capacity: u64) -> bool {
        self.placed.values().sum::<u64>() + request <= capacity
    }

    pub(super) fn place(&mut self, pod: &str, request: u64) {
        self.placed.insert(pod.to_owned(), request);
    }

    /// Forgets pods that no longer exist.
    pub(super) fn retain(&mut self, exists: impl Fn(&str) -> bool) {
        self.placed.retain(|p, _| exists(p));
        self.waiting.retain(|w| exists(&w.pod));
    }
}

/// The CPU a pod (template) requests, in millicores: `50m`, `1`, `0.5`.
pub fn cpu_request(pod_spec: &Value) -> u64 {
    pod_spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["resources"]["requests"]["cpu"].as_str())
        .map(millicores)
        .sum()
}

fn millicores(q: &str) -> u64 {
    match q.strip_suffix('m') {
        Some(m) => m.parse().unwrap_or(0),
        None => q
            .parse::<f64>()
            .map(|cpus| (cpus * 1000.0).round() as u64)
            .unwrap_or(0),
    }
}

#[test]
fn quantities_read_as_millicores() {
    assert_eq!(millicores("50m"), 50);
    assert_eq!(millicores("1"), 1000);
    assert_eq!(millicores("0.25"), 250);
}
