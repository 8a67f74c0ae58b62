//! The AWS EC2 provider: instances in several regions, found again by their testbed tag.
//!
//! Credentials come from the settings' `token_file` (AWS credentials format, no region);
//! regions from `regions`; the instance type from `specs`. Every region gets the user's SSH
//! key as a key pair and a security group opening SSH and the benchmark ports; instances run
//! the newest Ubuntu 24.04 image of their architecture, with a gp3 root volume of
//! `disk_size_gb` and a boot script that shuts them down (and so terminates them) after the
//! time to live. The async SDK is driven from the blocking [`Provider`] calls through a
//! runtime of the provider's own.

pub mod client;
pub mod credentials;
pub mod errors;
pub mod images;
pub mod instances;
pub mod network;
pub mod prices;
#[cfg(test)]
mod replay;
pub mod retry;
pub mod tags;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    future::Future,
    path::PathBuf,
    sync::Mutex,
};

use anyhow::{anyhow, bail, Context, Result};

use crate::failures::Failures;
use aws_sdk_ec2::{
    types::{Filter, LocationType},
    Client,
};
use futures::future::join_all;

use self::{
    client::{Ec2Clients, CONTROL_REGION},
    credentials::AwsCredentials,
    errors::api_error,
    images::MachineImage,
    instances::{Action, LaunchSpec},
};
use chrono::{DateTime, Utc};

use super::{
    public_key::read_public_key, user_data, AccountListing, CreateRequest, Instance, InstanceState,
    Listing, Provider, RegionFailure,
};

/// What a stopped EC2 instance still costs, and why.
const STOPPED_BILLING: &str = "a stopped EC2 instance bills no compute, but its EBS volume \
    (`disk_size_gb` of gp3) and any Elastic IP are still charged, and instance-store data (the \
    `d` in m5d) is lost on stop; `testbed destroy` ends every charge";
use crate::settings::{Cloud, CloudProvider, Common, LoadedSettings};
use crate::testbed::RetryPolicy;

/// Testbeds on AWS EC2.
pub struct AwsProvider {
    runtime: tokio::runtime::Runtime,
    clients: Ec2Clients,
    testbed_id: String,
    instance_type: String,
    disk_size_gb: u32,
    port_ranges: Vec<(u16, u16)>,
    /// Needed to deploy only (`status`, `stop`, `start` and `destroy` work without it).
    public_key_file: Option<PathBuf>,
    ssh_user: String,
    /// The settings' regions: always swept, even if the account's list leaves one out.
    settings_regions: Vec<String>,
    /// Images found by the pre-flight, per region.
    images: Mutex<HashMap<String, MachineImage>>,
    /// The regions enabled for the account, once asked.
    account_regions: Mutex<Option<Vec<String>>>,
}

impl AwsProvider {
    /// The provider of validated settings (`cloud_provider: "aws"`).
    pub fn new(settings: &LoadedSettings) -> Result<Self> {
        Self::with_retry(settings, retry::DEFAULT_RETRY)
    }

    /// The provider with a given retry policy.
    pub fn with_retry(settings: &LoadedSettings, retry: RetryPolicy) -> Result<Self> {
        let cloud = settings.testbed.cloud_of(CloudProvider::Aws)?;
        let credentials = AwsCredentials::load(&cloud.token_file)?;
        let clients = Ec2Clients::new(&credentials, cloud.api_endpoint.as_deref(), &retry);
        Self::with_clients(&settings.common, cloud, clients)
    }

    /// The provider over existing clients.
    pub fn with_clients(common: &Common, cloud: &Cloud, clients: Ec2Clients) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime of the AWS client")?;
        Ok(Self {
            runtime,
            clients,
            testbed_id: common.testbed_id.clone(),
            instance_type: cloud.specs.clone(),
            disk_size_gb: cloud.disk_size_gb,
            port_ranges: common.ports.ranges(),
            public_key_file: cloud.ssh_public_key_file.clone(),
            ssh_user: cloud.ssh_user.clone(),
            settings_regions: cloud.regions.clone(),
            images: Mutex::new(HashMap::new()),
            account_regions: Mutex::new(None),
        })
    }

    /// The image instances get in `region` (found by the pre-flight, else looked up now).
    pub fn machine_image(&self, region: &str) -> Result<MachineImage> {
        if let Some(image) = self.cached_image(region) {
            return Ok(image);
        }
        let client = &self.clients.region(region);
        let image = self.block_on(async {
            let arch = images::instance_architecture(client, region, &self.instance_type).await?;
            images::ubuntu_2404(client, region, arch).await
        })?;
        self.cache_image(region, &image);
        Ok(image)
    }

    /// The name of the testbed's key pair (it follows the public key).
    pub fn key_pair_name(&self) -> Result<String> {
        Ok(network::key_pair_name(
            &self.testbed_id,
            &self.public_key()?,
        ))
    }

    /// The user's SSH public key, which deploys register.
    fn public_key(&self) -> Result<String> {
        let path = self.public_key_file.as_deref().ok_or_else(|| {
            anyhow!(
                "settings: `ssh_private_key_file` (or `ssh_public_key_file`) is required to \
                 deploy: instances get its public key"
            )
        })?;
        read_public_key(path)
    }

    /// Lists with `list` in every region to sweep, all at once: what was found and the regions
    /// that failed (with the provider's answer).
    fn sweep_regions<T, F, Fut>(&self, list: F) -> (Vec<T>, Vec<RegionFailure>)
    where
        F: Fn(Client, String) -> Fut,
        Fut: Future<Output = Result<Vec<T>>>,
    {
        let (regions, failure) = self.swept_regions();
        let lists = self.block_on(join_all(
            regions
                .iter()
                .map(|region| list(self.clients.region(region), region.clone())),
        ));
        let mut found = Vec::new();
        let mut failures: Vec<RegionFailure> = failure.into_iter().collect();
        for (region, list) in regions.into_iter().zip(lists) {
            match list {
                Ok(items) => found.extend(items),
                Err(error) => failures.push(RegionFailure {
                    region,
                    error: format!("{error:#}"),
                }),
            }
        }
        (found, failures)
    }

    /// The regions a sweep reads: those enabled for the account (DescribeRegions) and the
    /// settings' ones. If the account's list cannot be read, the settings' regions and the
    /// failure, which makes the sweep incomplete.
    fn swept_regions(&self) -> (Vec<String>, Option<RegionFailure>) {
        let known = self.account_regions.lock().ok().and_then(|r| r.clone());
        let (mut regions, failure) = match known {
            Some(regions) => (regions, None),
            None => match self.block_on(enabled_regions(&self.clients.control())) {
                Ok(regions) => {
                    if let Ok(mut cache) = self.account_regions.lock() {
                        *cache = Some(regions.clone());
                    }
                    (regions, None)
                }
                Err(error) => (
                    Vec::new(),
                    Some(RegionFailure {
                        region: "*".into(),
                        error: format!(
                            "{error:#}; only the settings' regions ({}) were searched",
                            self.settings_regions.join(", ")
                        ),
                    }),
                ),
            },
        };
        regions.extend(self.settings_regions.iter().cloned());
        regions.sort();
        regions.dedup();
        (regions, failure)
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    fn cached_image(&self, region: &str) -> Option<MachineImage> {
        self.images
            .lock()
            .ok()
            .and_then(|images| images.get(region).cloned())
    }

    fn cache_image(&self, region: &str, image: &MachineImage) {
        if let Ok(mut images) = self.images.lock() {
            images.insert(region.to_string(), image.clone());
        }
    }

    /// Checks one region: the instance type offered there and an image found.
    async fn check_region(
        &self,
        client: &Client,
        region: &str,
        arch: images::Architecture,
    ) -> Result<MachineImage> {
        let offered = client
            .describe_instance_type_offerings()
            .location_type(LocationType::Region)
            .filters(
                Filter::builder()
                    .name("instance-type")
                    .values(&self.instance_type)
                    .build(),
            )
            .send()
            .await
            .map_err(|err| {
                api_error(
                    err,
                    region,
                    &format!(
                        "checking that instance type {} is offered",
                        self.instance_type
                    ),
                )
            })?;
        if offered.instance_type_offerings().is_empty() {
            bail!(
                "instance type \"{}\" (settings `specs`) is not offered in AWS region {region}",
                self.instance_type
            );
        }
        let image = images::ubuntu_2404(client, region, arch).await?;
        if let Some(minimum) = image.root_volume_gb.filter(|&gb| self.disk_size_gb < gb) {
            bail!(
                "settings `disk_size_gb` = {} is smaller than the root volume of image {} in \
                 AWS region {region} ({minimum} GB)",
                self.disk_size_gb,
                image.id
            );
        }
        Ok(image)
    }

    /// Runs `f` on each region's instances, all regions at once; the error names every
    /// region that failed (the others are done).
    fn per_region<F, Fut>(&self, instances: &[Instance], f: F) -> Result<()>
    where
        F: Fn(Client, String, Vec<String>) -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        let mut by_region: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for instance in instances {
            by_region
                .entry(instance.region.as_str())
                .or_default()
                .push(instance.id.clone());
        }
        let regions: Vec<String> = by_region.keys().map(|r| r.to_string()).collect();
        let calls = by_region
            .into_iter()
            .map(|(region, ids)| f(self.clients.region(region), region.to_string(), ids));
        let failures: Vec<RegionFailure> = regions
            .into_iter()
            .zip(self.block_on(join_all(calls)))
            .filter_map(|(region, result)| {
                result.err().map(|e| RegionFailure {
                    region,
                    error: format!("{e:#}"),
                })
            })
            .collect();
        match super::failure_error("AWS failed in", &failures) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// The regions enabled for the account (opted in or not needing it), in name order.
async fn enabled_regions(control: &Client) -> Result<Vec<String>> {
    let answer = control
        .describe_regions()
        .send()
        .await
        .map_err(|err| api_error(err, CONTROL_REGION, "listing the account's EC2 regions"))?;
    let mut regions: Vec<String> = answer
        .regions()
        .iter()
        .filter(|r| r.opt_in_status() != Some("not-opted-in"))
        .filter_map(|r| r.region_name().map(str::to_string))
        .collect();
    regions.sort();
    Ok(regions)
}

/// Checks that every one of `regions` exists and is enabled for the account.
async fn check_regions(control: &Client, regions: &[String]) -> Result<()> {
    let answer = control
        .describe_regions()
        .all_regions(true)
        .send()
        .await
        .map_err(|err| api_error(err, CONTROL_REGION, "listing the EC2 regions"))?;
    let known: BTreeMap<&str, &str> = answer
        .regions()
        .iter()
        .filter_map(|r| Some((r.region_name()?, r.opt_in_status().unwrap_or_default())))
        .collect();
    for region in regions {
        match known.get(region.as_str()) {
            None => bail!(
                "AWS region \"{region}\" (settings `regions`) does not exist; EC2 regions are: {}",
                known.keys().copied().collect::<Vec<_>>().join(", ")
            ),
            Some(&status) if status == "not-opted-in" => bail!(
                "AWS region \"{region}\" (settings `regions`) is not enabled for this account \
                 (opt-in status \"{status}\"): enable it in the AWS console or remove it"
            ),
            Some(_) => {}
        }
    }
    Ok(())
}

impl Provider for AwsProvider {
    fn kind(&self) -> CloudProvider {
        CloudProvider::Aws
    }

    fn preflight(&self, regions: &[String]) -> Result<()> {
        self.public_key()?;
        let clients: Vec<(&str, Client)> = regions
            .iter()
            .map(|r| (r.as_str(), self.clients.region(r)))
            .collect();
        let Some((first_region, first_client)) = clients.first() else {
            return Ok(());
        };
        let images = self.block_on(async {
            check_regions(&self.clients.control(), regions).await?;
            let arch =
                images::instance_architecture(first_client, first_region, &self.instance_type)
                    .await?;
            let checks = clients
                .iter()
                .map(|(region, client)| self.check_region(client, region, arch));
            let results = join_all(checks).await;
            let named = clients
                .iter()
                .zip(results)
                .map(|(&(region, _), result)| (region, result.map(|image| (region, image))));
            let (found, failures) = Failures::collect(named, |region| region.to_string());
            failures.check(|n| format!("{n} of {} regions cannot be used", clients.len()))?;
            Ok::<_, anyhow::Error>(found)
        })?;
        for (region, image) in images {
            self.cache_image(region, &image);
        }
        Ok(())
    }

    fn price_per_hour(&self, region: &str) -> Result<Option<f64>> {
        prices::instance_hourly_usd(region, &self.instance_type)
    }

    fn hourly_cost(&self, instance: &Instance) -> Result<Option<f64>> {
        match instance.state {
            InstanceState::Terminated => Ok(Some(0.0)),
            InstanceState::Stopped | InstanceState::Stopping => {
                prices::storage_hourly_usd(&instance.region, self.disk_size_gb)
            }
            _ => prices::instance_hourly_usd(&instance.region, &instance.specs),
        }
    }

    fn price_source(&self) -> String {
        format!(
            "the AWS price table {} (prices of {})",
            prices::TABLE_PATH,
            prices::date()
        )
    }

    fn stopped_billing(&self) -> Option<&'static str> {
        Some(STOPPED_BILLING)
    }

    fn sweep_account(&self) -> AccountListing {
        let (instances, failures) = self.sweep_regions(|client, region| async move {
            instances::list_all_testbeds(&client, &region, &self.ssh_user).await
        });
        AccountListing {
            instances,
            failures,
        }
    }

    fn list_instances(&self) -> Result<Vec<Instance>> {
        self.sweep().complete()
    }

    fn sweep(&self) -> Listing {
        let (instances, failures) = self.sweep_regions(|client, region| async move {
            instances::list(&client, &region, &self.testbed_id, &self.ssh_user).await
        });
        Listing {
            instances,
            failures,
        }
    }

    fn create_instances(&self, request: &CreateRequest<'_>) -> Result<Vec<Instance>> {
        let region = request.region;
        if request.count == 0 {
            return Ok(Vec::new());
        }
        let client = &self.clients.region(region);
        let public_key = self.public_key()?;
        let image = self.machine_image(region)?;
        let key_name = network::key_pair_name(&self.testbed_id, &public_key);
        let script = user_data::script(&self.testbed_id, request.deadline, &self.port_ranges);
        self.block_on(async {
            network::import_key_pair(client, region, &self.testbed_id, &key_name, &public_key)
                .await?;
            let group =
                network::ensure_security_group(client, region, &self.testbed_id, &self.port_ranges)
                    .await?;
            let existing =
                instances::list(client, region, &self.testbed_id, &self.ssh_user).await?;
            let spec = LaunchSpec {
                testbed_id: &self.testbed_id,
                instance_type: &self.instance_type,
                image_id: &image.id,
                root_device_name: &image.root_device_name,
                key_name: &key_name,
                security_group_id: &group,
                disk_size_gb: self.disk_size_gb,
                user_data: &script,
                ssh_user: &self.ssh_user,
                attempt: request.attempt,
                deadline: request.deadline,
            };
            instances::launch(client, region, &spec, existing.len(), request.count).await
        })
    }

    fn start_instances(&self, instances: &[Instance]) -> Result<()> {
        self.per_region(instances, |client, region, ids| async move {
            instances::apply(&client, &region, Action::Start, &ids).await
        })
    }

    fn stop_instances(&self, instances: &[Instance]) -> Result<()> {
        self.per_region(instances, |client, region, ids| async move {
            instances::apply(&client, &region, Action::Stop, &ids).await
        })
    }

    fn delete_instances(&self, instances: &[Instance]) -> Result<()> {
        self.per_region(instances, |client, region, ids| async move {
            instances::apply(&client, &region, Action::Terminate, &ids).await
        })
    }

    fn record_deadline(&self, instances: &[Instance], deadline: DateTime<Utc>) -> Result<()> {
        self.per_region(instances, |client, region, ids| async move {
            client
                .create_tags()
                .set_resources(Some(ids))
                .tags(tags::deadline(deadline))
                .send()
                .await
                .map(drop)
                .map_err(|err| api_error(err, &region, "recording the dead-man switch deadline"))
        })
    }

    fn delete_network(&self, busy: &BTreeSet<String>) -> Result<Vec<String>> {
        let (regions, failure) = self.swept_regions();
        let regions: Vec<String> = regions.into_iter().filter(|r| !busy.contains(r)).collect();
        let results = self.block_on(join_all(regions.iter().map(|region| async move {
            let client = self.clients.region(region);
            network::delete(&client, region, &self.testbed_id).await
        })));
        let mut deleted = Vec::new();
        let mut failures: Vec<RegionFailure> = failure.into_iter().collect();
        for (region, result) in regions.into_iter().zip(results) {
            match result {
                Ok(lines) => deleted.extend(lines),
                Err(error) => failures.push(RegionFailure {
                    region,
                    error: format!("{error:#}"),
                }),
            }
        }
        match super::failure_error(
            "could not delete the testbed's network resources in",
            &failures,
        ) {
            Some(error) => Err(error.context(format!(
                "deleted: {}",
                if deleted.is_empty() {
                    "nothing".to_string()
                } else {
                    deleted.join(", ")
                }
            ))),
            None => Ok(deleted),
        }
    }
}
