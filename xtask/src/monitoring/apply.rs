//! The flow of `cargo xtask monitoring`: the testbed's Prometheus targets and the Prometheus and
//! Grafana files written out; with `--install`, installed over SSH (Prometheus and Grafana on
//! the instance named, the node exporter on every host).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::failures::Failures;
use crate::progress;

use super::{files, host_targets, install, validator_targets};
use crate::{
    settings::LoadedSettings,
    ssh::{self, SshClient},
    testbed::{self, Instance},
};

/// Prometheus on the monitoring instance itself (Grafana and Prometheus share it).
const PROMETHEUS_URL: &str = "http://localhost:9090";

/// What `monitoring` is asked to do.
pub struct Request {
    /// Validators to scrape (default: 4 on the local testbed, one per instance elsewhere).
    pub committee: Option<usize>,
    /// Where the files go.
    pub output: PathBuf,
    /// The instance (id or IP) to install Prometheus and Grafana on.
    pub install: Option<String>,
}

/// Writes the monitoring files for the testbed of `settings`; with `install`, sets them up on
/// that instance and node exporters on every host. Returns the files written.
pub fn run(settings: &LoadedSettings, request: &Request) -> Result<Vec<PathBuf>> {
    let (_, instances) = testbed::running_instances(settings)?;
    let local = settings.testbed.is_local();
    let committee = request
        .committee
        .unwrap_or(if local { 4 } else { instances.len() });
    let validators = validator_targets(&settings.common.ports, &instances, committee);
    let hosts = if local {
        Vec::new()
    } else {
        host_targets(&settings.common.ports, &instances)
    };
    let dashboards = request.install.as_ref().map(|_| install::REMOTE_DASHBOARDS);
    let written = files::write(
        &request.output,
        &settings.common.testbed_id,
        &validators,
        &hosts,
        PROMETHEUS_URL,
        dashboards,
    )?;
    println!(
        "scraping {} validator(s) and {} host(s): {}",
        written.validators,
        written.hosts,
        request.output.join(files::PROMETHEUS_FILE).display()
    );
    if let Some(name) = &request.install {
        if local {
            bail!(
                "--install needs a cloud or static testbed; on the local testbed run Prometheus \
                 here: prometheus --config.file={}",
                request.output.join(files::PROMETHEUS_FILE).display()
            );
        }
        let host = find(&instances, name)?;
        install_on(settings, &instances, host, &request.output)?;
        println!(
            "Prometheus and Grafana run on {}; reach Grafana with\n  ssh -L 3000:localhost:3000 {}@{}\nthen open http://localhost:3000 (dashboard \"consensus-bench\")",
            host.id,
            host.ssh_user,
            host.public_ip.as_deref().unwrap_or_default()
        );
    }
    Ok(written.files)
}

/// The running instance named by id or address.
fn find<'a>(instances: &'a [Instance], name: &str) -> Result<&'a Instance> {
    instances
        .iter()
        .find(|i| i.id == name || i.public_ip.as_deref() == Some(name))
        .with_context(|| {
            let known: Vec<String> = instances
                .iter()
                .map(|i| format!("{} ({})", i.id, i.public_ip.as_deref().unwrap_or("-")))
                .collect();
            format!(
                "--install {name}: no running instance has this id or address (running: {})",
                known.join(", ")
            )
        })
}

fn install_on(
    settings: &LoadedSettings,
    instances: &[Instance],
    host: &Instance,
    local: &Path,
) -> Result<()> {
    let ssh = SshClient::new(settings.ssh_options()?)?;
    let result = (|| {
        ssh.connect_all(instances)?;
        let bar = progress::spinner(&format!("uploading to {}", ssh::describe(host)));
        install::upload(&ssh, host, local, install::STAGING)?;
        bar.set_message(format!(
            "installing Prometheus and Grafana on {} (packages only if missing)",
            ssh::describe(host)
        ));
        install::run_script(&ssh, host, &install::monitoring_script(install::STAGING))?;
        bar.set_message("installing prometheus-node-exporter on every host".to_string());
        let script = install::node_exporter_script(settings.common.ports.node_exporter());
        let results = ssh.for_each(instances, |h| install::run_script(&ssh, h, &script));
        let (_, failures) = Failures::collect(results, |h| h.id.clone());
        bar.finish_and_clear();
        failures.check(|n| {
            format!(
                "node exporter set-up failed on {n} of {} hosts",
                instances.len()
            )
        })
    })();
    ssh.disconnect_all(instances);
    result
}
