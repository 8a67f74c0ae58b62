//! EC2 clients: one per region, all built from one shared configuration (credentials, retry
//! policy, timeouts and the endpoint override of `settings.api_endpoint`).

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_ec2::{
    config::{Region, SharedCredentialsProvider},
    Client,
};

use super::{credentials::AwsCredentials, retry::RetryPolicy};

/// The region asked account-wide questions (which regions exist and are enabled): the one
/// region every account has enabled.
pub const CONTROL_REGION: &str = "us-east-1";

/// The EC2 clients of a testbed's regions.
#[derive(Clone, Debug)]
pub struct Ec2Clients {
    clients: BTreeMap<String, Client>,
    control: Client,
}

impl Ec2Clients {
    /// Clients for `regions` (and [`CONTROL_REGION`]) with static `credentials`; `endpoint`
    /// replaces AWS's public endpoints (an emulator in tests).
    pub fn new(
        credentials: &AwsCredentials,
        endpoint: Option<&str>,
        regions: &[String],
        retry: &RetryPolicy,
    ) -> Self {
        let mut shared = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .credentials_provider(SharedCredentialsProvider::new(credentials.to_sdk()))
            .retry_config(retry.retry_config())
            .timeout_config(retry.timeout_config());
        if let Some(endpoint) = endpoint {
            shared = shared.endpoint_url(endpoint);
        }
        Self::from_shared(&shared.build(), regions)
    }

    /// Clients for `regions` from an existing shared configuration.
    pub fn from_shared(shared: &SdkConfig, regions: &[String]) -> Self {
        let client = |region: &str| {
            Client::from_conf(
                aws_sdk_ec2::config::Builder::from(shared)
                    .region(Region::new(region.to_string()))
                    .build(),
            )
        };
        Self {
            clients: regions.iter().map(|r| (r.clone(), client(r))).collect(),
            control: client(CONTROL_REGION),
        }
    }

    /// The client of `region`, which must be one of the settings' regions (instances anywhere
    /// else would escape `testbed status` and `testbed destroy`).
    pub fn region(&self, region: &str) -> Result<&Client> {
        self.clients.get(region).ok_or_else(|| {
            anyhow!(
                "region \"{region}\" is not among the settings' `regions` ({}): add it there first",
                self.clients.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }

    /// The client for account-wide questions.
    pub fn control(&self) -> &Client {
        &self.control
    }

    /// Every region with its client, in name order.
    pub fn regions(&self) -> impl Iterator<Item = (&str, &Client)> {
        self.clients.iter().map(|(r, c)| (r.as_str(), c))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn clients_never_show_the_secret() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let credentials = AwsCredentials::parse(
            &format!(
                "[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = {secret}\n\
                 aws_session_token = session-secret\n"
            ),
            Path::new("/creds"),
        )
        .expect("credentials");
        let clients = Ec2Clients::new(
            &credentials,
            Some("http://127.0.0.1:1"),
            &["eu-west-1".into()],
            &RetryPolicy::default(),
        );
        let shown = format!("{clients:?}");
        assert!(shown.contains("eu-west-1"), "{shown}");
        assert!(!shown.contains(secret) && !shown.contains("session-secret"));
        let err = clients
            .region("us-west-2")
            .expect_err("not a settings region");
        assert!(err.to_string().contains("eu-west-1"), "{err}");
    }
}
