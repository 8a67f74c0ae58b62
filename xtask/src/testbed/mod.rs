//! Testbeds: the machines a benchmark runs on, behind one [`Provider`] interface.
//!
//! Cloud providers (AWS, Vultr) create and bill instances; `static` is a fixed list of the
//! user's SSH hosts; `local` is this machine. The benchmark logic only sees [`Instance`]s.

pub mod aws;
pub mod local;
pub mod public_key;
pub mod setup;
pub mod static_hosts;
pub mod user_data;
pub mod vultr;

use std::fmt;

use anyhow::Result;

use crate::settings::{CloudProvider, LoadedSettings};

/// Lifecycle state of an instance, normalised across providers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum InstanceState {
    /// Being created or booting.
    Pending,
    /// Running and reachable (for Vultr: active and server status ok).
    Running,
    /// Being stopped.
    Stopping,
    /// Stopped (may still bill).
    Stopped,
    /// Being deleted or deleted.
    Terminated,
    /// A provider state with no equivalent here, as the provider names it.
    Other(String),
}

impl fmt::Display for InstanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pending => f.write_str("pending"),
            Self::Running => f.write_str("running"),
            Self::Stopping => f.write_str("stopping"),
            Self::Stopped => f.write_str("stopped"),
            Self::Terminated => f.write_str("terminated"),
            Self::Other(s) => f.write_str(s),
        }
    }
}

/// One machine of a testbed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// Provider's id (AWS instance id, Vultr instance id, `host:port` for static hosts).
    pub id: String,
    /// Region the instance lives in.
    pub region: String,
    /// Address the orchestrator connects to (SSH, metrics). `None` until assigned.
    pub public_ip: Option<String>,
    /// Address validators use to reach each other. Default: the public one.
    pub private_ip: Option<String>,
    /// Instance type or plan.
    pub specs: String,
    /// Current state.
    pub state: InstanceState,
    /// SSH port (22 on clouds).
    pub ssh_port: u16,
    /// SSH login user.
    pub ssh_user: String,
}

impl Instance {
    /// Whether the instance can run a benchmark now.
    pub fn is_running(&self) -> bool {
        self.state == InstanceState::Running && self.public_ip.is_some()
    }

    /// The address peers use to reach this instance.
    pub fn peer_address(&self) -> Option<&str> {
        self.private_ip.as_deref().or(self.public_ip.as_deref())
    }
}

/// What a testbed provider can do. Calls are blocking; implementations that talk to async
/// APIs run their own runtime.
pub trait Provider {
    /// Short name, as in the settings (`aws`, `vultr`, `static`, `local`).
    fn name(&self) -> &'static str;

    /// Checks, before anything is created, that `regions` exist for this provider, that the
    /// instance type or plan is offered there, and that credentials and keys are usable.
    fn preflight(&self, regions: &[String]) -> Result<()>;

    /// Price of one instance per hour in `region`, in USD, if the provider publishes it.
    fn price_per_hour(&self, region: &str) -> Result<Option<f64>>;

    /// Every instance of this testbed in every region, including those of an interrupted
    /// deploy (not yet running) and excluding already deleted ones.
    fn list_instances(&self) -> Result<Vec<Instance>>;

    /// Creates `count` instances in `region` (registering the SSH key and opening the
    /// benchmark ports there first), each shutting itself down after `ttl_hours`.
    fn create_instances(&self, region: &str, count: usize, ttl_hours: u32)
        -> Result<Vec<Instance>>;

    /// Starts stopped instances.
    fn start_instances(&self, instances: &[Instance]) -> Result<()>;

    /// Stops running instances.
    fn stop_instances(&self, instances: &[Instance]) -> Result<()>;

    /// Deletes instances (and stops their billing). Deleting an already deleted one is not
    /// an error.
    fn delete_instances(&self, instances: &[Instance]) -> Result<()>;
}

/// The provider the settings ask for.
pub fn provider(settings: &LoadedSettings) -> Result<Box<dyn Provider>> {
    match settings.settings.cloud_provider {
        CloudProvider::Local => Ok(Box::new(local::LocalProvider)),
        CloudProvider::Static => Ok(Box::new(static_hosts::StaticProvider::new(
            &settings.settings,
        ))),
        CloudProvider::Vultr => Ok(Box::new(vultr::VultrProvider::new(settings)?)),
        CloudProvider::Aws => Ok(Box::new(aws::AwsProvider::new(settings)?)),
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
            settings.settings.testbed_id
        );
    }
    Ok((provider, instances))
}
