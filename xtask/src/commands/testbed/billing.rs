//! What the testbed commands say about money: what a set of instances costs per hour as they
//! are (stopped ones included, at what stopping leaves billed), why a stopped testbed still
//! costs that, and what ends the charges and when. The prices and sentences are the
//! provider's ([`Provider::hourly_cost`], [`Provider::stopped_billing`]); this module only
//! adds them up and words them.

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::expiry::Scheduled;
use crate::testbed::{Instance, InstanceState, Provider};

/// What some instances cost per hour as they are now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cost {
    /// USD per hour of the priced instances.
    pub usd_per_hour: f64,
    /// `plan in region` of each instance with no price in the provider's source.
    pub unpriced: Vec<String>,
}

impl Cost {
    /// `$0.0298 per hour`, plus what is not priced and where prices come from.
    pub fn describe(&self, provider: &dyn Provider) -> String {
        let mut text = format!("${:.4} per hour", self.usd_per_hour);
        if !self.unpriced.is_empty() {
            let mut missing = self.unpriced.clone();
            missing.sort();
            missing.dedup();
            text.push_str(&format!(
                " plus {} instance(s) with no price in {} ({}): check the provider's price list",
                self.unpriced.len(),
                provider.price_source(),
                missing.join(", ")
            ));
        }
        text
    }
}

/// What `instances` cost per hour as they are (deleted ones cost nothing).
pub fn cost_now(provider: &dyn Provider, instances: &[Instance]) -> Result<Cost> {
    let mut cost = Cost::default();
    for instance in instances {
        match provider.hourly_cost(instance)? {
            Some(usd) => cost.usd_per_hour += usd,
            None => cost
                .unpriced
                .push(format!("{} in {}", instance.specs, instance.region)),
        }
    }
    Ok(cost)
}

/// The line saying what the stopped ones of `instances` still cost and why (`None` when
/// none is stopped or the provider bills nothing).
pub fn stopped_line(provider: &dyn Provider, instances: &[Instance]) -> Result<Option<String>> {
    let stopped: Vec<Instance> = instances
        .iter()
        .filter(|i| matches!(i.state, InstanceState::Stopped | InstanceState::Stopping))
        .cloned()
        .collect();
    let Some(why) = provider.stopped_billing() else {
        return Ok(None);
    };
    if stopped.is_empty() {
        return Ok(None);
    }
    let cost = cost_now(provider, &stopped)?;
    Ok(Some(format!(
        "{} stopped instance(s) still cost {}: {why}",
        stopped.len(),
        cost.describe(provider)
    )))
}

/// What ends the charges of testbed `testbed_id` (its `instances`) and when: the instances'
/// own dead-man switch where powering off ends the billing (AWS), else the destroy
/// `scheduled` on this machine (with whether what runs it is still there), or nothing.
pub fn charges_end(
    provider: &dyn Provider,
    testbed_id: &str,
    instances: &[Instance],
    scheduled: Option<&(Scheduled, bool)>,
    now: DateTime<Utc>,
) -> String {
    let live: Vec<&Instance> = instances
        .iter()
        .filter(|i| i.state != InstanceState::Terminated)
        .collect();
    if live.is_empty() {
        return "nothing is billed: the testbed has no instances".into();
    }
    let destroy = format!("`cargo xtask testbed destroy --testbed-id {testbed_id}`");
    let undated = live.iter().filter(|i| i.deadline.is_none()).count();
    let last = live.iter().filter_map(|i| i.deadline).max();
    if provider.deadline_ends_billing() {
        let mut text = match last {
            Some(last) => format!(
                "charges end by {}: each instance powers off at its deadline and, \
                 launched to terminate on shutdown, is deleted",
                when(last, now)
            ),
            None => format!("nothing ends the charges but {destroy}"),
        };
        if undated > 0 && last.is_some() {
            text.push_str(&format!(
                "; {undated} instance(s) have no recorded deadline: only {destroy} ends those"
            ));
        }
        return text;
    }
    match scheduled {
        Some((schedule, true)) => format!(
            "charges end at {}: {destroy} --expired is scheduled on this machine ({}), \
             which must be on then; it deletes the instances past their deadline and schedules \
             itself again for the others",
            when(schedule.deadline, now),
            schedule.how
        ),
        Some((schedule, false)) => format!(
            "NOTHING ends the charges: the destroy scheduled at {} ({}) is no longer \
             there (this machine was off or rebooted?); at their deadline the instances only \
             halt, which is billed like running: run {destroy}",
            when(schedule.deadline, now),
            schedule.how
        ),
        None => format!(
            "NOTHING ends the charges: at their deadline the instances only halt, which is \
             billed like running, and no destroy is scheduled on this machine: run {destroy}"
        ),
    }
}

/// `2026-12-01 23:30 UTC (in 5h 12m)` or `... UTC (passed)`.
fn when(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    super::status::deadline(Some(t), now).replacen(" (", " UTC (", 1)
}
