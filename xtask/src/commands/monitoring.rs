//! `cargo xtask monitoring`: Prometheus and Grafana files for the testbed, optionally installed.

use anyhow::Result;

use crate::{cli::MonitoringArgs, monitoring::apply, settings::LoadedSettings};

/// Runs `monitoring`.
pub fn run(settings: &LoadedSettings, args: MonitoringArgs) -> Result<()> {
    let output = match args.output {
        Some(output) => output,
        None => settings.common.results_directory()?.join("monitoring"),
    };
    let request = apply::Request {
        committee: args.committee,
        output,
        install: args.install,
    };
    apply::run(settings, &request).map(|_| ())
}
