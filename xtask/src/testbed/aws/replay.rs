//! Test support: EC2 clients over the SDK's replay HTTP client, which answers canned EC2
//! responses in order and records the requests (for what moto cannot do: throttling,
//! quota and capacity errors, several pages).

use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_ec2::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;

use super::{client::Ec2Clients, instances::LaunchSpec, retry};
use crate::testbed::RetryPolicy;

/// The region of the replayed clients.
pub(super) const REGION: &str = "eu-west-1";

/// Clients answered by `replay`, retrying up to `max_attempts` with millisecond backoffs.
pub(super) fn clients(replay: &StaticReplayClient, max_attempts: u32) -> Ec2Clients {
    let policy = RetryPolicy {
        attempts: max_attempts,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
    };
    let shared = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(SharedCredentialsProvider::new(Credentials::for_tests()))
        .retry_config(retry::retry_config(&policy))
        .timeout_config(retry::timeout_config())
        .http_client(replay.clone())
        .build();
    Ec2Clients::from_shared(shared)
}

/// An EC2 answer with `status` and an XML `body`.
pub(super) fn answer(status: u16, body: impl Into<String>) -> ReplayEvent {
    ReplayEvent::new(
        http::Request::builder()
            .uri(format!("https://ec2.{REGION}.amazonaws.com/"))
            .body(SdkBody::empty())
            .expect("request"),
        http::Response::builder()
            .status(status)
            .body(SdkBody::from(body.into()))
            .expect("response"),
    )
}

/// An EC2 error answer, as EC2 writes them.
pub(super) fn error(status: u16, code: &str, message: &str) -> ReplayEvent {
    answer(
        status,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>\
             <Code>{code}</Code><Message>{message}</Message></Error></Errors>\
             <RequestID>req-1</RequestID></Response>"
        ),
    )
}

/// The value of `name` in a recorded (form-encoded) request body.
pub(super) fn parameter(body: Option<&[u8]>, name: &str) -> Option<String> {
    let body = std::str::from_utf8(body?).ok()?;
    body.split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .map(str::to_string)
}

/// Runs a future to completion on a runtime of its own.
pub(super) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// A launch of `instance_type` from `image_id` for testbed `tb`, attempt `a1`.
pub(super) fn launch_spec(
    instance_type: &'static str,
    image_id: &'static str,
) -> LaunchSpec<'static> {
    LaunchSpec {
        testbed_id: "tb",
        instance_type,
        image_id,
        root_device_name: "/dev/sda1",
        key_name: "key",
        security_group_id: "sg-1",
        disk_size_gb: 20,
        user_data: "#!/bin/bash\n",
        ssh_user: "ubuntu",
        attempt: "a1",
        deadline: chrono::Utc::now(),
    }
}
