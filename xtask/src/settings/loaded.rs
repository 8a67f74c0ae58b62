//! Validated settings, typed per testbed: the [`Common`] block every testbed has and a
//! [`Testbed`] variant holding what its `cloud_provider` requires, so a provider never checks
//! a field again. Also what the settings give the lower floors as narrow values: SSH options,
//! ports, working directories.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{anyhow, bail, Context, Result};

use super::{CloudProvider, Repository, Secret, SettingsFile, StaticHost};
use crate::{ports::Ports, ssh::SshOptions, workspace};

/// Validated settings with secrets loaded and paths expanded.
#[derive(Clone, Debug)]
pub struct LoadedSettings {
    /// What every testbed has.
    pub common: Common,
    /// What this kind of testbed needs.
    pub testbed: Testbed,
    /// Where the settings came from (`None`: the embedded local default).
    pub source: Option<PathBuf>,
    /// The file as read (paths expanded), recorded with the results.
    pub(super) file: SettingsFile,
}

/// The block every testbed has.
#[derive(Clone, Debug)]
pub struct Common {
    /// Names the testbed (tags, known_hosts, control sockets).
    pub testbed_id: String,
    /// The code to benchmark (`None`: this workspace at `HEAD`, its working tree).
    pub repository: Option<Repository>,
    /// Where benchmark results go, as written (see [`Self::results_directory`]).
    pub results_directory: Option<PathBuf>,
    /// Where node logs go, as written (see [`Self::logs_root`]).
    pub logs_directory: Option<PathBuf>,
    /// The first validator and metrics ports.
    pub ports: Ports,
    /// Remote testbeds: scrape metrics through SSH port forwards even when they answer directly.
    pub scrape_through_ssh: bool,
}

/// The machines a benchmark runs on, with what each kind requires.
#[derive(Clone, Debug)]
pub enum Testbed {
    /// Validators as processes on this machine.
    Local,
    /// The user's own SSH hosts.
    Static(StaticTestbed),
    /// Amazon EC2.
    Aws(Cloud),
    /// Vultr.
    Vultr(Cloud),
    /// The node's simulator on this machine.
    Sim(SimTestbed),
}

/// A `sim` testbed: `node sim` runs each point under virtual time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimTestbed {
    /// The seed of a point's first repeat; repeat r runs `seed + r`.
    pub seed: u64,
    /// Bandwidth of every simulated link, in Mbit/s (positive).
    pub bandwidth_mbps: f64,
}

/// A `static` testbed.
#[derive(Clone, Debug)]
pub struct StaticTestbed {
    /// The hosts, at least one, none listed twice.
    pub hosts: Vec<StaticHost>,
    /// Login user of hosts that name none.
    pub ssh_user: String,
    /// The key that logs into the hosts (readable when loaded).
    pub ssh_private_key_file: PathBuf,
}

/// An `aws` or `vultr` testbed.
#[derive(Clone, Debug)]
pub struct Cloud {
    /// The provider's credentials file (AWS credentials format, or the Vultr API key).
    pub token_file: PathBuf,
    /// Its contents, trimmed.
    pub token: Secret,
    /// Regions to deploy in: at least one, none twice.
    pub regions: Vec<String>,
    /// Instance type (AWS) or plan (Vultr).
    pub specs: String,
    /// Root disk size, in GB.
    pub disk_size_gb: u32,
    /// Hours after which an instance powers itself off.
    pub ttl_hours: u32,
    /// Override of the provider's API endpoint.
    pub api_endpoint: Option<String>,
    /// Login user on instances.
    pub ssh_user: String,
    /// The key that logs into instances: checked where SSH is used (status, stop, start and
    /// destroy work without it).
    pub ssh_private_key_file: Option<PathBuf>,
    /// The public key deploys register: `ssh_public_key_file`, else the private key + `.pub`.
    pub ssh_public_key_file: Option<PathBuf>,
}

impl Common {
    /// The directory benchmark results go to: `results_directory` (relative to the workspace
    /// root), else `results` in the workspace.
    pub fn results_directory(&self) -> Result<PathBuf> {
        match self.results_directory.as_deref() {
            Some(path) => workspace::resolve(path),
            None => Ok(workspace::root()?.join("results")),
        }
    }

    /// The directory node logs go to when the settings keep them apart from the results.
    pub fn logs_root(&self) -> Result<Option<PathBuf>> {
        self.logs_directory
            .as_deref()
            .map(workspace::resolve)
            .transpose()
    }
}

impl Testbed {
    /// Whether this is the local testbed.
    pub fn is_local(&self) -> bool {
        matches!(self, Self::Local)
    }

    /// The simulated testbed, if this is one.
    pub fn sim(&self) -> Option<SimTestbed> {
        match self {
            Self::Sim(sim) => Some(*sim),
            _ => None,
        }
    }

    /// Whether everything runs on this machine (the local and the simulated testbeds): no
    /// hosts to lock or prepare, regions are the latency matrix's.
    pub fn on_this_machine(&self) -> bool {
        matches!(self, Self::Local | Self::Sim(_))
    }

    /// The cloud testbed, if this is one.
    pub fn cloud(&self) -> Option<&Cloud> {
        match self {
            Self::Aws(cloud) | Self::Vultr(cloud) => Some(cloud),
            Self::Local | Self::Static(_) | Self::Sim(_) => None,
        }
    }

    /// The cloud testbed of `provider`; an error naming both when the settings ask for
    /// another.
    pub fn cloud_of(&self, provider: CloudProvider) -> Result<&Cloud> {
        match (self, provider) {
            (Self::Aws(cloud), CloudProvider::Aws) | (Self::Vultr(cloud), CloudProvider::Vultr) => {
                Ok(cloud)
            }
            _ => bail!(
                "settings: cloud_provider is \"{}\", not \"{provider}\"",
                self.provider()
            ),
        }
    }

    /// The cloud testbed, if this is one, to change.
    pub fn cloud_mut(&mut self) -> Option<&mut Cloud> {
        match self {
            Self::Aws(cloud) | Self::Vultr(cloud) => Some(cloud),
            Self::Local | Self::Static(_) | Self::Sim(_) => None,
        }
    }

    /// The `cloud_provider` of this testbed.
    pub fn provider(&self) -> CloudProvider {
        match self {
            Self::Local => CloudProvider::Local,
            Self::Static(_) => CloudProvider::Static,
            Self::Aws(_) => CloudProvider::Aws,
            Self::Vultr(_) => CloudProvider::Vultr,
            Self::Sim(_) => CloudProvider::Sim,
        }
    }

    /// The regions of the settings (clouds; empty elsewhere).
    pub fn regions(&self) -> &[String] {
        self.cloud().map_or(&[], |c| &c.regions)
    }

    /// The private key that logs into the hosts, if the settings give one.
    pub fn private_key_file(&self) -> Option<&Path> {
        match self {
            Self::Local | Self::Sim(_) => None,
            Self::Static(hosts) => Some(&hosts.ssh_private_key_file),
            Self::Aws(cloud) | Self::Vultr(cloud) => cloud.ssh_private_key_file.as_deref(),
        }
    }

    /// The working directories the settings give hosts, by instance id (static hosts).
    pub fn working_directories(&self) -> BTreeMap<String, String> {
        let Self::Static(testbed) = self else {
            return BTreeMap::new();
        };
        testbed
            .hosts
            .iter()
            .filter_map(|h| Some((h.instance_id(), h.working_directory.clone()?)))
            .collect()
    }
}

impl LoadedSettings {
    /// The settings as recorded with the results: the file as read, the repository URL
    /// masked, no secret.
    pub fn recorded(&self) -> SettingsFile {
        let mut recorded = self.file.clone();
        if let Some(repo) = recorded.repository.as_mut() {
            repo.url = repo.masked_url();
        }
        recorded
    }

    /// The same settings for testbed `testbed_id` (`--testbed-id`: another testbed of the
    /// account, e.g. after `testbed_id` was renamed), refused unless it is a valid id.
    pub fn for_testbed(&self, testbed_id: &str) -> Result<Self> {
        super::validate::check_testbed_id(testbed_id).map_err(|e| anyhow!("--testbed-id: {e}"))?;
        let mut settings = self.clone();
        settings.common.testbed_id = testbed_id.to_string();
        settings.file.testbed_id = testbed_id.to_string();
        Ok(settings)
    }

    /// The same settings on the simulated testbed (`bench --testbed sim`), with the seed
    /// `seed` when given (else `sim_seed`); recorded with the results as such.
    pub fn simulated(&self, seed: Option<u64>) -> Result<Self> {
        let mut settings = self.clone();
        if let Some(seed) = seed {
            settings.file.sim_seed = seed;
        }
        settings.file.cloud_provider = CloudProvider::Sim;
        settings.testbed = super::validate::sim_testbed(&settings.file)?;
        Ok(settings)
    }

    /// The same settings on the local testbed (`bench --testbed local`): its ports, results
    /// and logs directories are kept.
    pub fn local(&self) -> Self {
        let mut settings = self.clone();
        settings.file.cloud_provider = CloudProvider::Local;
        settings.testbed = Testbed::Local;
        settings
    }

    /// Hours of the dead-man switch of new and started instances (`ttl_hours`).
    pub fn ttl_hours(&self) -> u32 {
        self.testbed
            .cloud()
            .map_or(self.file.ttl_hours, |c| c.ttl_hours)
    }

    /// The provider token (cloud testbeds).
    pub fn token(&self) -> Option<&Secret> {
        self.testbed.cloud().map(|c| &c.token)
    }

    /// The SSH options of the testbed's hosts: its private key (checked readable: what uses
    /// SSH needs it, except on the local testbed), known_hosts in
    /// [`workspace::testbed_state_dir`].
    pub fn ssh_options(&self) -> Result<SshOptions> {
        let key = match &self.testbed {
            Testbed::Local | Testbed::Sim(_) => None,
            remote => {
                let key = remote.private_key_file().ok_or_else(|| {
                    anyhow!(
                        "settings: `ssh_private_key_file` is required to reach the {} testbed's \
                         hosts over SSH",
                        remote.provider()
                    )
                })?;
                std::fs::File::open(key).with_context(|| {
                    format!(
                        "settings: `ssh_private_key_file` = {}: cannot read it",
                        key.display()
                    )
                })?;
                Some(key.to_path_buf())
            }
        };
        let id = &self.common.testbed_id;
        Ok(SshOptions::new(key, &workspace::testbed_state_dir(id), id))
    }
}
