//! `cargo xtask build`: builds the settings' code for the testbed's hosts.

use anyhow::{Context, Result};

use crate::{
    builder::{self, target},
    cli::BuildArgs,
    settings::LoadedSettings,
    ssh::{self, SshClient},
    testbed, workspace,
};

/// Runs `build`.
pub fn run(settings: &LoadedSettings, args: BuildArgs) -> Result<()> {
    let target = match args.target {
        Some(target) => Some(target),
        None => hosts_target(settings)?,
    };
    let source = builder::source::resolve(
        &workspace::root()?,
        settings.common.repository.as_ref(),
        &workspace::cache_dir(),
    )?;
    eprintln!(
        "building the node at {}{} for {}...",
        source.commit,
        if source.dirty {
            " (with local changes)"
        } else {
            ""
        },
        target.as_deref().unwrap_or("this machine")
    );
    let build = builder::build(&source, target.as_deref())?;
    println!("binary:  {}", build.node.path.display());
    println!("sha256:  {}", build.node.hash);
    println!("commit:  {}", build.source.commit);
    match build.minimum_glibc {
        Some(glibc) => println!(
            "linking: dynamic, glibc >= {glibc} needed on the hosts (install the musl target for a static binary)"
        ),
        None => println!("linking: static (no glibc needed)"),
    }
    Ok(())
}

/// The target of the testbed's hosts: this machine's for the local testbed; for remote hosts
/// (static or cloud instances, which must be running) the one architecture their `uname -m`
/// names, as the benchmark asks it. Musl when that target is installed, else glibc.
pub fn hosts_target(settings: &LoadedSettings) -> Result<Option<String>> {
    if settings.testbed.on_this_machine() {
        return Ok(None);
    }
    let (_, instances) = testbed::running_instances(settings)?;
    let ssh = SshClient::new(settings.ssh_options()?)?;
    let answers = ssh
        .connect_all(&instances)
        .map(|()| ssh.run_all(&instances, "uname -m"));
    ssh.disconnect_all(&instances);
    let mut arches = Vec::new();
    for (host, answer) in answers? {
        let output = answer?;
        let arch = target::normalise_arch(&output.stdout)
            .with_context(|| format!("on {}", ssh::describe(&host)))?;
        arches.push(arch);
    }
    target::for_hosts(arches, target::is_installed).map(Some)
}
