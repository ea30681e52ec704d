//! Scaling: a pure decision over what a pool holds, and one step applying it (the loop that
//! runs it every second is in `supervise`).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{Pool, SlotState};
use crate::model::InstanceState;

/// What the scaler sees of one instance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlotView {
    pub state: InstanceState,
    pub in_flight: u32,
    /// Since its last call (for a paused instance: since it was paused).
    pub idle_for: Duration,
}

/// The callback's scaling settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    pub min: u32,
    pub idle_timeout: Duration,
    /// How long the last instance stays paused once idle; `None`: it is stopped (pausing
    /// turned off with `keep_paused_s: 0`, or a backend that cannot pause).
    pub keep_paused: Option<Duration>,
}

/// What the scaler decides for one pool.
#[derive(Debug, Default, PartialEq)]
pub struct Decision {
    /// Indices of instances to stop: idle past `idle_timeout_s`, or paused past
    /// `keep_paused_s`.
    pub stop: Vec<usize>,
    /// The index of the last running instance to pause rather than stop.
    pub pause: Option<usize>,
    /// Instances to bring up to reach `min_instances`.
    pub start: u32,
}

/// Stops instances idle past `idle_timeout` while more than `min` run, longest idle first;
/// when that takes the last running one away, it is paused instead (unless one is paused
/// already); paused ones go once paused longer than `keep_paused`; starts up to `min`.
pub fn decide(slots: &[SlotView], starting: u32, rules: Rules) -> Decision {
    let paused = |s: &SlotView| s.state == InstanceState::Paused;
    let live = slots
        .iter()
        .filter(|s| s.state != InstanceState::Draining && !paused(s))
        .count() as u32;
    // An instance being restarted in place (shown as starting) idles too: one that keeps
    // crashing with no call asking for it goes like any other.
    let mut idle: Vec<(usize, Duration)> = slots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.state != InstanceState::Draining && !paused(s) && s.in_flight == 0)
        .filter(|(_, s)| s.idle_for >= rules.idle_timeout)
        .map(|(i, s)| (i, s.idle_for))
        .collect();
    idle.sort_by_key(|(i, d)| (std::cmp::Reverse(*d), *i));
    let removable = live.saturating_sub(rules.min) as usize;
    let mut stop: Vec<usize> = idle.into_iter().take(removable).map(|(i, _)| i).collect();
    let takes_the_last = !stop.is_empty() && stop.len() as u32 == live;
    let pause = match rules.keep_paused {
        Some(_) if takes_the_last && !slots.iter().any(paused) => stop.pop(),
        _ => None,
    };
    stop.extend(
        slots
            .iter()
            .enumerate()
            .filter(|(_, s)| paused(s))
            .filter(|(_, s)| rules.keep_paused.is_none_or(|k| s.idle_for >= k))
            .map(|(i, _)| i),
    );
    Decision {
        stop,
        pause,
        start: rules.min.saturating_sub(live + starting),
    }
}

impl Pool {
    /// One scaling step for this pool.
    pub fn scale_tick(self: &Arc<Self>, now: Instant) {
        let spec = Arc::clone(&self.spec);
        if spec.mode == crate::model::Mode::Job {
            return;
        }
        let mut st = self.lock();
        if st.draining {
            return;
        }
        let views: Vec<SlotView> = st
            .slots
            .iter()
            .map(|s| SlotView {
                state: s.state.shown(),
                in_flight: s.in_flight,
                idle_for: match s.state {
                    SlotState::Paused { since } => now.saturating_duration_since(since),
                    _ => now.saturating_duration_since(s.last_used),
                },
            })
            .collect();
        let can_pause = self.executor().can_pause() && spec.keep_paused_s > 0;
        let rules = Rules {
            min: spec.min_instances,
            idle_timeout: Duration::from_secs(spec.idle_timeout_s),
            keep_paused: can_pause.then(|| Duration::from_secs(spec.keep_paused_s)),
        };
        let decision = decide(&views, st.starting, rules);
        if let Some(i) = decision.pause {
            st.slots[i].state = SlotState::Pausing;
            let (pool, instance) = (Arc::clone(self), st.slots[i].instance.clone());
            self.launcher
                .spawn(async move { pool.pause_one(instance).await });
        }
        let mut stopped = Vec::new();
        let mut stop = decision.stop;
        stop.sort_unstable_by(|a, b| b.cmp(a));
        for i in stop {
            stopped.push(st.slots.remove(i).instance.id);
        }
        for _ in 0..decision.start {
            // A paused instance comes back faster than a new one starts.
            if let Some(slot) = st
                .slots
                .iter_mut()
                .find(|s| matches!(s.state, SlotState::Paused { .. }))
            {
                slot.state = SlotState::Resuming;
                slot.last_used = now;
                let (pool, instance) = (Arc::clone(self), slot.instance.clone());
                self.launcher
                    .spawn(async move { pool.resume_one(instance).await });
                continue;
            }
            st.starting += 1;
            let pool = Arc::clone(self);
            self.launcher
                .spawn(async move { pool.start_one(false).await });
        }
        drop(st);
        for id in stopped {
            tracing::info!(callback.path = %spec.path, instance.id = %id, "stopping an idle instance");
            self.remove_in_background(id);
        }
    }

    /// Freezes an instance that idled out as the last one running; one that cannot be
    /// paused is stopped.
    async fn pause_one(self: Arc<Self>, instance: crate::executor::Instance) {
        let paused = self.launcher.pause(&instance).await;
        let mut st = self.lock();
        let Some(i) = st.slot_in(&instance.id, SlotState::Pausing) else {
            return;
        };
        match paused {
            Ok(()) => {
                tracing::info!(callback.path = %self.spec.path, instance.id = %instance.id, "idle instance paused");
                st.slots[i].state = SlotState::Paused {
                    since: Instant::now(),
                };
                // Calls that arrived meanwhile resume it at once.
                self.scale_up(&mut st);
            }
            Err(e) => {
                tracing::warn!(callback.path = %self.spec.path, instance.id = %instance.id, error = %e, "cannot pause an idle instance; stopping it");
                st.slots.remove(i);
                // Calls that arrived meanwhile waited for it: they get a new one.
                if !st.draining {
                    self.scale_up(&mut st);
                }
                drop(st);
                self.remove_in_background(instance.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(in_flight: u32, idle_s: u64) -> SlotView {
        SlotView {
            state: InstanceState::Ready,
            in_flight,
            idle_for: Duration::from_secs(idle_s),
        }
    }

    const IDLE: Duration = Duration::from_secs(300);

    fn rules(min: u32, keep_paused: Option<u64>) -> Rules {
        Rules {
            min,
            idle_timeout: IDLE,
            keep_paused: keep_paused.map(Duration::from_secs),
        }
    }

    fn decide(slots: &[SlotView], starting: u32, min: u32, idle: Duration) -> Decision {
        assert_eq!(idle, IDLE);
        super::decide(slots, starting, rules(min, None))
    }

    #[test]
    fn instances_idle_past_the_timeout_stop_down_to_min() {
        let d = decide(&[slot(0, 400), slot(0, 500), slot(0, 10)], 0, 1, IDLE);
        assert_eq!(d.stop, vec![1, 0]);
        let d = decide(&[slot(0, 400), slot(0, 500)], 0, 1, IDLE);
        assert_eq!(d.stop, vec![1], "the longest idle goes first, min stays");
    }

    #[test]
    fn busy_or_recent_instances_stay() {
        assert_eq!(
            decide(&[slot(1, 900), slot(0, 299)], 0, 0, IDLE),
            Decision::default()
        );
    }

    #[test]
    fn scale_to_zero_when_min_is_zero() {
        assert_eq!(decide(&[slot(0, 300)], 0, 0, IDLE).stop, vec![0]);
    }

    #[test]
    fn min_instances_are_started_counting_those_starting() {
        assert_eq!(decide(&[], 0, 2, IDLE).start, 2);
        assert_eq!(decide(&[slot(0, 0)], 1, 2, IDLE).start, 0);
    }
}

#[cfg(test)]
mod restarting_and_pausing_tests {
    use super::*;

    fn view(state: InstanceState, idle_s: u64) -> SlotView {
        SlotView {
            state,
            in_flight: 0,
            idle_for: Duration::from_secs(idle_s),
        }
    }

    fn rules(min: u32, keep_paused: Option<u64>) -> Rules {
        Rules {
            min,
            idle_timeout: Duration::from_secs(300),
            keep_paused: keep_paused.map(Duration::from_secs),
        }
    }

    #[test]
    fn an_instance_restarting_in_place_idles_out_like_a_ready_one() {
        let d = decide(&[view(InstanceState::Starting, 400)], 0, rules(0, None));
        assert_eq!(d.stop, vec![0]);
        assert_eq!(d.start, 0, "it is live: nothing starts for it");
    }

    #[test]
    fn the_last_running_instance_is_paused_rather_than_stopped() {
        let d = decide(&[view(InstanceState::Ready, 400)], 0, rules(0, Some(600)));
        assert_eq!((d.stop, d.pause), (vec![], Some(0)));
    }

    #[test]
    fn of_several_idle_ones_the_most_recently_used_is_paused_the_rest_stop() {
        let slots = [
            view(InstanceState::Ready, 900),
            view(InstanceState::Ready, 400),
            view(InstanceState::Ready, 700),
        ];
        let d = decide(&slots, 0, rules(0, Some(600)));
        assert_eq!(d.pause, Some(1));
        assert_eq!(d.stop, vec![0, 2]);
    }

    #[test]
    fn one_paused_instance_is_enough() {
        let slots = [
            view(InstanceState::Paused, 10),
            view(InstanceState::Ready, 400),
        ];
        let d = decide(&slots, 0, rules(0, Some(600)));
        assert_eq!((d.stop, d.pause), (vec![1], None));
    }

    #[test]
    fn a_paused_instance_stops_after_keep_paused() {
        let d = decide(&[view(InstanceState::Paused, 599)], 0, rules(0, Some(600)));
        assert_eq!(d, Decision::default());
        let d = decide(&[view(InstanceState::Paused, 600)], 0, rules(0, Some(600)));
        assert_eq!(d.stop, vec![0]);
    }

    #[test]
    fn without_pausing_idle_instances_and_paused_ones_stop() {
        let slots = [
            view(InstanceState::Ready, 400),
            view(InstanceState::Paused, 5),
        ];
        let d = decide(&slots, 0, rules(0, None));
        assert_eq!((d.stop, d.pause), (vec![0, 1], None));
    }

    #[test]
    fn min_instances_keep_running_and_a_paused_one_does_not_count_as_running() {
        let d = decide(&[view(InstanceState::Ready, 400)], 0, rules(1, Some(600)));
        assert_eq!(d, Decision::default());
        let d = decide(&[view(InstanceState::Paused, 5)], 0, rules(1, Some(600)));
        assert_eq!(d.start, 1);
    }
}
