//! Generates a fresh committee for one run with the node's own `genesis` command, validators
//! placed on the network's regions, and copies the latency matrix or profile file next to it
//! (staged with it on every host).

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::{
    builder::NodeBinary,
    experiment::{Experiment, ProfileSource},
    ports::Ports,
    protocol,
};

/// Runs `node genesis` into `directory` for validators at `ips` (one per validator).
pub(crate) fn generate(
    node: &NodeBinary,
    experiment: &Experiment,
    ips: &[String],
    ports: &Ports,
    directory: &Path,
) -> Result<()> {
    let network = &experiment.network;
    if let Some(matrix) = &network.latency_matrix {
        std::fs::copy(&matrix.path, directory.join(protocol::files::LATENCY_FILE))
            .with_context(|| format!("cannot copy the latency matrix {}", matrix.path.display()))?;
    }
    if let Some(ProfileSource::File(path)) = network.profile.as_ref().map(|p| &p.source) {
        std::fs::copy(path, directory.join(protocol::files::NETWORK_PROFILE_FILE))
            .with_context(|| format!("cannot copy the network profile {}", path.display()))?;
    }
    let regions: Option<Vec<String>> = (0..ips.len())
        .map(|i| network.region_of(i).map(str::to_string))
        .collect();
    let mut args = protocol::genesis_args(
        ips,
        &directory.display().to_string(),
        (ports.base, ports.metrics_base),
        &experiment.protocol,
        regions,
    );
    let planted = experiment.planted_ceiling;
    if let Some(bytes) = planted.max_block_bytes {
        args.extend([protocol::genesis::MAX_BLOCK_BYTES.into(), bytes.to_string()]);
    }
    if let Some(ms) = planted.min_round_delay_ms {
        args.extend([protocol::genesis::MIN_ROUND_DELAY_MS.into(), ms.to_string()]);
    }
    let output = duct::cmd(&node.path, &args)
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked()
        .run()
        .with_context(|| format!("cannot run {}", node.path.display()))?;
    if !output.status.success() {
        bail!(
            "`node genesis` failed: {}",
            String::from_utf8_lossy(&output.stdout).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_per_validator() {
        let ports = Ports {
            base: 26000,
            metrics_base: 27000,
        };
        assert_eq!(
            ports.all(2).expect("ports"),
            vec![26000, 27000, 26001, 27001]
        );
        assert_eq!(ports.metrics(2), vec![27000, 27001]);
        let high = Ports {
            base: 65535,
            metrics_base: 1000,
        };
        assert!(high.all(2).is_err());
    }
}
