//! Crash-loop accounting, like Kubernetes' CrashLoopBackOff: three failed starts or crashes
//! within 60 s put a revision in `crash_loop`; starts then back off 1 s, 2 s, 4 s … up to 30 s.
//! A successful start ends the loop; the back-off level resets after 60 s without failures.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Failures within this window count together.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Failures within [`WINDOW`] that make a crash loop.
pub const THRESHOLD: usize = 3;
/// First back-off delay.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest back-off delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Recent failures of one revision and the back-off they impose.
#[derive(Debug, Default)]
pub struct CrashTracker {
    failures: VecDeque<Instant>,
    level: u32,
    backoff_until: Option<Instant>,
    looping: bool,
}

impl CrashTracker {
    /// Records a failed start or a crash at `now`; returns whether the revision is now in a
    /// crash loop.
    pub fn failure(&mut self, now: Instant) -> bool {
        while self
            .failures
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > WINDOW)
        {
            self.failures.pop_front();
        }
        if self.failures.is_empty() {
            self.level = 0;
        }
        self.failures.push_back(now);
        if self.failures.len() >= THRESHOLD {
            let delay = FIRST_BACKOFF
                .saturating_mul(1 << self.level.min(16))
                .min(MAX_BACKOFF);
            self.level += 1;
            self.backoff_until = Some(now + delay);
            self.looping = true;
        }
        self.looping
    }

    /// Records a successful start: the crash loop (if any) is over. Returns whether it was on.
    pub fn started(&mut self) -> bool {
        self.backoff_until = None;
        std::mem::replace(&mut self.looping, false)
    }

    /// The backend backs off restarts of a crashing instance itself (Kubernetes'
    /// CrashLoopBackOff): the revision is in a crash loop. Returns whether it already was.
    pub fn backing_off(&mut self) -> bool {
        std::mem::replace(&mut self.looping, true)
    }

    /// Whether a start may be attempted at `now`.
    pub fn may_start(&self, now: Instant) -> bool {
        self.backoff_until.is_none_or(|t| now >= t)
    }

    /// How long until a start may be attempted, while backing off.
    pub fn retry_after(&self, now: Instant) -> Option<Duration> {
        self.backoff_until
            .filter(|t| *t > now)
            .map(|t| t.saturating_duration_since(now))
    }

    /// Whether the revision is in a crash loop.
    pub fn looping(&self) -> bool {
        self.looping
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_failures_within_a_minute_start_a_loop_with_doubling_backoff() {
        let t0 = Instant::now();
        let mut c = CrashTracker::default();
        assert!(!c.failure(t0));
        assert!(!c.failure(t0 + Duration::from_secs(1)));
        assert!(c.may_start(t0 + Duration::from_secs(1)));
        assert!(c.failure(t0 + Duration::from_secs(2)));
        assert_eq!(
            c.retry_after(t0 + Duration::from_secs(2)),
            Some(Duration::from_secs(1))
        );
        assert!(!c.may_start(t0 + Duration::from_millis(2500)));
        assert!(c.may_start(t0 + Duration::from_secs(3)));
        c.failure(t0 + Duration::from_secs(3));
        assert_eq!(
            c.retry_after(t0 + Duration::from_secs(3)),
            Some(Duration::from_secs(2))
        );
        c.failure(t0 + Duration::from_secs(5));
        assert_eq!(
            c.retry_after(t0 + Duration::from_secs(5)),
            Some(Duration::from_secs(4))
        );
    }

    #[test]
    fn backoff_is_capped_at_thirty_seconds() {
        let t0 = Instant::now();
        let mut c = CrashTracker::default();
        for i in 0..12 {
            c.failure(t0 + Duration::from_secs(i));
        }
        assert_eq!(
            c.retry_after(t0 + Duration::from_secs(11)),
            Some(MAX_BACKOFF)
        );
    }

    #[test]
    fn failures_spread_over_more_than_a_minute_do_not_loop() {
        let t0 = Instant::now();
        let mut c = CrashTracker::default();
        for i in 0..5 {
            assert!(!c.failure(t0 + Duration::from_secs(i * 31)));
        }
    }

    #[test]
    fn a_successful_start_ends_the_loop_but_not_the_memory_of_failures() {
        let t0 = Instant::now();
        let mut c = CrashTracker::default();
        for i in 0..3 {
            c.failure(t0 + Duration::from_secs(i));
        }
        assert!(c.started());
        assert!(!c.looping() && c.may_start(t0));
        assert!(
            c.failure(t0 + Duration::from_secs(4)),
            "a fourth crash loops again at once"
        );
        assert_eq!(
            c.retry_after(t0 + Duration::from_secs(4)),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn a_quiet_minute_resets_the_backoff_level() {
        let t0 = Instant::now();
        let mut c = CrashTracker::default();
        for i in 0..4 {
            c.failure(t0 + Duration::from_secs(i));
        }
        c.started();
        let later = t0 + Duration::from_secs(200);
        for i in 0..3 {
            c.failure(later + Duration::from_secs(i));
        }
        assert_eq!(
            c.retry_after(later + Duration::from_secs(2)),
            Some(FIRST_BACKOFF)
        );
    }
}
