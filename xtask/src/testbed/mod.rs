//! Testbeds: the machines a benchmark runs on, behind one [`Provider`] interface.
//!
//! Cloud providers (AWS, Vultr) create and bill instances; `static` is a fixed list of the
//! user's SSH hosts; `local` and `sim` are this machine (`this_machine.rs`). The benchmark
//! logic only sees [`Instance`]s.

#[cfg(feature = "aws")]
pub mod aws;
pub mod host_setup;
pub mod public_key;
mod retry;
pub mod static_hosts;
pub mod this_machine;
pub mod user_data;
pub mod vultr;

use std::{collections::BTreeSet, fmt};

use anyhow::Result;
use chrono::{DateTime, Utc};

pub use crate::instance::{Instance, InstanceState};
use crate::settings::{CloudProvider, LoadedSettings, Testbed};
pub use retry::RetryPolicy;

/// A region (or the provider's whole API, named `*`) that could not be read or changed, with
/// the provider's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionFailure {
    /// Region name, or `*` when the failure is not a region's.
    pub region: String,
    /// What went wrong, in words (the provider's message included).
    pub error: String,
}

impl fmt::Display for RegionFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.region, self.error)
    }
}

/// What a sweep of the account found: the testbed's instances in every region that answered,
/// and the regions that did not. Regions are independent: one failing region does not hide
/// the others.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// The testbed's instances (deleted ones left out).
    pub instances: Vec<Instance>,
    /// Regions that could not be listed: their instances, if any, are unknown.
    pub failures: Vec<RegionFailure>,
}

impl Listing {
    /// The instances, or an error naming every region that could not be listed.
    pub fn complete(self) -> Result<Vec<Instance>> {
        match failure_error("could not list the testbed's instances in", &self.failures) {
            Some(error) => Err(error),
            None => Ok(self.instances),
        }
    }

    /// The regions of the instances found.
    pub fn regions(&self) -> BTreeSet<String> {
        self.instances.iter().map(|i| i.region.clone()).collect()
    }
}

/// What a sweep of the whole account found: every instance of any testbed of this tool (by
/// its tags; untagged instances are never the tool's), with its testbed id.
#[derive(Clone, Debug, Default)]
pub struct AccountListing {
    /// `(testbed_id, instance)`, deleted instances left out.
    pub instances: Vec<(String, Instance)>,
    /// Regions that could not be listed.
    pub failures: Vec<RegionFailure>,
}

/// One error listing `failures` after `what` (`None` when there is none), ending with what to
/// do about them.
pub fn failure_error(what: &str, failures: &[RegionFailure]) -> Option<anyhow::Error> {
    match failures {
        [] => None,
        [one] => Some(anyhow::anyhow!("{what} {one}")),
        many => Some(anyhow::anyhow!(
            "{what} {} regions:\n  {}",
            many.len(),
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n  ")
        )),
    }
}

/// Instances to create in one region.
#[derive(Clone, Debug)]
pub struct CreateRequest<'a> {
    /// Region to create them in.
    pub region: &'a str,
    /// How many.
    pub count: usize,
    /// When their dead-man switch powers them off.
    pub deadline: DateTime<Utc>,
    /// The deploy attempt (stable across retries and a re-run after a crash, new for each
    /// deploy): what makes creates idempotent.
    pub attempt: &'a str,
}

/// What a testbed provider can do. Calls are blocking; implementations that talk to async
/// APIs run their own runtime.
pub trait Provider {
    /// Which provider this is; its name (`aws`, `vultr`, `static`, `local`) is the settings'.
    fn kind(&self) -> CloudProvider;

    /// Short name, as in the settings' `cloud_provider`.
    fn name(&self) -> String {
        self.kind().to_string()
    }

    /// Checks, before anything is created, that `regions` exist for this provider, that the
    /// instance type or plan is offered there, and that credentials and keys are usable.
    fn preflight(&self, regions: &[String]) -> Result<()>;

    /// Price of one instance of the settings' type or plan per hour in `region`, in USD;
    /// `None` when [`Self::price_source`] has no price for it there.
    fn price_per_hour(&self, region: &str) -> Result<Option<f64>>;

    /// What `instance` costs per hour in USD as it is now (running, or stopped: see
    /// [`Self::stopped_billing`]); `None` when [`Self::price_source`] has no price for its type
    /// or plan in its region.
    fn hourly_cost(&self, _instance: &Instance) -> Result<Option<f64>> {
        Ok(Some(0.0))
    }

    /// Where the prices come from, with their date when they are a table.
    fn price_source(&self) -> String {
        "nothing is billed".into()
    }

    /// What a stopped testbed still costs and why, in one sentence (`None`: nothing bills).
    fn stopped_billing(&self) -> Option<&'static str> {
        None
    }

    /// Whether the dead-man switch (the instance powering itself off at its deadline) ends
    /// the instance's charges. When it does not, the deadline is enforced by a destroy
    /// scheduled on this machine.
    fn deadline_ends_billing(&self) -> bool {
        true
    }

    /// Every instance of every testbed of this tool in every region of the account, found by
    /// the tags the tool puts on what it creates.
    fn sweep_account(&self) -> AccountListing {
        AccountListing::default()
    }

    /// Every instance of this testbed in every region the account can use (not only the
    /// settings' `regions`), including those of an interrupted deploy (not yet running) and
    /// excluding already deleted ones. Fails if any region cannot be listed: see [`Self::sweep`].
    fn list_instances(&self) -> Result<Vec<Instance>>;

    /// Like [`Self::list_instances`], but a region that cannot be listed is reported in the
    /// [`Listing`] and the others are still listed.
    fn sweep(&self) -> Listing {
        match self.list_instances() {
            Ok(instances) => Listing {
                instances,
                failures: Vec::new(),
            },
            Err(error) => Listing {
                instances: Vec::new(),
                failures: vec![RegionFailure {
                    region: "*".into(),
                    error: format!("{error:#}"),
                }],
            },
        }
    }

    /// Creates `request.count` instances in `request.region` (registering the SSH key and
    /// opening the benchmark ports there first), each powering itself off at
    /// `request.deadline`. Never creates twice what an earlier call of the same deploy attempt
    /// may have created (an answer lost, a retry, a crash and a re-run).
    fn create_instances(&self, request: &CreateRequest<'_>) -> Result<Vec<Instance>>;

    /// Starts stopped instances.
    fn start_instances(&self, instances: &[Instance]) -> Result<()>;

    /// Stops running instances.
    fn stop_instances(&self, instances: &[Instance]) -> Result<()>;

    /// Deletes instances (and stops their billing). Deleting an already deleted one is not
    /// an error. Regions are handled independently: the error names those that failed.
    fn delete_instances(&self, instances: &[Instance]) -> Result<()>;

    /// Records a new dead-man switch deadline for `instances` with the provider (what
    /// `testbed status` shows), e.g. after `testbed start` re-armed them.
    fn record_deadline(&self, _instances: &[Instance], _deadline: DateTime<Utc>) -> Result<()> {
        Ok(())
    }

    /// Deletes what deploys created besides instances (key pairs, security or firewall
    /// groups) everywhere but in `busy` regions (which still hold instances of the testbed, or
    /// could not be listed); returns one line per resource deleted. Nothing to do by default.
    fn delete_network(&self, _busy: &BTreeSet<String>) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}

/// The provider the settings ask for.
pub fn provider(settings: &LoadedSettings) -> Result<Box<dyn Provider>> {
    match &settings.testbed {
        Testbed::Local => Ok(Box::new(this_machine::ThisMachine {
            kind: CloudProvider::Local,
        })),
        Testbed::Sim(_) => Ok(Box::new(this_machine::ThisMachine {
            kind: CloudProvider::Sim,
        })),
        Testbed::Static(hosts) => Ok(Box::new(static_hosts::StaticProvider::new(hosts))),
        Testbed::Vultr(_) => Ok(Box::new(vultr::VultrProvider::new(settings)?)),
        #[cfg(feature = "aws")]
        Testbed::Aws(_) => Ok(Box::new(aws::AwsProvider::new(settings)?)),
        #[cfg(not(feature = "aws"))]
        Testbed::Aws(_) => anyhow::bail!(
            "this build of the orchestrator has no AWS support: build it with `--features aws`"
        ),
    }
}

/// The provider of `settings` and the testbed's running instances; an error naming the testbed
/// when none runs.
pub fn running_instances(settings: &LoadedSettings) -> Result<(Box<dyn Provider>, Vec<Instance>)> {
    let provider = provider(settings)?;
    let instances: Vec<Instance> = provider
        .list_instances()?
        .into_iter()
        .filter(Instance::is_running)
        .collect();
    if instances.is_empty() {
        anyhow::bail!(
            "the {} testbed \"{}\" has no running instance: run `cargo xtask testbed deploy` or \
             `testbed start`",
            provider.name(),
            settings.common.testbed_id
        );
    }
    Ok((provider, instances))
}
