//! `node genesis`: committee, parameters and key files for a new network.

use std::{net::IpAddr, path::Path};

use anyhow::{bail, Context, Result};

use crate::{
    committee::{AuthorityConfig, CommitteeConfig},
    crypto,
    parameters::Parameters,
};

/// File names written by genesis.
pub const COMMITTEE_FILE: &str = "committee.json";
/// Parameters file name.
pub const PARAMETERS_FILE: &str = "parameters.json";

/// Private key file name of validator `i`.
pub fn private_key_file(i: usize) -> String {
    format!("private-{i}.key")
}

/// What to generate.
pub struct GenesisConfig<'a> {
    /// One IP per validator.
    pub ips: &'a [IpAddr],
    /// Consensus port of validator 0 (validator i uses base + i).
    pub base_port: u16,
    /// Metrics port of validator 0.
    pub metrics_base_port: u16,
    /// Optional region per validator.
    pub regions: Option<&'a [String]>,
    /// Parameters to write.
    pub parameters: &'a Parameters,
}

/// Writes `committee.json`, `parameters.json` and `private-{i}.key` into `dir`.
pub fn generate(dir: &Path, config: &GenesisConfig<'_>) -> Result<()> {
    let n = config.ips.len();
    if n == 0 {
        bail!("--ips needs at least one address");
    }
    if let Some(regions) = config.regions {
        if regions.len() != n {
            bail!(
                "--regions has {} entries but --ips has {n}: give one region per validator",
                regions.len()
            );
        }
    }
    let port = |base: u16, i: usize, flag: &str| -> Result<u16> {
        u16::try_from(base as usize + i)
            .with_context(|| format!("{flag} {base} + {i} is not a valid port"))
    };
    config.parameters.validate()?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create working directory {}", dir.display()))?;
    let mut authorities = Vec::with_capacity(n);
    for (i, ip) in config.ips.iter().enumerate() {
        let key = crypto::generate_key();
        crypto::write_private_key(&dir.join(private_key_file(i)), &key)?;
        authorities.push(AuthorityConfig {
            public_key: hex::encode(key.verifying_key().as_bytes()),
            stake: 1,
            address: (*ip, port(config.base_port, i, "--base-port")?).into(),
            metrics_address: (
                *ip,
                port(config.metrics_base_port, i, "--metrics-base-port")?,
            )
                .into(),
            region: config.regions.map(|r| r[i].clone()),
        });
    }
    let committee = serde_json::to_string_pretty(&CommitteeConfig { authorities })?;
    let path = dir.join(COMMITTEE_FILE);
    std::fs::write(&path, committee).with_context(|| format!("cannot write {}", path.display()))?;
    let parameters = serde_json::to_string_pretty(config.parameters)?;
    let path = dir.join(PARAMETERS_FILE);
    std::fs::write(&path, parameters)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
