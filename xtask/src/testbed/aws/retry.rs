//! How EC2 calls are retried: throttling (`RequestLimitExceeded`, `Throttling`, ...) and
//! transient failures (5xx, timeouts) with bounded exponential backoff and full jitter.
//!
//! The SDK's standard retry strategy does the work (its classifiers know EC2's throttling
//! codes); this module fixes the bounds. Quota and capacity errors are not transient and are
//! not retried (see [`super::errors`]).

use std::time::Duration;

use aws_config::{retry::RetryConfig, timeout::TimeoutConfig};

/// Bounds of the retries of one EC2 call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included.
    pub max_attempts: u32,
    /// Upper bound of the first backoff; it doubles at each retry (the actual sleep is a
    /// random fraction of it).
    pub initial_backoff: Duration,
    /// Upper bound of any one backoff.
    pub max_backoff: Duration,
    /// Bound on one call, its retries included.
    pub operation_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(20),
            operation_timeout: Duration::from_secs(180),
        }
    }
}

impl RetryPolicy {
    /// The SDK retry configuration for this policy.
    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts)
            .with_initial_backoff(self.initial_backoff)
            .with_max_backoff(self.max_backoff)
    }

    /// The SDK timeouts: connection, one attempt, the whole call.
    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(10))
            .operation_attempt_timeout(Duration::from_secs(60))
            .operation_timeout(self.operation_timeout)
            .build()
    }
}
