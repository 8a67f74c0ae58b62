//! How a provider's API calls are retried: a bounded number of attempts with exponential
//! backoff. One policy type for every provider; each provider's defaults live beside its
//! client (Vultr: our own retry loop; AWS: the SDK's standard strategy, given these bounds).

use std::time::Duration;

/// Bounds of the retries of one API call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included (at least 1).
    pub attempts: u32,
    /// Pause before the first retry; doubled at each further one.
    pub initial_backoff: Duration,
    /// Longest pause between two attempts (also caps a server's `Retry-After`).
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// The pause before retry number `retry` (0 for the first retry): the server's
    /// `retry_after` when it gave one, otherwise exponential, capped by `max_backoff`.
    pub fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let exponential = self.initial_backoff.saturating_mul(1 << retry.min(16));
        retry_after
            .unwrap_or(exponential)
            .min(self.max_backoff)
            .max(Duration::from_millis(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped_and_follows_retry_after() {
        let policy = RetryPolicy {
            attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
        };
        assert_eq!(policy.backoff(0, None), Duration::from_millis(100));
        assert_eq!(policy.backoff(1, None), Duration::from_millis(200));
        assert_eq!(policy.backoff(2, None), Duration::from_millis(350));
        assert_eq!(policy.backoff(60, None), Duration::from_millis(350));
        assert_eq!(
            policy.backoff(0, Some(Duration::from_millis(250))),
            Duration::from_millis(250)
        );
        assert_eq!(
            policy.backoff(0, Some(Duration::from_secs(60))),
            Duration::from_millis(350)
        );
    }
}
