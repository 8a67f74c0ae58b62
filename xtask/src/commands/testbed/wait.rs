//! Waiting, bounded in time and with progress, until instances run.

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use crate::progress;
use anyhow::Result;

use crate::{
    interrupt,
    testbed::{Instance, Provider},
};

/// How long and how often to poll.
#[derive(Clone, Debug)]
pub struct WaitOptions {
    /// Give up after this long.
    pub timeout: Duration,
    /// Pause between two listings.
    pub interval: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(15 * 60),
            interval: Duration::from_secs(5),
        }
    }
}

/// Polls the provider until every instance of `ids` runs; returns them. Fails naming the
/// instances not ready (and their states) on timeout, on Ctrl-C, or when one disappears. A
/// region that cannot be listed on one poll is polled again (its error is shown, and named
/// on timeout).
pub fn until_running(
    provider: &dyn Provider,
    ids: &[String],
    options: &WaitOptions,
) -> Result<Vec<Instance>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let bar = progress::bar(
        ids.len() as u64,
        "waiting for instances [{bar:30}] {pos}/{len} running ({elapsed}) {msg}",
    );
    let start = Instant::now();
    // Where each instance was last seen.
    let mut regions: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let result = loop {
        let listing = provider.sweep();
        let listed: Vec<Instance> = listing
            .instances
            .iter()
            .filter(|i| wanted.contains(i.id.as_str()))
            .cloned()
            .collect();
        // An instance in a region that could not be listed this time is not known to be gone.
        let unlisted = |id: &str| {
            listing.failures.iter().any(|f| {
                f.region == "*" || regions.get(id).is_some_and(|r| *r == f.region.as_str())
            })
        };
        let gone: Vec<&str> = ids
            .iter()
            .map(String::as_str)
            .filter(|id| !listed.iter().any(|i| i.id == *id) && !unlisted(id))
            .collect();
        for instance in &listed {
            regions.insert(instance.id.clone(), instance.region.clone());
        }
        if !gone.is_empty() {
            break Err(anyhow::anyhow!(
                "instance(s) {} disappeared from the testbed while waiting for them to run",
                gone.join(", ")
            ));
        }
        let running = listed.iter().filter(|i| i.is_running()).count();
        bar.set_position(running as u64);
        if running == ids.len() {
            break Ok(listed);
        }
        let mut waiting = describe_waiting(&listed);
        for failure in &listing.failures {
            waiting.push_str(&format!("; could not list {failure}"));
        }
        bar.set_message(waiting.clone());
        if interrupt::requested() {
            break Err(anyhow::anyhow!(
                "interrupted while waiting for {waiting}; they stay in the testbed (`testbed \
                 destroy` deletes them, `testbed deploy` picks them up again)"
            ));
        }
        if start.elapsed() >= options.timeout {
            break Err(anyhow::anyhow!(
                "{} of {} instances still not running after {} s: {waiting}; they stay in the \
                 testbed (`testbed status` shows them, `testbed destroy` deletes them)",
                ids.len() - running,
                ids.len(),
                options.timeout.as_secs()
            ));
        }
        std::thread::sleep(options.interval);
    };
    bar.finish_and_clear();
    result
}

fn describe_waiting(instances: &[Instance]) -> String {
    instances
        .iter()
        .filter(|i| !i.is_running())
        .map(|i| format!("{} in {} ({})", i.id, i.region, i.state))
        .collect::<Vec<_>>()
        .join(", ")
}
