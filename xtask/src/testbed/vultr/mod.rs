//! The Vultr provider (API v2, blocking): instances tagged with the testbed id, one SSH key
//! and one firewall group per testbed, Ubuntu 24.04 with the shared boot script.
//!
//! Halted Vultr instances are still billed: only `testbed destroy` (which deletes them) ends the
//! charges. The boot script's shutdown timer halts forgotten instances, which ends nothing on
//! Vultr: the destroy scheduled on the orchestrating machine at the deadline does
//! (`commands/testbed/expiry.rs`).
//!
//! Creates are never replayed blindly (`create.rs`); actions on instances Vultr still keeps
//! locked are retried for minutes (`locked.rs`), on all instances at once.

pub mod client;
pub mod create;
pub mod locked;
pub mod preflight;
pub mod resources;
pub mod types;

use std::{
    collections::{BTreeSet, HashSet},
    path::PathBuf,
    sync::Mutex,
};

use anyhow::{bail, Context, Result};

use crate::failures::Failures;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::{
    public_key::read_public_key, user_data, AccountListing, CreateRequest, Instance, Provider,
    RegionFailure,
};
use crate::{
    parallel,
    settings::{CloudProvider, LoadedSettings},
};
use client::{ApiError, Client, Progress};
use locked::LockWait;
use resources::Resources;
use types::{
    attempt_tag, create_tag, deadline_tag, CreateInstance, InstanceEnvelope, Plan, VultrInstance,
    UBUNTU_24_04_OS_ID,
};

/// What a halted Vultr instance still costs, and why.
const STOPPED_BILLING: &str = "a halted Vultr instance is billed the whole plan price, like a \
    running one, until it is destroyed: stopping saves nothing on Vultr, only `testbed destroy` \
    ends the charges";

/// A testbed on Vultr.
#[derive(Debug)]
pub struct VultrProvider {
    client: Client,
    testbed_id: String,
    plan: String,
    ssh_user: String,
    /// Needed to deploy only.
    public_key_file: Option<PathBuf>,
    port_ranges: Vec<(u16, u16)>,
    lock_wait: LockWait,
    plans: Mutex<Option<Vec<Plan>>>,
    resources: Mutex<Option<Resources>>,
}

/// Instances acted on at once (each action is one request, well under Vultr's 30 requests/s).
const CONCURRENCY: usize = 8;

impl VultrProvider {
    /// The user's SSH public key, which deploys register.
    fn public_key(&self) -> Result<String> {
        let path = self.public_key_file.as_deref().context(
            "settings: `ssh_private_key_file` (or `ssh_public_key_file`) is required to deploy: \
             instances get its public key",
        )?;
        read_public_key(path)
    }

    /// The provider for `settings` (`cloud_provider: "vultr"`), on `api_endpoint` if set.
    pub fn new(settings: &LoadedSettings) -> Result<Self> {
        let cloud = settings.testbed.cloud_of(CloudProvider::Vultr)?;
        let endpoint = cloud
            .api_endpoint
            .clone()
            .unwrap_or_else(|| client::DEFAULT_ENDPOINT.to_string());
        Ok(Self {
            client: Client::new(&endpoint, cloud.token.clone()),
            testbed_id: settings.common.testbed_id.clone(),
            plan: cloud.specs.clone(),
            ssh_user: cloud.ssh_user.clone(),
            public_key_file: cloud.ssh_public_key_file.clone(),
            port_ranges: settings.common.ports.ranges(),
            lock_wait: LockWait::default(),
            plans: Mutex::new(None),
            resources: Mutex::new(None),
        })
    }

    /// Replaces the API client's retry policy.
    pub fn with_retry(mut self, retry: crate::testbed::RetryPolicy) -> Self {
        self.client = self.client.with_retry(retry);
        self
    }

    /// Gives up on an API answer after `timeout` (default 60 s).
    pub fn with_request_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.client = self.client.with_timeout(timeout);
        self
    }

    /// Replaces how long actions on locked instances are retried.
    pub fn with_lock_wait(mut self, lock_wait: LockWait) -> Self {
        self.lock_wait = lock_wait;
        self
    }

    /// Sends retry and waiting lines to `progress` instead of standard error.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.client = self.client.with_progress(progress);
        self
    }

    /// Removes what deploys registered for the testbed: its firewall group and its SSH key(s).
    /// Refuses while any instance of the testbed is left (delete those first). Returns what
    /// was removed, in words; nothing when there was nothing left.
    pub fn cleanup_network(&self) -> Result<Vec<String>> {
        let left = self.vultr_instances(None)?;
        if !left.is_empty() {
            let ids: Vec<&str> = left.iter().map(|i| i.id.as_str()).collect();
            bail!(
                "testbed {} still has {} instance(s) ({}): its firewall group and SSH key are \
                 kept; run `testbed destroy` again to delete the instances first",
                self.testbed_id,
                left.len(),
                ids.join(", ")
            );
        }
        let removed = resources::remove(&self.client, &self.testbed_id)?;
        *self.resources.lock().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(removed)
    }

    /// Every plan Vultr sells (read once).
    fn plans(&self) -> Result<Vec<Plan>> {
        let mut cache = self.plans.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(plans) = cache.as_ref() {
            return Ok(plans.clone());
        }
        let plans: Vec<Plan> = self
            .client
            .list("/plans", &[("type", "all")], "plans")
            .context("cannot list Vultr plans")?;
        *cache = Some(plans.clone());
        Ok(plans)
    }

    /// The SSH key and firewall group of the testbed, found or created (once).
    fn resources(&self) -> Result<Resources> {
        let mut cache = self.resources.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(resources) = cache.as_ref() {
            return Ok(resources.clone());
        }
        let public_key = self.public_key()?;
        let name = resources::ssh_key_name(&self.testbed_id, &public_key);
        let ssh_key_id = resources::ensure_ssh_key(&self.client, &name, &public_key)?;
        let firewall_group_id = resources::ensure_firewall(
            &self.client,
            &resources::firewall_description(&self.testbed_id),
            &resources::firewall_rules(&self.port_ranges),
        )?;
        let found = Resources {
            ssh_key_id,
            firewall_group_id,
        };
        *cache = Some(found.clone());
        Ok(found)
    }

    /// The testbed's instances as Vultr describes them, optionally in one region. Only
    /// instances carrying the testbed's tag exactly.
    fn vultr_instances(&self, region: Option<&str>) -> Result<Vec<VultrInstance>> {
        let mut query = vec![("tag", self.testbed_id.as_str())];
        if let Some(region) = region {
            query.push(("region", region));
        }
        let instances: Vec<VultrInstance> = self
            .client
            .list("/instances", &query, "instances")
            .with_context(|| format!("cannot list the instances of testbed {}", self.testbed_id))?;
        Ok(instances
            .into_iter()
            .filter(|i| i.tags.iter().any(|t| t == &self.testbed_id))
            .filter(|i| region.is_none_or(|r| i.region == r))
            .collect())
    }

    /// The price per hour of plan `plan` in `region` (the whole price in any state but
    /// deleted); `None` when Vultr's plan list does not sell it there.
    fn plan_price(&self, plan: &str, region: &str) -> Result<Option<f64>> {
        Ok(self
            .plans()?
            .iter()
            .find(|p| p.id == plan)
            .filter(|p| p.locations.is_empty() || p.locations.iter().any(|l| l == region))
            .and_then(Plan::hourly_cost))
    }

    /// The testbed's instance labelled `label` in `region` created by the create request
    /// tagged `create`, if Vultr lists one (another deploy of the testbed may have used the
    /// same label, and even the same attempt).
    fn find_instance(
        &self,
        region: &str,
        label: &str,
        create: &str,
    ) -> Result<Option<VultrInstance>> {
        let query = [
            ("tag", self.testbed_id.as_str()),
            ("region", region),
            ("label", label),
        ];
        let instances: Vec<VultrInstance> = self
            .client
            .list("/instances", &query, "instances")
            .with_context(|| format!("cannot look up instance {label} in region {region}"))?;
        Ok(instances.into_iter().find(|i| {
            i.label == label
                && i.region == region
                && i.tags.iter().any(|t| t == &self.testbed_id)
                && i.tags.iter().any(|t| t == create)
        }))
    }

    /// Runs `action` (`what`: "delete", "halt", "start") on every instance, several at once,
    /// retrying those Vultr keeps locked; one error naming each instance that failed.
    fn for_each_instance(
        &self,
        instances: &[Instance],
        what: &str,
        action: impl Fn(&Instance) -> Result<(), ApiError> + Sync,
    ) -> Result<()> {
        let progress = self.client.progress();
        let results = parallel::map(
            instances,
            CONCURRENCY,
            |i| locked::retry_while_locked(progress, &self.lock_wait, i, what, || action(i)),
            || Err("the request failed unexpectedly".to_string()),
        );
        let (_, failures) = Failures::collect(
            instances
                .iter()
                .zip(results.into_iter().map(|r| r.map_err(anyhow::Error::msg))),
            |i| format!("instance {} ({})", i.id, i.region),
        );
        failures.check(|n| format!("cannot {what} {n} of {} instances", instances.len()))
    }
}

impl Provider for VultrProvider {
    fn kind(&self) -> CloudProvider {
        CloudProvider::Vultr
    }

    fn preflight(&self, regions: &[String]) -> Result<()> {
        self.public_key()?;
        preflight::check_api_key(&self.client)?;
        preflight::check_regions(&self.client, regions)?;
        let plans = self.plans()?;
        preflight::check_plan(&self.client, &plans, &self.plan, regions)?;
        Ok(())
    }

    fn price_per_hour(&self, region: &str) -> Result<Option<f64>> {
        self.plan_price(&self.plan, region)
    }

    fn hourly_cost(&self, instance: &Instance) -> Result<Option<f64>> {
        match instance.state {
            super::InstanceState::Terminated => Ok(Some(0.0)),
            _ => self.plan_price(&instance.specs, &instance.region),
        }
    }

    fn price_source(&self) -> String {
        "Vultr's plan list (GET /plans: monthly price / 672 hours)".into()
    }

    fn stopped_billing(&self) -> Option<&'static str> {
        Some(STOPPED_BILLING)
    }

    fn deadline_ends_billing(&self) -> bool {
        false
    }

    fn sweep_account(&self) -> AccountListing {
        let listed: Result<Vec<VultrInstance>> = self
            .client
            .list("/instances", &[], "instances")
            .context("cannot list the account's instances");
        match listed {
            Ok(instances) => AccountListing {
                instances: instances
                    .iter()
                    .filter_map(|i| {
                        let testbed = i.testbed_of()?;
                        Some((testbed.to_string(), i.to_instance(&self.ssh_user)))
                    })
                    .collect(),
                failures: Vec::new(),
            },
            Err(error) => AccountListing {
                instances: Vec::new(),
                failures: vec![RegionFailure {
                    region: "*".into(),
                    error: format!("{error:#}"),
                }],
            },
        }
    }

    fn list_instances(&self) -> Result<Vec<Instance>> {
        Ok(self
            .vultr_instances(None)?
            .iter()
            .map(|i| i.to_instance(&self.ssh_user))
            .collect())
    }

    fn record_deadline(&self, instances: &[Instance], deadline: DateTime<Utc>) -> Result<()> {
        // PATCH replaces the tags: the testbed's tag is sent again with the new deadline.
        let tags = json!({ "tags": [self.testbed_id, deadline_tag(deadline)] });
        self.for_each_instance(instances, "record the deadline of", |i| {
            self.client.update(&format!("/instances/{}", i.id), &tags)
        })
    }

    fn delete_network(&self, busy: &BTreeSet<String>) -> Result<Vec<String>> {
        // The firewall group and SSH key serve every region: kept while any region still
        // holds an instance of the testbed or could not be searched.
        if !busy.is_empty() {
            return Ok(Vec::new());
        }
        self.cleanup_network()
    }

    fn create_instances(&self, request: &CreateRequest<'_>) -> Result<Vec<Instance>> {
        let (region, count) = (request.region, request.count);
        if count == 0 {
            return Ok(Vec::new());
        }
        let resources = self.resources()?;
        let mut labels: HashSet<String> = self
            .vultr_instances(Some(region))?
            .into_iter()
            .map(|i| i.label)
            .collect();
        let script = user_data::script(&self.testbed_id, request.deadline, &self.port_ranges);
        let user_data = base64::engine::general_purpose::STANDARD.encode(script);
        let mut created = Vec::with_capacity(count);
        let mut next = 0usize;
        for _ in 0..count {
            let label = loop {
                let label = format!("{}-{region}-{next}", self.testbed_id);
                next += 1;
                if labels.insert(label.clone()) {
                    break label;
                }
            };
            let create = create_tag(&format!("{:016x}", rand::random::<u64>()));
            let body = CreateInstance {
                region: region.to_string(),
                plan: self.plan.clone(),
                os_id: UBUNTU_24_04_OS_ID,
                hostname: label.clone(),
                label,
                tags: vec![
                    self.testbed_id.clone(),
                    deadline_tag(request.deadline),
                    attempt_tag(request.attempt),
                    create.clone(),
                ],
                sshkey_id: vec![resources.ssh_key_id.clone()],
                user_data: user_data.clone(),
                firewall_group_id: resources.firewall_group_id.clone(),
                enable_ipv6: false,
                backups: "disabled",
                activation_email: false,
            };
            let what = format!("instance {} in region {region}", body.label);
            let instance = create::create_checked(
                self.client.progress(),
                &what,
                || {
                    self.client
                        .create::<InstanceEnvelope>("/instances", &body)
                        .map(|answer| answer.instance)
                },
                || self.find_instance(region, &body.label, &create),
            );
            match instance {
                Ok(instance) => created.push(instance.to_instance(&self.ssh_user)),
                Err(error) => {
                    return Err(error.context(format!(
                        "cannot create instance {} of {count} in region {region} ({} created \
                         there by this call; they belong to the testbed and `testbed destroy` \
                         deletes them)",
                        created.len() + 1,
                        created.len()
                    )))
                }
            }
        }
        Ok(created)
    }

    fn start_instances(&self, instances: &[Instance]) -> Result<()> {
        self.for_each_instance(instances, "start", |i| {
            self.client
                .action(&format!("/instances/{}/start", i.id), &json!({}))
        })
    }

    fn stop_instances(&self, instances: &[Instance]) -> Result<()> {
        self.for_each_instance(instances, "stop", |i| {
            self.client
                .action(&format!("/instances/{}/halt", i.id), &json!({}))
        })
    }

    fn delete_instances(&self, instances: &[Instance]) -> Result<()> {
        self.for_each_instance(instances, "delete", |i| {
            match self.client.delete(&format!("/instances/{}", i.id)) {
                Err(e) if e.status() == Some(404) => Ok(()),
                other => other,
            }
        })
    }
}
