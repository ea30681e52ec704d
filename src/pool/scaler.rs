//! Scaling: a pure decision over what a pool holds, and one step applying it (the loop that
//! runs it every second is in `supervise`).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::Pool;
use crate::model::InstanceState;

/// What the scaler sees of one instance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlotView {
    pub state: InstanceState,
    pub in_flight: u32,
    pub idle_for: Duration,
}

/// What the scaler decides for one pool.
#[derive(Debug, Default, PartialEq)]
pub struct Decision {
    /// Indices of instances to stop, idle past `idle_timeout_s`.
    pub stop: Vec<usize>,
    /// Instances to start to reach `min_instances`.
    pub start: u32,
}

/// Stops instances idle past `idle_timeout` while more than `min` are live, longest idle first;
/// starts instances up to `min`.
pub fn decide(slots: &[SlotView], starting: u32, min: u32, idle_timeout: Duration) -> Decision {
    let live = slots
        .iter()
        .filter(|s| s.state != InstanceState::Draining)
        .count() as u32;
    // An instance being restarted in place (shown as starting) idles too: one that keeps
    // crashing with no call asking for it goes like any other.
    let mut idle: Vec<(usize, Duration)> = slots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.state != InstanceState::Draining && s.in_flight == 0)
        .filter(|(_, s)| s.idle_for >= idle_timeout)
        .map(|(i, s)| (i, s.idle_for))
        .collect();
    idle.sort_by_key(|(i, d)| (std::cmp::Reverse(*d), *i));
    let removable = live.saturating_sub(min) as usize;
    Decision {
        stop: idle.into_iter().take(removable).map(|(i, _)| i).collect(),
        start: min.saturating_sub(live + starting),
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
                idle_for: now.saturating_duration_since(s.last_used),
            })
            .collect();
        let idle = Duration::from_secs(spec.idle_timeout_s);
        let decision = decide(&views, st.starting, spec.min_instances, idle);
        let mut stopped = Vec::new();
        let mut stop = decision.stop;
        stop.sort_unstable_by(|a, b| b.cmp(a));
        for i in stop {
            stopped.push(st.slots.remove(i).instance.id);
        }
        for _ in 0..decision.start {
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
mod restarting_tests {
    use super::*;

    #[test]
    fn an_instance_restarting_in_place_idles_out_like_a_ready_one() {
        let restarting = SlotView {
            state: InstanceState::Starting,
            in_flight: 0,
            idle_for: Duration::from_secs(400),
        };
        let d = decide(&[restarting], 0, 0, Duration::from_secs(300));
        assert_eq!(d.stop, vec![0]);
        assert_eq!(d.start, 0, "it is live: nothing starts for it");
    }
}
