//! Rate limiting for log lines a peer can trigger at will.

use std::time::{Duration, Instant};

/// Lets one event through per interval and counts the ones it held back.
#[derive(Debug)]
pub struct RateLimit {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimit {
    /// At most one event per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(events held back since the last one let through)` if this event may be logged.
    pub fn check(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < self.interval)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

impl Default for RateLimit {
    /// One event per second.
    fn default() -> Self {
        Self::new(Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lets_one_event_through_per_interval_and_counts_the_rest() {
        let mut limit = RateLimit::new(Duration::from_secs(3600));
        assert_eq!(limit.check(), Some(0));
        assert_eq!(limit.check(), None);
        assert_eq!(limit.check(), None);
        limit.last = Some(Instant::now() - Duration::from_secs(7200));
        assert_eq!(limit.check(), Some(2));
    }
}
