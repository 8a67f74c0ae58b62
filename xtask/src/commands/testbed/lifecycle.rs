//! `testbed start`, `testbed stop` and `testbed destroy`.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use super::{console::Console, wait, WaitOptions};
use crate::testbed::{Instance, InstanceState, Provider};

/// Starts stopped instances (at most `per_region` in each region) and waits until they run;
/// returns them.
pub fn start(
    provider: &dyn Provider,
    per_region: Option<usize>,
    wait: &WaitOptions,
) -> Result<Vec<Instance>> {
    let mut by_region: BTreeMap<String, Vec<Instance>> = BTreeMap::new();
    for instance in provider.list_instances()? {
        if instance.state == InstanceState::Stopped {
            by_region
                .entry(instance.region.clone())
                .or_default()
                .push(instance);
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
        return Ok(Vec::new());
    }
    provider.start_instances(&chosen)?;
    println!("started {} instance(s)", chosen.len());
    let ids: Vec<String> = chosen.iter().map(|i| i.id.clone()).collect();
    wait::until_running(provider, &ids, wait)
}

/// Stops the running (and booting) instances; returns them.
pub fn stop(provider: &dyn Provider) -> Result<Vec<Instance>> {
    let chosen: Vec<Instance> = provider
        .list_instances()?
        .into_iter()
        .filter(|i| matches!(i.state, InstanceState::Running | InstanceState::Pending))
        .collect();
    if chosen.is_empty() {
        println!("no running instance to stop");
        return Ok(chosen);
    }
    provider.stop_instances(&chosen)?;
    println!(
        "stopped {} instance(s); stopped instances may still be billed: `testbed destroy` deletes them",
        chosen.len()
    );
    Ok(chosen)
}

/// Deletes every instance of the testbed in every region, whatever its state (pending ones of
/// an interrupted deploy included), after confirmation unless `yes`; returns them. Safe to run
/// again: with nothing left it does nothing.
pub fn destroy(provider: &dyn Provider, yes: bool, console: Console) -> Result<Vec<Instance>> {
    let doomed: Vec<Instance> = provider
        .list_instances()?
        .into_iter()
        .filter(|i| i.state != InstanceState::Terminated)
        .collect();
    if doomed.is_empty() {
        println!("the testbed has no instances: nothing to destroy");
        return Ok(doomed);
    }
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
        yes,
    )? {
        bail!("destroy cancelled: nothing was deleted");
    }
    provider.delete_instances(&doomed)?;
    println!("deleted {} instance(s) ({where_})", doomed.len());
    Ok(doomed)
}
