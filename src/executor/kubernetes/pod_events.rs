//! Pod changes, as a watch delivers them, turned into the instance events the pools act on:
//! each exit once (a pod restarted in place exits again and again), the kubelet backing off
//! (CrashLoopBackOff), a restarted container ready again, a pod gone behind the gateway's
//! back. Pure, so the captured watch streams are its tests.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::Pod;

use super::classify::{PodState, pod_state};
use super::instances::label;
use super::names::Role;
use super::replicas::is_marked;
use crate::executor::{Exit, InstanceEvent, ROLE_LABEL};

/// What has been reported of one pod.
#[derive(Debug, Default)]
struct Reported {
    /// Exits reported (an exit after `n` restarts is the `n + 1`-th).
    exits: u32,
    /// The restart count at which a back-off was reported.
    backing_off: Option<u32>,
    /// An exit was reported and the pod has not been ready since.
    down: bool,
    /// Its end (an exit for good, or its deletion) was reported.
    gone: bool,
}

/// Tracks the pods of one watch.
#[derive(Debug, Default)]
pub struct PodTracker {
    pods: HashMap<String, Reported>,
}

impl PodTracker {
    /// The events a pod's new state means (`deleted`: the watch says it is gone).
    pub fn observe(&mut self, pod: &Pod, deleted: bool) -> Vec<InstanceEvent> {
        let Some(id) = pod.metadata.name.clone() else {
            return Vec::new();
        };
        // Pods the gateway removes itself carry its mark: not news. Job pods end by design.
        if label(pod, ROLE_LABEL) != Some(Role::Service.as_str()) || is_marked(pod) {
            if deleted {
                self.pods.remove(&id);
            }
            return Vec::new();
        }
        let state = pod_state(pod);
        let seen = self.pods.entry(id.clone()).or_default();
        let mut events = Vec::new();
        match &state {
            PodState::Stopped(s) if !seen.gone => {
                if seen.exits <= s.restarts {
                    seen.exits = s.restarts + 1;
                    seen.down = true;
                    seen.gone = !s.restarting;
                    events.push(InstanceEvent::Exited {
                        id: id.clone(),
                        exit: s.exit(),
                    });
                }
                if let Some(retry_after) = s.back_off
                    && seen.backing_off != Some(s.restarts)
                {
                    seen.backing_off = Some(s.restarts);
                    events.push(InstanceEvent::BackingOff {
                        id: id.clone(),
                        retry_after,
                    });
                }
            }
            PodState::Running { ready: true, .. } if seen.down && !seen.gone => {
                seen.down = false;
                events.push(InstanceEvent::Ready { id: id.clone() });
            }
            _ => {}
        }
        let going = deleted || pod.metadata.deletion_timestamp.is_some();
        if going && !seen.gone {
            seen.gone = true;
            events.push(InstanceEvent::Exited {
                id: id.clone(),
                exit: Exit::for_good(-1, false),
            });
        }
        if deleted {
            self.pods.remove(&id);
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// The pods of a captured watch stream (`kubectl get pods --watch --output-watch-events`),
    /// labelled as the gateway labels its service pods.
    fn captured(file: &str) -> Vec<(String, Pod)> {
        let path = format!(
            "{}/tests/kube_api/fixtures/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).expect("fixture");
        text.lines()
            .map(|l| {
                let mut e: serde_json::Value = serde_json::from_str(l).expect("an event");
                e["object"]["metadata"]["labels"][ROLE_LABEL] = "service".into();
                let kind = e["type"].as_str().expect("type").to_owned();
                (
                    kind,
                    serde_json::from_value(e["object"].clone()).expect("a pod"),
                )
            })
            .collect()
    }

    fn replay(file: &str) -> Vec<InstanceEvent> {
        let mut t = PodTracker::default();
        captured(file)
            .iter()
            .flat_map(|(kind, pod)| t.observe(pod, kind == "DELETED"))
            .collect()
    }

    fn exit(code: i64, oom: bool, restarts: u32) -> Exit {
        Exit {
            exit_code: code,
            oom_killed: oom,
            restarting: true,
            restarts,
        }
    }

    #[test]
    fn an_oom_kill_restarted_in_place_is_one_death_then_ready_again() {
        let id = "oomrestart-5dc98cfdb4-zphp2".to_owned();
        assert_eq!(
            replay("watch-deployment-pod-oom-restart-in-place.jsonl"),
            vec![
                InstanceEvent::Exited {
                    id: id.clone(),
                    exit: exit(137, true, 0)
                },
                InstanceEvent::Ready { id },
            ]
        );
    }

    #[test]
    fn a_crash_looping_pod_reports_each_exit_once_and_each_back_off() {
        let id = "crashloop-85dd699b65-vxlvw".to_owned();
        let exited = |restarts| InstanceEvent::Exited {
            id: id.clone(),
            exit: exit(3, false, restarts),
        };
        let backing_off = |s| InstanceEvent::BackingOff {
            id: id.clone(),
            retry_after: Duration::from_secs(s),
        };
        assert_eq!(
            replay("watch-deployment-pod-crashloop.jsonl"),
            vec![
                exited(0),
                exited(1),
                backing_off(10),
                exited(2),
                backing_off(20),
                exited(3),
                backing_off(40),
                // Restart 4 ran for a second: no probe, so Ready, then it exited again.
                InstanceEvent::Ready { id: id.clone() },
                exited(4),
            ]
        );
    }

    /// A captured pod that serves.
    fn serving() -> Pod {
        captured("watch-pods-scale.jsonl")
            .into_iter()
            .map(|(_, p)| p)
            .rfind(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && matches!(pod_state(p), PodState::Running { ready: true, .. })
            })
            .expect("a ready pod")
    }

    #[test]
    fn a_pod_deleted_behind_the_gateways_back_is_gone_once() {
        let pod = serving();
        let mut t = PodTracker::default();
        assert!(t.observe(&pod, false).is_empty());
        assert_eq!(
            t.observe(&pod, true),
            vec![InstanceEvent::Exited {
                id: pod.metadata.name.clone().expect("name"),
                exit: Exit::for_good(-1, false)
            }]
        );
    }

    #[test]
    fn a_pod_the_gateway_marked_for_removal_is_no_news() {
        let mut pod = serving();
        pod.metadata.annotations = Some(
            [(
                super::super::objects::DELETION_COST.to_owned(),
                super::super::objects::DELETION_COST_REMOVE.to_owned(),
            )]
            .into(),
        );
        let mut t = PodTracker::default();
        assert!(t.observe(&pod, true).is_empty());
    }
}
