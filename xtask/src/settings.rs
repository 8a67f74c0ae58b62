//! The orchestrator's settings file (`settings.json`): what testbed to use and how to reach it.
//!
//! Every field is documented on [`Settings`]. Loading validates the file and reports errors a
//! user can act on: the field at fault, the path that could not be read, the value expected.
//! The provider's API token is read from `token_file` into a [`Secret`] that never prints.

use std::{
    collections::{BTreeMap, HashSet},
    fmt,
    path::{Path, PathBuf},
};

use anyhow::Context;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{ports::Ports, ssh::SshOptions, workspace};

/// Which machines a testbed runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
}

impl CloudProvider {
    /// Whether this provider creates and bills cloud instances.
    pub fn is_cloud(self) -> bool {
        matches!(self, Self::Aws | Self::Vultr)
    }
}

impl fmt::Display for CloudProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Aws => "aws",
            Self::Vultr => "vultr",
            Self::Local => "local",
            Self::Static => "static",
        })
    }
}

/// The code to benchmark: a git repository and a commit (or branch) of it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repository {
    /// Clone URL. An access token inside it (`https://TOKEN@host/...`) is masked when shown.
    pub url: String,
    /// Commit hash, tag or branch to build. Default: `HEAD` of this workspace.
    #[serde(default = "default_commit")]
    pub commit: String,
}

fn default_commit() -> String {
    "HEAD".into()
}

impl Repository {
    /// The URL with any credentials replaced by `***`.
    pub fn masked_url(&self) -> String {
        mask_url_credentials(&self.url)
    }
}

impl fmt::Debug for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Repository")
            .field("url", &self.masked_url())
            .field("commit", &self.commit)
            .finish()
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.masked_url(), self.commit)
    }
}

/// Replaces the user-info part of a URL (`user:password@` or `token@`) by `***@`.
pub fn mask_url_credentials(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..scheme_end + 3], &rest[at..]),
        None => url.to_string(),
    }
}

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

/// The settings file, as written by the user. Use [`Settings::load`] to read and validate it.
///
/// Required for every provider: `testbed_id`, `cloud_provider`. Cloud providers (`aws`, `vultr`)
/// also need `token_file`, `ssh_private_key_file`, `regions` and `specs`; `static` needs
/// `ssh_private_key_file` and `hosts`. Everything else is optional with the default named.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Names the testbed; every instance is tagged with it. Letters, digits and `-`, 1-32 chars,
    /// starting with a letter or digit (what both AWS tags and Vultr labels accept).
    pub testbed_id: String,
    /// `"aws"`, `"vultr"`, `"local"` or `"static"`.
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

/// A value read from a secret file. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself: pass it to the API client, never to a log or an error.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Everything that can be wrong with a settings file.
#[derive(Debug, Error)]
pub enum SettingsError {
    #[error("cannot read settings file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("settings file {path} is malformed at line {line}, column {column}: {message}")]
    Malformed {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("settings: `{field}` is required for cloud_provider \"{provider}\"")]
    Missing {
        field: &'static str,
        provider: CloudProvider,
    },
    #[error("settings: `{field}` = {path}: {reason}")]
    BadFile {
        field: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("settings: `{field}`: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// Validated settings with secrets loaded and paths expanded.
#[derive(Clone, Debug)]
pub struct LoadedSettings {
    /// The file's contents, `~` expanded in every path.
    pub settings: Settings,
    /// The provider token from `token_file` (cloud providers only).
    pub token: Option<Secret>,
    /// Where the settings came from (`None`: the embedded local default).
    pub source: Option<PathBuf>,
}

impl Settings {
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

    /// Reads, parses and validates a settings file, loading the token.
    pub fn load(path: &Path) -> Result<LoadedSettings, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        let settings = Self::parse(&text, path)?;
        let mut loaded = settings.validate()?;
        loaded.source = Some(path.to_path_buf());
        Ok(loaded)
    }

    /// Checks every field, expands `~` in paths and reads the token.
    pub fn validate(mut self) -> Result<LoadedSettings, SettingsError> {
        validate_testbed_id(&self.testbed_id)?;
        self.expand_paths();
        let provider = self.cloud_provider;
        let mut token = None;
        if provider.is_cloud() {
            let path = self.token_file.clone().ok_or(SettingsError::Missing {
                field: "token_file",
                provider,
            })?;
            let text = read_settings_file("token_file", &path)?;
            let trimmed = text.trim();
            if trimmed.is_empty() {
                return Err(SettingsError::BadFile {
                    field: "token_file",
                    path,
                    reason: "the file is empty".into(),
                });
            }
            token = Some(Secret::new(trimmed));
            if self.regions.is_empty() {
                return Err(SettingsError::Invalid {
                    field: "regions",
                    reason: format!(
                        "at least one region is needed for cloud_provider \"{provider}\""
                    ),
                });
            }
            if self.specs.as_deref().is_none_or(|s| s.trim().is_empty()) {
                return Err(SettingsError::Missing {
                    field: "specs",
                    provider,
                });
            }
        }
        let mut seen = HashSet::new();
        for region in &self.regions {
            if region.trim().is_empty() {
                return Err(SettingsError::Invalid {
                    field: "regions",
                    reason: "a region name is empty".into(),
                });
            }
            if !seen.insert(region.as_str()) {
                return Err(SettingsError::Invalid {
                    field: "regions",
                    reason: format!("region \"{region}\" is listed twice"),
                });
            }
        }
        // Cloud testbeds check their key files where they are used (SSH, deploy): status,
        // stop, start and destroy need only the token.
        if provider == CloudProvider::Static {
            let key = self
                .ssh_private_key_file
                .clone()
                .ok_or(SettingsError::Missing {
                    field: "ssh_private_key_file",
                    provider,
                })?;
            read_settings_file("ssh_private_key_file", &key)?;
        }
        if let Some(endpoint) = &self.api_endpoint {
            validate_endpoint(endpoint)?;
        }
        if provider == CloudProvider::Static {
            if self.hosts.is_empty() {
                return Err(SettingsError::Missing {
                    field: "hosts",
                    provider,
                });
            }
            let mut addresses = HashSet::new();
            for host in &self.hosts {
                if host
                    .working_directory
                    .as_deref()
                    .is_some_and(|d| d.trim().is_empty())
                {
                    return Err(SettingsError::Invalid {
                        field: "hosts.working_directory",
                        reason: format!(
                            "host {}:{} has an empty working directory",
                            host.address, host.port
                        ),
                    });
                }
                if !addresses.insert((host.address.as_str(), host.port)) {
                    return Err(SettingsError::Invalid {
                        field: "hosts",
                        reason: format!("host {}:{} is listed twice", host.address, host.port),
                    });
                }
            }
        }
        if let Some(repo) = &self.repository {
            if repo.url.trim().is_empty() {
                return Err(SettingsError::Invalid {
                    field: "repository.url",
                    reason: "the URL is empty".into(),
                });
            }
        }
        if self.ports().overlap() {
            return Err(SettingsError::Invalid {
                field: "metrics_base_port",
                reason: format!(
                    "{} is within {} of base_port {}: validator and metrics ports would overlap",
                    self.metrics_base_port,
                    crate::ports::PORT_RANGE_LEN,
                    self.base_port
                ),
            });
        }
        Ok(LoadedSettings {
            settings: self,
            token,
            source: None,
        })
    }

    /// The first validator and metrics ports.
    pub fn ports(&self) -> Ports {
        Ports {
            base: self.base_port,
            metrics_base: self.metrics_base_port,
        }
    }

    /// The directory benchmark results go to.
    pub fn results_directory(&self) -> PathBuf {
        self.results_directory
            .as_deref()
            .map_or_else(|| workspace::root().join("results"), workspace::resolve)
    }

    /// The working directories the settings give hosts, by instance id (static hosts).
    pub fn working_directories(&self) -> BTreeMap<String, String> {
        self.hosts
            .iter()
            .filter_map(|h| Some((h.instance_id(), h.working_directory.clone()?)))
            .collect()
    }

    /// The SSH options of the testbed's hosts: its private key (checked readable: what uses
    /// SSH needs it, except on the local testbed), known_hosts in
    /// [`workspace::testbed_state_dir`].
    pub fn ssh_options(&self) -> anyhow::Result<SshOptions> {
        if self.cloud_provider != CloudProvider::Local {
            let key = self.ssh_private_key_file.as_deref().ok_or_else(|| {
                anyhow::anyhow!(
                    "settings: `ssh_private_key_file` is required to reach the {} testbed's \
                     hosts over SSH",
                    self.cloud_provider
                )
            })?;
            std::fs::File::open(key).with_context(|| {
                format!(
                    "settings: `ssh_private_key_file` = {}: cannot read it",
                    key.display()
                )
            })?;
        }
        let state = workspace::testbed_state_dir(&self.testbed_id);
        Ok(SshOptions::new(
            self.ssh_private_key_file.clone(),
            &state,
            &self.testbed_id,
        ))
    }

    /// The public key file: `ssh_public_key_file`, or the private key path + `.pub`.
    pub fn public_key_path(&self) -> Option<PathBuf> {
        self.ssh_public_key_file.clone().or_else(|| {
            self.ssh_private_key_file.as_ref().map(|p| {
                let mut s = p.clone().into_os_string();
                s.push(".pub");
                PathBuf::from(s)
            })
        })
    }

    /// The SSH login user for this provider.
    pub fn ssh_user(&self) -> String {
        self.ssh_user
            .clone()
            .unwrap_or_else(|| match self.cloud_provider {
                CloudProvider::Aws => "ubuntu".into(),
                _ => "root".into(),
            })
    }

    fn expand_paths(&mut self) {
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

/// Loads the settings named on the command line, else `settings.json` in the workspace root,
/// else the embedded local testbed.
pub fn from_command_line(explicit: Option<&Path>) -> anyhow::Result<LoadedSettings> {
    let default = workspace::root().join("settings.json");
    let path = match explicit {
        Some(path) => Some(path.to_path_buf()),
        None if default.is_file() => Some(default),
        None => None,
    };
    match path {
        Some(path) => Settings::load(&path).context("invalid settings"),
        None => Ok(Settings::local_default().validate()?),
    }
}

fn read_settings_file(field: &'static str, path: &Path) -> Result<String, SettingsError> {
    std::fs::read_to_string(path).map_err(|e| SettingsError::BadFile {
        field,
        path: path.to_path_buf(),
        reason: format!("cannot read it: {e}"),
    })
}

/// An `api_endpoint` must be an http(s) URL with a host.
fn validate_endpoint(endpoint: &str) -> Result<(), SettingsError> {
    let invalid = |reason: &str| SettingsError::Invalid {
        field: "api_endpoint",
        reason: format!("\"{endpoint}\" {reason}"),
    };
    let rest = endpoint
        .strip_prefix("https://")
        .or_else(|| endpoint.strip_prefix("http://"))
        .ok_or_else(|| {
            invalid("is not an http(s) URL: write it with its scheme, e.g. https://api.example.com, or remove the field to use the provider's endpoint")
        })?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') || host.chars().any(char::is_whitespace) {
        return Err(invalid("has no host name: e.g. https://api.example.com"));
    }
    Ok(())
}

fn validate_testbed_id(id: &str) -> Result<(), SettingsError> {
    let bad = |reason: String| SettingsError::Invalid {
        field: "testbed_id",
        reason,
    };
    if id.is_empty() || id.len() > 32 {
        return Err(bad(format!(
            "\"{id}\" must be 1 to 32 characters long (it is {})",
            id.len()
        )));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(bad(format!(
            "\"{id}\" contains {c:?}: only letters, digits and '-' are accepted by cloud tags and labels"
        )));
    }
    if id.starts_with('-') {
        return Err(bad(format!("\"{id}\" must start with a letter or digit")));
    }
    Ok(())
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

#[cfg(test)]
mod tests;
