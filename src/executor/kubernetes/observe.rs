//! Reading pods back: status, the gateway's instances by label, their output, their deaths.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use chrono::Utc;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, LogParams};
use kube::runtime::watcher;
use tokio::sync::mpsc;

use super::classify::{PodState, last_stop, pod_state, to_chrono};
use super::instances::{label, pod_ip, watch_ended};
use super::names::{self, Role};
use super::objects::CONTAINER;
use super::pod_events::PodTracker;
use super::{KubeExecutor, errors};
use crate::executor::{
    CALLBACK_LABEL, ExecutorError, Exit, InstanceEvent, InstanceStatus, LogLine, LogStream,
    ObservedInstance, REVISION_LABEL, ROLE_LABEL,
};

impl KubeExecutor {
    /// How a pod stands; one being deleted is as good as gone.
    pub(super) async fn pod_status(&self, id: &str) -> Result<InstanceStatus, ExecutorError> {
        let got = errors::raw(self.pods().get_opt(id)).await?;
        let Some(pod) = got.map_err(|e| errors::map(e, "get", "pods"))? else {
            return Ok(InstanceStatus::Gone);
        };
        if pod.metadata.deletion_timestamp.is_some() {
            return Ok(InstanceStatus::Gone);
        }
        Ok(match pod_state(&pod) {
            PodState::Stopped(s) => InstanceStatus::Exited(s.exit()),
            PodState::ImagePull { .. } | PodState::Unstartable { .. } => {
                InstanceStatus::Exited(Exit::for_good(-1, false))
            }
            PodState::Running { restarts, .. } if restarts > 0 => match last_stop(&pod) {
                Some(s) => InstanceStatus::Restarted(s.exit()),
                None => InstanceStatus::Running,
            },
            PodState::Pending | PodState::Unschedulable { .. } | PodState::Running { .. } => {
                InstanceStatus::Running
            }
        })
    }

    /// Every pod of this gateway that is not being deleted.
    ///
    /// The first listing (the gateway's reconcile at start-up, which adopts what runs)
    /// also claims every pod whose container has started, so no later start hands out a pod
    /// that a previous run of the gateway already did.
    pub(super) async fn list_pods(&self) -> Result<Vec<ObservedInstance>, ExecutorError> {
        let lp = ListParams::default().labels(&names::gateway_selector(&self.gateway_id));
        let pods = errors::call(self.pods().list(&lp), "list", "pods").await?;
        let seed = !self.seeded.swap(true, Ordering::AcqRel);
        // Claims of pods that no longer exist are forgotten, so the set never grows; a claim
        // younger than the listing may be of a pod the listing has not seen yet.
        let existing: HashSet<&str> = pods
            .items
            .iter()
            .filter_map(|p| p.metadata.name.as_deref())
            .collect();
        let settled = tokio::time::Instant::now().checked_sub(std::time::Duration::from_secs(60));
        self.claimed()
            .retain(|name, at| settled.is_none_or(|s| *at > s) || existing.contains(name.as_str()));
        let mut found = Vec::with_capacity(pods.items.len());
        for pod in pods.items {
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let Some(observed) = self.observe(&pod) else {
                continue;
            };
            let started = observed.running || matches!(pod_state(&pod), PodState::Stopped(_));
            if seed && started && !observed.job {
                self.claim(&observed.instance.id);
            }
            found.push(observed);
        }
        Ok(found)
    }

    fn observe(&self, pod: &Pod) -> Option<ObservedInstance> {
        let name = pod.metadata.name.as_deref()?;
        let callback = label(pod, CALLBACK_LABEL)?.to_owned();
        let revision = label(pod, REVISION_LABEL)?.parse().ok()?;
        let job = label(pod, ROLE_LABEL) == Some(Role::Job.as_str());
        let created = pod.metadata.creation_timestamp.as_ref().map(to_chrono);
        let state = pod_state(pod);
        let running = matches!(state, PodState::Running { .. });
        // A pod that never started counts as stopped since its creation, so the sweep
        // collects one stuck for good.
        let (finished_at, restarting) = match &state {
            PodState::Running { .. } => (None, false),
            PodState::Stopped(s) => (s.finished_at.or(created), s.restarting),
            PodState::Pending
            | PodState::Unschedulable { .. }
            | PodState::ImagePull { .. }
            | PodState::Unstartable { .. } => (created, false),
        };
        let mut instance = self.instance(name, pod_ip(pod));
        let start_time = pod.status.as_ref().and_then(|s| s.start_time.as_ref());
        instance.started_at = start_time
            .map(to_chrono)
            .or(created)
            .unwrap_or_else(Utc::now);
        Some(ObservedInstance {
            instance,
            callback,
            revision,
            running,
            finished_at,
            restarting,
            job,
            paused: false,
        })
    }

    /// The last `tail` lines over all `ids`, oldest first. A pod whose container restarted
    /// also gives the output of the one that stopped: the crash the gateway reports.
    pub(super) async fn pod_logs(
        &self,
        ids: &[String],
        tail: usize,
    ) -> Result<Vec<LogLine>, ExecutorError> {
        let mut lines = Vec::new();
        for id in ids {
            let got = errors::raw(self.pods().get_opt(id)).await?;
            let Some(pod) = got.map_err(|e| errors::map(e, "get", "pods"))? else {
                continue;
            };
            let restarted = pod
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.restart_count > 0));
            if restarted {
                let text = self.read_log(id, tail, true, true).await?;
                lines.extend(parse_lines(id, &text));
            }
            let text = self.read_log(id, tail, false, true).await?;
            lines.extend(parse_lines(id, &text));
        }
        lines.sort_by_key(|l| l.ts);
        let skip = lines.len().saturating_sub(tail);
        Ok(lines.split_off(skip))
    }

    /// One container's output; empty when there is none (yet, or any more).
    pub(super) async fn read_log(
        &self,
        id: &str,
        tail: usize,
        previous: bool,
        timestamps: bool,
    ) -> Result<String, ExecutorError> {
        let lp = LogParams {
            container: Some(CONTAINER.into()),
            tail_lines: Some(i64::try_from(tail).unwrap_or(i64::MAX)),
            timestamps,
            previous,
            ..Default::default()
        };
        match errors::raw(self.pods().logs(id, &lp)).await? {
            Ok(text) => Ok(text),
            // 404: the pod is gone; 400: its container has not started, or never restarted.
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 400 => Ok(String::new()),
            Err(e) => Err(errors::map(e, "get", "pods/log")),
        }
    }

    /// Reports what happens to service pods as it happens (see `pod_events.rs`).
    pub(super) async fn watch_pods(
        &self,
        tx: mpsc::Sender<InstanceEvent>,
    ) -> Result<(), ExecutorError> {
        let config = watcher::Config::default().labels(&names::gateway_selector(&self.gateway_id));
        let mut events = watcher(self.pods(), config).boxed();
        let mut tracker = PodTracker::default();
        while let Some(event) = events.next().await {
            let news = match event {
                Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) => {
                    tracker.observe(&pod, false)
                }
                Ok(watcher::Event::Delete(pod)) => tracker.observe(&pod, true),
                Ok(_) => continue,
                Err(e) if errors::is_transient_watch_error(&e) => continue,
                Err(e) => return Err(errors::map_watch(e, "pods")),
            };
            for event in news {
                if tx.send(event).await.is_err() {
                    return Ok(());
                }
            }
        }
        Err(watch_ended())
    }
}

/// Lines of `pods/log` with `timestamps=true`: `<RFC 3339> <text>`. The API merges stdout
/// and stderr, so every line counts as stdout.
pub(super) fn parse_lines(id: &str, text: &str) -> Vec<LogLine> {
    LogLine::parse_timestamped(id, LogStream::Stdout, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_split_into_timestamp_and_text() {
        let text = "2026-11-22T03:37:37.123456789Z Traceback (most recent call last):\n2026-11-22T03:37:38Z   boom\n";
        let lines = parse_lines("web-1", text);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].line, "Traceback (most recent call last):");
        assert_eq!(lines[1].line, "  boom");
        assert_eq!(lines[0].instance, "web-1");
        assert!(lines[0].ts < lines[1].ts);
    }
}
