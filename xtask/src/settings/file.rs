//! The settings file as the user writes it: one flat JSON object, every field documented on
//! [`SettingsFile`], parsed with the line and column of any syntax or type error.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Repository, SettingsError};

/// Which machines a testbed runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CloudProvider {
    /// Amazon EC2 (aws-sdk-ec2); `token_file` holds AWS credentials.
    Aws,
    /// Vultr (API v2); `token_file` holds the API key.
    Vultr,
    /// Validators as processes on this machine (the default with no settings file).
    Local,
    /// A fixed list of the user's own SSH hosts (`hosts`).
    Static,
    /// The node's simulator on this machine (`node sim`: the committee under virtual time,
    /// one run per seed); `sim_seed` and `sim_bandwidth_mbps` configure it.
    Sim,
}

crate::value_name::display_as_value_name!(CloudProvider);

/// One of the user's own machines, for `cloud_provider: "static"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticHost {
    /// IP address or host name the orchestrator connects to over SSH.
    pub address: String,
    /// SSH port. Default: 22.
    #[serde(default = "default_ssh_port")]
    pub port: u16,
    /// Login user. Default: the top-level `ssh_user`.
    #[serde(default)]
    pub user: Option<String>,
    /// Region label used in results and for geo grouping. Default: `"static"`.
    #[serde(default = "default_static_region")]
    pub region: String,
    /// Address the validators use to reach this host. Default: `address`.
    #[serde(default)]
    pub private_address: Option<String>,
    /// Directory on the host for the node binary, genesis files, storage and logs (relative:
    /// from the login directory). Default: `consensus-bench`. Hosts that are one machine
    /// seen through several addresses need one directory each.
    #[serde(default)]
    pub working_directory: Option<String>,
}

impl StaticHost {
    /// The id of the instance this host is (`address:port`).
    pub fn instance_id(&self) -> String {
        format!("{}:{}", self.address, self.port)
    }
}

fn default_ssh_port() -> u16 {
    22
}

fn default_static_region() -> String {
    "static".into()
}

/// The settings file, as written by the user: one flat JSON object whatever the testbed.
/// [`SettingsFile::load`] reads it and [`SettingsFile::validate`] makes it a [`super::LoadedSettings`].
///
/// Required for every provider: `testbed_id`, `cloud_provider`. Cloud providers (`aws`, `vultr`)
/// also need `token_file`, `regions` and `specs` (and `ssh_private_key_file` where SSH is used);
/// `static` needs `ssh_private_key_file` and `hosts`. Everything else is optional with the
/// default named. Fields another provider needs are accepted and left unused.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsFile {
    /// Names the testbed; every instance is tagged with it. Letters, digits and `-`, 1-32 chars,
    /// starting with a letter or digit (what both AWS tags and Vultr labels accept).
    pub testbed_id: String,
    /// `"aws"`, `"vultr"`, `"local"`, `"static"` or `"sim"`.
    pub cloud_provider: CloudProvider,
    /// File holding the provider's API credentials (AWS credentials format for `aws`, the API
    /// key for `vultr`). Read once, trimmed, never printed. Required for cloud providers.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Private SSH key used to log into instances. Required for `aws`, `vultr` and `static`.
    #[serde(default)]
    pub ssh_private_key_file: Option<PathBuf>,
    /// Public half of the SSH key, registered with the provider. Default: the private key path
    /// with `.pub` appended.
    #[serde(default)]
    pub ssh_public_key_file: Option<PathBuf>,
    /// Regions to deploy in (e.g. `us-east-1` on AWS, `ewr` on Vultr). Required for cloud
    /// providers; no duplicates.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Instance type (AWS, e.g. `m5d.8xlarge`) or plan (Vultr, e.g. `vc2-16c-32gb`).
    /// Required for cloud providers.
    #[serde(default)]
    pub specs: Option<String>,
    /// The code to benchmark. Default: this workspace at `HEAD` (its working tree).
    #[serde(default)]
    pub repository: Option<Repository>,
    /// Where benchmark results are written. Default: `results` in the workspace.
    #[serde(default)]
    pub results_directory: Option<PathBuf>,
    /// Where node logs are collected. Default: `logs` inside each run's results directory.
    #[serde(default)]
    pub logs_directory: Option<PathBuf>,
    /// Login user on instances. Default: `ubuntu` on AWS, `root` on Vultr and static hosts.
    #[serde(default)]
    pub ssh_user: Option<String>,
    /// The hosts of a `static` testbed.
    #[serde(default)]
    pub hosts: Vec<StaticHost>,
    /// First TCP port of the validators (validator i listens on `base_port + i`). Default: 26000.
    #[serde(default = "default_base_port")]
    pub base_port: u16,
    /// First metrics port (validator i serves `/metrics` on `metrics_base_port + i`).
    /// Default: 27000.
    #[serde(default = "default_metrics_base_port")]
    pub metrics_base_port: u16,
    /// Root disk size of cloud instances, in GB. Default: 50.
    #[serde(default = "default_disk_size_gb")]
    pub disk_size_gb: u32,
    /// Hours after which a cloud instance shuts itself down (dead-man switch). Default: 6.
    #[serde(default = "default_ttl_hours")]
    pub ttl_hours: u32,
    /// Override of the provider's API endpoint (a local emulator in tests). Default: the
    /// provider's public endpoint.
    #[serde(default)]
    pub api_endpoint: Option<String>,
    /// Remote testbeds: always scrape metrics through SSH port forwarding, even when the
    /// metrics ports are reachable directly. Default: false (forward only the hosts whose
    /// metrics port does not answer from here).
    #[serde(default)]
    pub scrape_through_ssh: bool,
    /// `sim` testbed: the seed of a point's first repeat (repeat r runs seed + r). Default: 1.
    #[serde(default = "default_sim_seed")]
    pub sim_seed: u64,
    /// `sim` testbed: the bandwidth of every simulated link, in Mbit/s. Default: 1000.
    #[serde(default = "default_sim_bandwidth_mbps")]
    pub sim_bandwidth_mbps: f64,
}

fn default_base_port() -> u16 {
    crate::protocol::defaults::BASE_PORT
}
fn default_metrics_base_port() -> u16 {
    crate::protocol::defaults::METRICS_BASE_PORT
}
fn default_disk_size_gb() -> u32 {
    50
}
fn default_ttl_hours() -> u32 {
    6
}
fn default_sim_seed() -> u64 {
    1
}
fn default_sim_bandwidth_mbps() -> f64 {
    1000.0
}

impl SettingsFile {
    /// The embedded default: a local testbed on this machine.
    pub fn local_default() -> Self {
        Self {
            testbed_id: "local".into(),
            cloud_provider: CloudProvider::Local,
            token_file: None,
            ssh_private_key_file: None,
            ssh_public_key_file: None,
            regions: Vec::new(),
            specs: None,
            repository: None,
            results_directory: None,
            logs_directory: None,
            ssh_user: None,
            hosts: Vec::new(),
            base_port: default_base_port(),
            metrics_base_port: default_metrics_base_port(),
            disk_size_gb: default_disk_size_gb(),
            ttl_hours: default_ttl_hours(),
            api_endpoint: None,
            scrape_through_ssh: false,
            sim_seed: default_sim_seed(),
            sim_bandwidth_mbps: default_sim_bandwidth_mbps(),
        }
    }

    /// Parses settings from JSON text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, SettingsError> {
        serde_json::from_str(text).map_err(|e| SettingsError::Malformed {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })
    }

    /// Reads and parses a settings file (not yet validated).
    pub fn read(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// The public key file: `ssh_public_key_file`, or the private key path + `.pub`.
    pub(super) fn public_key_path(&self) -> Option<PathBuf> {
        self.ssh_public_key_file.clone().or_else(|| {
            self.ssh_private_key_file.as_ref().map(|p| {
                let mut s = p.clone().into_os_string();
                s.push(".pub");
                PathBuf::from(s)
            })
        })
    }

    /// The SSH login user: `ssh_user`, else the provider's default.
    pub(super) fn ssh_user(&self) -> String {
        self.ssh_user
            .clone()
            .unwrap_or_else(|| match self.cloud_provider {
                CloudProvider::Aws => "ubuntu".into(),
                _ => "root".into(),
            })
    }

    /// Expands `~` in every path.
    pub(super) fn expand_paths(&mut self) {
        for path in [
            &mut self.token_file,
            &mut self.ssh_private_key_file,
            &mut self.ssh_public_key_file,
            &mut self.results_directory,
            &mut self.logs_directory,
        ]
        .into_iter()
        .flatten()
        {
            *path = expand_tilde(path);
        }
    }
}

/// Expands a leading `~` to the user's home directory.
pub fn expand_tilde(path: &Path) -> PathBuf {
    let Ok(rest) = path.strip_prefix("~") else {
        return path.to_path_buf();
    };
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(rest),
        None => path.to_path_buf(),
    }
}
