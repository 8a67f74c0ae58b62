//! `testbed setup`, and the set-up step of `testbed deploy`.

use anyhow::{bail, Result};

use crate::{
    settings::LoadedSettings,
    ssh::SshClient,
    testbed::{host_setup, Instance, Provider},
};

/// Sets up every running instance of the testbed.
pub fn run(provider: &dyn Provider, settings: &LoadedSettings) -> Result<host_setup::Summary> {
    let running: Vec<Instance> = provider
        .list_instances()?
        .into_iter()
        .filter(Instance::is_running)
        .collect();
    if running.is_empty() {
        bail!("the testbed has no running instance to set up (`testbed status` shows it)");
    }
    set_up(settings, &running)
}

/// Sets up `hosts` over SSH in parallel, prints one line per host and a warning per host
/// needing attention; fails naming every host whose set-up failed.
pub fn set_up(settings: &LoadedSettings, hosts: &[Instance]) -> Result<host_setup::Summary> {
    let mut options = settings.ssh_options()?;
    // Fresh instances may need a while before their sshd answers.
    options.connect_attempts = options.connect_attempts.max(10);
    let ssh = SshClient::new(options)?;
    let setup_options = host_setup::SetupOptions::new(settings.common.ports.ranges());
    let results = host_setup::run(&ssh, hosts, &setup_options);
    ssh.disconnect_all(hosts);
    let summary = host_setup::summarize(&results);
    for line in &summary.lines {
        println!("{line}");
    }
    for warning in &summary.warnings {
        eprintln!("warning: {warning}");
    }
    summary.failures.check(|n| {
        format!(
            "set-up failed on {n} of {} hosts (re-run `cargo xtask testbed setup` once fixed)",
            hosts.len()
        )
    })?;
    Ok(summary)
}
