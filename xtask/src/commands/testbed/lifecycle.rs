//! `testbed start`, `testbed stop` and `testbed destroy`.
//!
//! Each sweeps every region of the account ([`Provider::sweep`]) and acts on what it found in
//! every region that answered; a region that did not is named in the error at the end (after
//! the others were handled), so a re-run finishes the job.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};

use crate::failures::Failures;
use chrono::{DateTime, Duration as Hours, Utc};

use super::{console::Console, wait, WaitOptions};
use crate::{
    settings::LoadedSettings,
    ssh::SshClient,
    testbed::{failure_error, user_data, Instance, InstanceState, Listing, Provider},
};

/// The deadline of instances started or created now with a time to live of `ttl_hours`
/// (refused below 1 hour: `testbed destroy` ends instances now).
pub fn deadline_after(ttl_hours: u32) -> Result<DateTime<Utc>> {
    if ttl_hours == 0 {
        bail!(
            "--ttl (or settings `ttl_hours`) must be at least 1 hour: `cargo xtask testbed \
             destroy` deletes instances now"
        );
    }
    Ok(Utc::now() + Hours::hours(i64::from(ttl_hours)))
}

/// Prints the regions a sweep could not read, as warnings.
pub fn warn_failures(listing: &Listing) {
    for failure in &listing.failures {
        eprintln!("warning: could not search {failure}");
    }
}

/// The error of an operation that was done everywhere but in the regions of `listing` that
/// failed (`None` when none did).
fn incomplete(listing: &Listing, command: &str) -> Option<anyhow::Error> {
    failure_error("could not search", &listing.failures).map(|e| {
        e.context(format!(
            "`testbed {command}` could not search every region: run it again once the regions \
             above answer"
        ))
    })
}

/// Starts stopped instances (at most `per_region` in each region), waits until they run,
/// and re-arms their dead-man switch with `deadline`; returns them.
pub fn start(
    provider: &dyn Provider,
    settings: &LoadedSettings,
    per_region: Option<usize>,
    deadline: DateTime<Utc>,
    wait: &WaitOptions,
) -> Result<Vec<Instance>> {
    let listing = provider.sweep();
    warn_failures(&listing);
    let mut by_region: BTreeMap<String, Vec<Instance>> = BTreeMap::new();
    for instance in &listing.instances {
        if instance.state == InstanceState::Stopped {
            by_region
                .entry(instance.region.clone())
                .or_default()
                .push(instance.clone());
        }
    }
    let chosen: Vec<Instance> = by_region
        .into_values()
        .flat_map(|mut v| {
            v.sort_by(|a, b| a.id.cmp(&b.id));
            v.truncate(per_region.unwrap_or(usize::MAX));
            v
        })
        .collect();
    if chosen.is_empty() {
        println!("no stopped instance to start");
    } else {
        start_and_rearm(provider, settings, &chosen, deadline, wait)?;
    }
    match incomplete(&listing, "start") {
        Some(error) => Err(error),
        None => Ok(chosen),
    }
}

/// Starts `chosen` (stopped instances), waits until they run and re-arms their switch.
pub fn start_and_rearm(
    provider: &dyn Provider,
    settings: &LoadedSettings,
    chosen: &[Instance],
    deadline: DateTime<Utc>,
    wait: &WaitOptions,
) -> Result<Vec<Instance>> {
    provider.start_instances(chosen)?;
    println!("started {} instance(s)", chosen.len());
    let ids: Vec<String> = chosen.iter().map(|i| i.id.clone()).collect();
    let running = wait::until_running(provider, &ids, wait)?;
    rearm(provider, settings, &running, deadline)?;
    Ok(running)
}

/// Writes `deadline` on each of `instances` over SSH and records it with the provider. Without
/// a private key in the settings, says what the instances will do instead.
pub fn rearm(
    provider: &dyn Provider,
    settings: &LoadedSettings,
    instances: &[Instance],
    deadline: DateTime<Utc>,
) -> Result<()> {
    if instances.is_empty() {
        return Ok(());
    }
    let when = deadline.format("%Y-%m-%d %H:%M UTC");
    if settings.testbed.private_key_file().is_none() {
        eprintln!(
            "warning: no `ssh_private_key_file` in the settings: the dead-man switch of the \
             started instances keeps its old deadline (an instance past it powers off 15 \
             minutes after boot); set the key and run `testbed start` again to re-arm it"
        );
        return Ok(());
    }
    let mut options = settings.ssh_options()?;
    options.connect_attempts = options.connect_attempts.max(10);
    let ssh = SshClient::new(options)?;
    let command = user_data::rearm_command(deadline);
    let results = ssh.run_all(instances, &command);
    ssh.disconnect_all(instances);
    let (armed, failed) = Failures::collect(
        results
            .into_iter()
            .map(|(host, result)| (host.clone(), result.map(|_| host))),
        |host| format!("{} ({})", host.id, host.region),
    );
    provider.record_deadline(&armed, deadline)?;
    failed.check(|n| {
        format!(
            "could not re-arm the dead-man switch of {n} instance(s) (they keep their old \
             deadline; an instance past it powers off 15 minutes after boot): run `testbed \
             start` again or `testbed destroy`"
        )
    })?;
    println!(
        "dead-man switch re-armed on {} instance(s): they power off at {when}",
        armed.len()
    );
    Ok(())
}

/// Where a stopped testbed bills like a running one (Vultr), asks before stopping `testbed_id`,
/// in words saying so and suggesting `destroy`, unless `yes`.
pub fn confirm_stop(
    provider: &dyn Provider,
    testbed_id: &str,
    yes: bool,
    console: Console,
) -> Result<()> {
    if provider.deadline_ends_billing() {
        return Ok(());
    }
    let why = provider.stopped_billing().unwrap_or_default();
    let question = format!(
        "Stop testbed {testbed_id}? Note: {why} (`cargo xtask testbed destroy --testbed-id \
         {testbed_id}` deletes it)."
    );
    if !console.confirm(&question, yes)? {
        bail!("stop cancelled: nothing was stopped");
    }
    Ok(())
}

/// Stops the running (and booting) instances, then says what the stopped testbed still costs
/// and why; returns them.
pub fn stop(provider: &dyn Provider) -> Result<Vec<Instance>> {
    let listing = provider.sweep();
    warn_failures(&listing);
    let chosen: Vec<Instance> = listing
        .instances
        .iter()
        .filter(|i| matches!(i.state, InstanceState::Running | InstanceState::Pending))
        .cloned()
        .collect();
    if chosen.is_empty() {
        println!("no running instance to stop");
    } else {
        provider.stop_instances(&chosen)?;
        println!("stopped {} instance(s)", chosen.len());
        let mut stopped = chosen.clone();
        for instance in &mut stopped {
            instance.state = InstanceState::Stopped;
        }
        let others: Vec<Instance> = listing
            .instances
            .iter()
            .filter(|i| !chosen.iter().any(|c| c.id == i.id))
            .cloned()
            .collect();
        stopped.extend(others);
        if let Some(line) = super::billing::stopped_line(provider, &stopped)? {
            println!("{line}");
        }
    }
    match incomplete(&listing, "stop") {
        Some(error) => Err(error),
        None => Ok(chosen),
    }
}

/// What `destroy` does besides instances.
#[derive(Clone, Copy, Debug, Default)]
pub struct DestroyOptions {
    /// Do not ask.
    pub yes: bool,
    /// Leave key pairs and security / firewall groups.
    pub keep_network: bool,
    /// Only instances whose deadline has passed (what the scheduled destroy runs).
    pub expired_only: bool,
}

/// Deletes every instance of the testbed in every region of the account, whatever its state
/// (pending ones of an interrupted deploy included), after confirmation unless `yes`; then,
/// in every region left with none, the key pairs and groups deploys created. Returns the
/// deleted instances. Safe to run again: with nothing left it does nothing.
pub fn destroy(
    provider: &dyn Provider,
    options: DestroyOptions,
    console: Console,
) -> Result<Vec<Instance>> {
    let listing = provider.sweep();
    warn_failures(&listing);
    let now = Utc::now();
    let doomed: Vec<Instance> = listing
        .instances
        .iter()
        .filter(|i| i.state != InstanceState::Terminated)
        .filter(|i| !options.expired_only || i.deadline.is_some_and(|d| d <= now))
        .cloned()
        .collect();
    let mut errors: Vec<anyhow::Error> = Vec::new();
    if doomed.is_empty() {
        println!("the testbed has no instances: nothing to delete");
    } else {
        let mut regions: BTreeMap<&str, usize> = BTreeMap::new();
        for instance in &doomed {
            *regions.entry(&instance.region).or_default() += 1;
        }
        let where_ = regions
            .iter()
            .map(|(r, n)| format!("{n} in {r}"))
            .collect::<Vec<_>>()
            .join(", ");
        if !console.confirm(
            &format!(
                "Delete {} {} instance(s) ({where_})?",
                doomed.len(),
                provider.name()
            ),
            options.yes,
        )? {
            bail!("destroy cancelled: nothing was deleted");
        }
        match provider.delete_instances(&doomed) {
            Ok(()) => println!("deleted {} instance(s) ({where_})", doomed.len()),
            Err(error) => errors.push(error),
        }
    }
    if !options.keep_network {
        // Regions still holding instances (a failed delete), or not searched, keep theirs.
        let after = if doomed.is_empty() {
            listing.clone()
        } else {
            provider.sweep()
        };
        let mut busy: BTreeSet<String> = after.regions();
        busy.extend(after.failures.iter().map(|f| f.region.clone()));
        busy.extend(listing.failures.iter().map(|f| f.region.clone()));
        match provider.delete_network(&busy) {
            Ok(deleted) => {
                for line in deleted {
                    println!("deleted {line}");
                }
            }
            Err(error) => errors.push(error),
        }
    }
    if let Some(error) = incomplete(&listing, "destroy") {
        errors.push(error);
    }
    match errors.len() {
        0 => Ok(doomed),
        _ => bail!(
            "destroy is incomplete (everything else was deleted); run `cargo xtask testbed \
             destroy` again to finish:\n  {}",
            errors
                .iter()
                .map(|e| format!("{e:#}"))
                .collect::<Vec<_>>()
                .join("\n  ")
        ),
    }
}
