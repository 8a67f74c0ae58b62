//! `cargo xtask build`: builds the settings' code for the testbed's hosts.

use anyhow::{bail, Result};

use crate::{
    builder::{self, target},
    cli::BuildArgs,
    settings::{CloudProvider, LoadedSettings},
    ssh::{self, SshClient},
    testbed::{self, Instance},
    workspace,
};

/// Runs `build`.
pub fn run(settings: &LoadedSettings, args: BuildArgs) -> Result<()> {
    let target = match args.target {
        Some(target) => Some(target),
        None => hosts_target(settings)?,
    };
    let source = builder::source::resolve(
        &workspace::root(),
        settings.settings.repository.as_ref(),
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

/// The target of the testbed's hosts: this machine's for the local testbed, what `uname -m`
/// says on static hosts, what the instance type implies on clouds (AWS Graviton types are
/// aarch64). Musl when that target is installed, else glibc.
pub fn hosts_target(settings: &LoadedSettings) -> Result<Option<String>> {
    let arch = match settings.settings.cloud_provider {
        CloudProvider::Local => return Ok(None),
        CloudProvider::Aws | CloudProvider::Vultr => {
            target::arch_of_instance_type(settings.settings.specs.as_deref().unwrap_or_default())
                .to_string()
        }
        CloudProvider::Static => {
            let instances = testbed::provider(settings)?.list_instances()?;
            hosts_arch(settings, &instances)?
        }
    };
    target::for_arch(&arch, target::is_installed).map(Some)
}

/// The one architecture of `instances` (asked over SSH).
fn hosts_arch(settings: &LoadedSettings, instances: &[Instance]) -> Result<String> {
    let ssh = SshClient::new(settings.settings.ssh_options()?)?;
    let answers = ssh
        .connect_all(instances)
        .map(|()| ssh.run_all(instances, "uname -m"));
    ssh.disconnect_all(instances);
    let mut arches = Vec::new();
    for (host, answer) in answers? {
        let output = answer?;
        let arch = target::normalise_arch(&output.stdout)
            .map_err(|e| e.context(format!("on {}", ssh::describe(&host))))?;
        if !arches.contains(&arch) {
            arches.push(arch);
        }
    }
    match arches[..] {
        [arch] => Ok(arch.to_string()),
        [] => bail!("the testbed has no hosts to build for"),
        _ => bail!(
            "the hosts have different architectures ({}): pass --target",
            arches.join(", ")
        ),
    }
}
