//! EC2 clients: one per region, all built from one shared configuration (credentials, retry
//! policy, timeouts and the endpoint override of `settings.api_endpoint`).

use std::{collections::BTreeMap, sync::Mutex};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_ec2::{
    config::{Region, SharedCredentialsProvider},
    Client,
};

use super::{credentials::AwsCredentials, retry};
use crate::testbed::RetryPolicy;

/// The region asked account-wide questions (which regions exist and are enabled): the one
/// region every account has enabled.
pub const CONTROL_REGION: &str = "us-east-1";

/// EC2 clients, one per region, made when first needed: deploys go to the settings'
/// `regions`, but `status` and `destroy` sweep every region of the account.
#[derive(Debug)]
pub struct Ec2Clients {
    shared: SdkConfig,
    clients: Mutex<BTreeMap<String, Client>>,
}

impl Ec2Clients {
    /// Clients with static `credentials`; `endpoint` replaces AWS's public endpoints (an
    /// emulator in tests).
    pub fn new(credentials: &AwsCredentials, endpoint: Option<&str>, policy: &RetryPolicy) -> Self {
        let mut shared = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .credentials_provider(SharedCredentialsProvider::new(credentials.to_sdk()))
            .retry_config(retry::retry_config(policy))
            .timeout_config(retry::timeout_config());
        if let Some(endpoint) = endpoint {
            shared = shared.endpoint_url(endpoint);
        }
        Self::from_shared(shared.build())
    }

    /// Clients from an existing shared configuration.
    pub fn from_shared(shared: SdkConfig) -> Self {
        Self {
            shared,
            clients: Mutex::new(BTreeMap::new()),
        }
    }

    /// The client of `region` (clients share their connection pool and are cheap to clone).
    pub fn region(&self, region: &str) -> Client {
        let make = || {
            Client::from_conf(
                aws_sdk_ec2::config::Builder::from(&self.shared)
                    .region(Region::new(region.to_string()))
                    .build(),
            )
        };
        match self.clients.lock() {
            Ok(mut clients) => clients
                .entry(region.to_string())
                .or_insert_with(make)
                .clone(),
            Err(_) => make(),
        }
    }

    /// The client for account-wide questions.
    pub fn control(&self) -> Client {
        self.region(CONTROL_REGION)
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
            &retry::DEFAULT_RETRY,
        );
        let client = clients.region("eu-west-1");
        let shown = format!("{clients:?} {client:?}");
        assert!(shown.contains("eu-west-1"), "{shown}");
        assert!(!shown.contains(secret) && !shown.contains("session-secret"));
    }
}
