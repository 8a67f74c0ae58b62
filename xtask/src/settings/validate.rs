//! Validation: the settings file checked in small named steps and made into
//! [`LoadedSettings`]. Each step names the field at fault and what to write instead; the
//! common block's steps run alone for commands that need nothing else.

use std::{collections::HashSet, path::Path};

use super::{
    Cloud, CloudProvider, Common, LoadedSettings, Repository, Secret, SettingsError, SettingsFile,
    SimTestbed, StaticHost, StaticTestbed, Testbed,
};
use crate::ports::{Ports, PORT_RANGE_LEN};

impl SettingsFile {
    /// Reads, parses and validates a settings file, loading the token.
    pub fn load(path: &Path) -> Result<LoadedSettings, SettingsError> {
        let mut loaded = Self::read(path)?.validate()?;
        loaded.source = Some(path.to_path_buf());
        Ok(loaded)
    }

    /// Checks every field, expands `~` in paths, reads the token and types the testbed.
    pub fn validate(mut self) -> Result<LoadedSettings, SettingsError> {
        check_testbed_id(&self.testbed_id)?;
        self.expand_paths();
        let testbed = testbed(&self)?;
        let common = self.checked_common()?;
        Ok(LoadedSettings {
            common,
            testbed,
            source: None,
            file: self,
        })
    }

    /// The common block alone, checked and with `~` expanded: what commands that only read
    /// results need (no token read, no key or host required).
    pub fn common(mut self) -> Result<Common, SettingsError> {
        check_testbed_id(&self.testbed_id)?;
        self.expand_paths();
        self.checked_common()
    }

    fn checked_common(&self) -> Result<Common, SettingsError> {
        check_repository(self.repository.as_ref())?;
        let ports = Ports {
            base: self.base_port,
            metrics_base: self.metrics_base_port,
        };
        check_ports(&ports)?;
        Ok(Common {
            testbed_id: self.testbed_id.clone(),
            repository: self.repository.clone(),
            results_directory: self.results_directory.clone(),
            logs_directory: self.logs_directory.clone(),
            ports,
            scrape_through_ssh: self.scrape_through_ssh,
        })
    }
}

/// The testbed `cloud_provider` names, with the fields it requires.
fn testbed(file: &SettingsFile) -> Result<Testbed, SettingsError> {
    check_regions(&file.regions)?;
    if let Some(endpoint) = &file.api_endpoint {
        check_endpoint(endpoint)?;
    }
    Ok(match file.cloud_provider {
        CloudProvider::Local => Testbed::Local,
        CloudProvider::Static => Testbed::Static(static_testbed(file)?),
        CloudProvider::Aws => Testbed::Aws(cloud(file)?),
        CloudProvider::Vultr => Testbed::Vultr(cloud(file)?),
        CloudProvider::Sim => sim_testbed(file)?,
    })
}

/// A `sim` testbed: a positive, finite link bandwidth.
pub(super) fn sim_testbed(file: &SettingsFile) -> Result<Testbed, SettingsError> {
    let mbps = file.sim_bandwidth_mbps;
    if !(mbps > 0.0 && mbps.is_finite()) {
        return Err(SettingsError::Invalid {
            field: "sim_bandwidth_mbps",
            reason: format!("{mbps} is not a positive number of Mbit/s (e.g. 1000)"),
        });
    }
    Ok(Testbed::Sim(SimTestbed {
        seed: file.sim_seed,
        bandwidth_mbps: mbps,
    }))
}

/// A cloud testbed: its token read, at least one region, a plan or instance type. Its key
/// files are checked where they are used (SSH, deploy): status, stop, start and destroy need
/// only the token.
fn cloud(file: &SettingsFile) -> Result<Cloud, SettingsError> {
    let provider = file.cloud_provider;
    let token_file = required(file.token_file.clone(), "token_file", provider)?;
    let token = read_token(&token_file)?;
    if file.regions.is_empty() {
        return Err(SettingsError::Invalid {
            field: "regions",
            reason: format!("at least one region is needed for cloud_provider \"{provider}\""),
        });
    }
    let specs = file.specs.clone().filter(|s| !s.trim().is_empty());
    Ok(Cloud {
        token_file,
        token,
        regions: file.regions.clone(),
        specs: required(specs, "specs", provider)?,
        disk_size_gb: file.disk_size_gb,
        ttl_hours: file.ttl_hours,
        api_endpoint: file.api_endpoint.clone(),
        ssh_user: file.ssh_user(),
        ssh_private_key_file: file.ssh_private_key_file.clone(),
        ssh_public_key_file: file.public_key_path(),
    })
}

/// A static testbed always uses SSH: its key is checked when loading, with its hosts.
fn static_testbed(file: &SettingsFile) -> Result<StaticTestbed, SettingsError> {
    let provider = file.cloud_provider;
    let key = required(
        file.ssh_private_key_file.clone(),
        "ssh_private_key_file",
        provider,
    )?;
    read_settings_file("ssh_private_key_file", &key)?;
    if file.hosts.is_empty() {
        return Err(SettingsError::Missing {
            field: "hosts",
            provider,
        });
    }
    check_hosts(&file.hosts)?;
    Ok(StaticTestbed {
        hosts: file.hosts.clone(),
        ssh_user: file.ssh_user(),
        ssh_private_key_file: key,
    })
}

/// `value`, or the error saying `field` is required for `provider`.
fn required<T>(
    value: Option<T>,
    field: &'static str,
    provider: CloudProvider,
) -> Result<T, SettingsError> {
    value.ok_or(SettingsError::Missing { field, provider })
}

/// The token in `path`, trimmed; an empty file is refused.
fn read_token(path: &Path) -> Result<Secret, SettingsError> {
    let text = read_settings_file("token_file", path)?;
    match text.trim() {
        "" => Err(SettingsError::BadFile {
            field: "token_file",
            path: path.to_path_buf(),
            reason: "the file is empty".into(),
        }),
        token => Ok(Secret::new(token)),
    }
}

fn read_settings_file(field: &'static str, path: &Path) -> Result<String, SettingsError> {
    std::fs::read_to_string(path).map_err(|e| SettingsError::BadFile {
        field,
        path: path.to_path_buf(),
        reason: format!("cannot read it: {e}"),
    })
}

/// Region names are not empty and not listed twice.
fn check_regions(regions: &[String]) -> Result<(), SettingsError> {
    let mut seen = HashSet::new();
    for region in regions {
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
    Ok(())
}

/// No host is listed twice or given an empty working directory.
fn check_hosts(hosts: &[StaticHost]) -> Result<(), SettingsError> {
    let mut addresses = HashSet::new();
    for host in hosts {
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
    Ok(())
}

/// A repository has a URL.
fn check_repository(repository: Option<&Repository>) -> Result<(), SettingsError> {
    match repository {
        Some(repo) if repo.url.trim().is_empty() => Err(SettingsError::Invalid {
            field: "repository.url",
            reason: "the URL is empty".into(),
        }),
        _ => Ok(()),
    }
}

/// The validator and metrics port ranges stay apart.
fn check_ports(ports: &Ports) -> Result<(), SettingsError> {
    if ports.overlap() {
        return Err(SettingsError::Invalid {
            field: "metrics_base_port",
            reason: format!(
                "{} is within {PORT_RANGE_LEN} of base_port {}: validator and metrics ports \
                 would overlap",
                ports.metrics_base, ports.base
            ),
        });
    }
    Ok(())
}

/// An `api_endpoint` must be an http(s) URL with a host.
fn check_endpoint(endpoint: &str) -> Result<(), SettingsError> {
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

/// A `testbed_id` is what both AWS tags and Vultr labels accept.
pub(super) fn check_testbed_id(id: &str) -> Result<(), SettingsError> {
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
