//! How EC2 calls are retried: throttling (`RequestLimitExceeded`, `Throttling`, ...) and
//! transient failures (5xx, timeouts) with bounded exponential backoff and full jitter.
//!
//! The SDK's standard retry strategy does the work (its classifiers know EC2's throttling
//! codes); this module fixes the bounds. Quota and capacity errors are not transient and are
//! not retried (see [`super::errors`]).

use std::time::Duration;

use aws_config::{retry::RetryConfig, timeout::TimeoutConfig};

use crate::testbed::RetryPolicy;

/// The bounds of EC2 calls unless told otherwise (the SDK sleeps a random fraction of each
/// backoff: full jitter).
pub const DEFAULT_RETRY: RetryPolicy = RetryPolicy {
    attempts: 8,
    initial_backoff: Duration::from_secs(1),
    max_backoff: Duration::from_secs(20),
};

/// Bound on one call, its retries included.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(180);

/// The SDK retry configuration for `policy`.
pub fn retry_config(policy: &RetryPolicy) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(policy.attempts)
        .with_initial_backoff(policy.initial_backoff)
        .with_max_backoff(policy.max_backoff)
}

/// The SDK timeouts: connection, one attempt, the whole call.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .operation_attempt_timeout(Duration::from_secs(60))
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

#[cfg(test)]
mod tests {
    use aws_smithy_http_client::test_util::StaticReplayClient;

    use crate::testbed::{
        aws::{
            client::Ec2Clients,
            errors::Ec2Error,
            instances::launch,
            replay::{self, REGION},
        },
        Instance, InstanceState,
    };

    fn launched() -> aws_smithy_http_client::test_util::ReplayEvent {
        replay::answer(
            200,
            "<RunInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <requestId>req-2</requestId><reservationId>r-1</reservationId><ownerId>1</ownerId>\
             <instancesSet><item><instanceId>i-0123456789abcdef0</instanceId>\
             <instanceType>t3.micro</instanceType>\
             <instanceState><code>0</code><name>pending</name></instanceState>\
             <privateIpAddress>10.0.0.5</privateIpAddress></item></instancesSet>\
             </RunInstancesResponse>",
        )
    }

    fn run(clients: &Ec2Clients) -> anyhow::Result<Vec<Instance>> {
        let spec = replay::launch_spec("t3.micro", "ami-0a2404a000000002");
        let client = &clients.region(REGION);
        replay::block_on(launch(client, REGION, &spec, 0, 1))
    }

    #[test]
    fn request_limit_exceeded_is_retried_with_the_same_client_token() {
        let replay = StaticReplayClient::new(vec![
            replay::error(503, "RequestLimitExceeded", "Request limit exceeded."),
            launched(),
        ]);
        let instances = run(&replay::clients(&replay, 4)).expect("retried to success");
        assert_eq!(instances.len(), 1);
        assert_eq!(instances[0].id, "i-0123456789abcdef0");
        assert_eq!(instances[0].state, InstanceState::Pending);
        let requests: Vec<_> = replay.actual_requests().collect();
        assert_eq!(requests.len(), 2, "one throttled attempt, one retry");
        let token = |i: usize| replay::parameter(requests[i].body().bytes(), "ClientToken");
        assert!(token(0).is_some());
        assert_eq!(token(0), token(1));
    }

    #[test]
    fn throttling_gives_up_after_the_bounded_attempts() {
        let replay = StaticReplayClient::new(
            (0..3)
                .map(|_| replay::error(503, "RequestLimitExceeded", "Request limit exceeded."))
                .collect(),
        );
        let err = run(&replay::clients(&replay, 3)).expect_err("still throttled");
        assert_eq!(replay.actual_requests().count(), 3);
        let ec2 = err.downcast_ref::<Ec2Error>().expect("an EC2 error");
        assert_eq!(ec2.code, "RequestLimitExceeded");
        assert!(err.to_string().contains(REGION), "{err}");
    }

    #[test]
    fn quota_and_capacity_errors_are_not_retried_and_keep_aws_message() {
        for (code, message) in [
            (
                "VcpuLimitExceeded",
                "You have requested more vCPU capacity than your current vCPU limit of 32 allows",
            ),
            (
                "InsufficientInstanceCapacity",
                "We currently do not have sufficient t3.micro capacity in the Availability Zone you requested",
            ),
        ] {
            let replay = StaticReplayClient::new(vec![replay::error(400, code, message), launched()]);
            let err = run(&replay::clients(&replay, 4)).expect_err("not retried");
            assert_eq!(replay.actual_requests().count(), 1, "{code} retried");
            let text = err.to_string();
            assert!(text.contains(&format!("AWS region {REGION}")), "{text}");
            assert!(text.contains(code) && text.contains(message), "{text}");
        }
    }
}
