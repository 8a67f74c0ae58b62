//! `testbed status`: the testbed's instances in every region of the account, one table per
//! region, with each instance's dead-man switch deadline and the time left, what the testbed
//! costs per hour as it is (stopped instances included) and what ends the charges when; then
//! every other testbed of this tool found in the account, with the command that destroys it.
//! Regions that could not be searched are named and make the command fail.

use anyhow::Result;
use chrono::{DateTime, Utc};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use owo_colors::OwoColorize;

use super::{billing, expiry, lifecycle::warn_failures, Console};
use crate::{
    settings::LoadedSettings,
    testbed::{failure_error, AccountListing, Instance, InstanceState, Provider},
};

/// Prints the status of the testbed and the other testbeds of the account; fails (after
/// printing) when a region could not be searched.
pub fn show(provider: &dyn Provider, settings: &LoadedSettings, console: Console) -> Result<()> {
    let listing = provider.sweep();
    let now = Utc::now();
    let testbed_id = &settings.common.testbed_id;
    print!(
        "{}",
        render(
            &listing.instances,
            settings.testbed.regions(),
            now,
            console.color
        )
    );
    print!("{}", money(provider, testbed_id, &listing.instances, now)?);
    let account = provider.sweep_account();
    print!("{}", others(provider, testbed_id, &account, now)?);
    warn_failures(&listing);
    for failure in &account.failures {
        eprintln!("warning: could not search for other testbeds in {failure}");
    }
    match failure_error("could not search", &listing.failures) {
        Some(error) => {
            Err(error
                .context("the status is incomplete: instances in the regions above are not shown"))
        }
        None => Ok(()),
    }
}

/// The status text: per region a line of counts (running in green, stopped in red when
/// `color`) and a table of instance id, IP, state and deadline. Regions of the settings come
/// first, in their order, then any other region an instance is in, marked as such.
pub fn render(
    instances: &[Instance],
    regions: &[String],
    now: DateTime<Utc>,
    color: bool,
) -> String {
    let mut order: Vec<&str> = regions.iter().map(String::as_str).collect();
    for instance in instances {
        if !order.contains(&instance.region.as_str()) {
            order.push(&instance.region);
        }
    }
    if order.is_empty() {
        return "the testbed has no instances\n".into();
    }
    let mut out = String::new();
    for region in order {
        let mut here: Vec<&Instance> = instances.iter().filter(|i| i.region == region).collect();
        here.sort_by(|a, b| a.id.cmp(&b.id));
        let outside = if regions.iter().any(|r| r == region) {
            ""
        } else {
            " (not in the settings' `regions`: `testbed destroy` still deletes them)"
        };
        out.push_str(&format!("{region}: {}{outside}\n", counts(&here, color)));
        if here.is_empty() {
            continue;
        }
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        table.set_header(["instance", "IP", "state", "powers off at (UTC)"]);
        for instance in here {
            table.add_row([
                instance.id.clone(),
                instance.public_ip.clone().unwrap_or_else(|| "-".into()),
                instance.state.to_string(),
                deadline(instance.deadline, now),
            ]);
        }
        out.push_str(&table.to_string());
        out.push('\n');
    }
    out
}

/// What testbed `testbed_id` (its `instances`) costs per hour as it is, what its stopped
/// instances still cost and why, and what ends the charges when.
pub fn money(
    provider: &dyn Provider,
    testbed_id: &str,
    instances: &[Instance],
    now: DateTime<Utc>,
) -> Result<String> {
    if instances.is_empty() {
        return Ok(String::new());
    }
    let mut text = format!(
        "cost now: {}\n",
        billing::cost_now(provider, instances)?.describe(provider)
    );
    if let Some(line) = billing::stopped_line(provider, instances)? {
        text.push_str(&line);
        text.push('\n');
    }
    let scheduled = expiry::scheduled(testbed_id);
    text.push_str(&billing::charges_end(
        provider,
        testbed_id,
        instances,
        scheduled.as_ref(),
        now,
    ));
    text.push('\n');
    Ok(text)
}

/// Every testbed of this tool in `account` but `current`: per testbed its instances by
/// state, age, deadlines (those passed marked), cost per hour and the command that destroys
/// it.
pub fn others(
    provider: &dyn Provider,
    current: &str,
    account: &AccountListing,
    now: DateTime<Utc>,
) -> Result<String> {
    let mut ids: Vec<&str> = account
        .instances
        .iter()
        .map(|(id, _)| id.as_str())
        .filter(|id| *id != current)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok("no other testbed of consensus-bench in the account\n".into());
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header([
        "testbed",
        "instances",
        "age",
        "deadline (UTC)",
        "cost/h now",
        "destroy with",
    ]);
    for id in &ids {
        let instances: Vec<Instance> = account
            .instances
            .iter()
            .filter(|(t, _)| t == id)
            .map(|(_, i)| i.clone())
            .collect();
        let refs: Vec<&Instance> = instances.iter().collect();
        let age = instances
            .iter()
            .filter_map(|i| i.created)
            .min()
            .map_or("unknown".into(), |t| {
                let minutes = (now - t).num_minutes().max(0);
                format!("{}h {:02}m", minutes / 60, minutes % 60)
            });
        let passed = instances
            .iter()
            .filter(|i| i.deadline.is_some_and(|d| d <= now))
            .count();
        let last = instances.iter().filter_map(|i| i.deadline).max();
        let deadline = match (last, passed) {
            (None, _) => "unknown".to_string(),
            (Some(last), 0) => deadline(Some(last), now),
            (Some(last), n) => format!(
                "PASSED on {n} instance(s); last {}",
                deadline(Some(last), now)
            ),
        };
        table.add_row([
            id.to_string(),
            counts(&refs, false),
            age,
            deadline,
            billing::cost_now(provider, &instances)?.describe(provider),
            format!("cargo xtask testbed destroy --testbed-id {id}"),
        ]);
    }
    Ok(format!(
        "other testbeds of consensus-bench in the account (they bill until destroyed):\n{table}\n"
    ))
}

/// `2026-12-01 23:30 (in 5h 12m)`, `... (passed)`, or `unknown`.
pub(super) fn deadline(deadline: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(deadline) = deadline else {
        return "unknown".into();
    };
    let left = (deadline - now).num_minutes();
    let when = deadline.format("%Y-%m-%d %H:%M");
    if left < 0 {
        format!("{when} (passed)")
    } else {
        format!("{when} (in {}h {:02}m)", left / 60, left % 60)
    }
}

/// `2 running, 1 stopped, 1 pending` (states with no instance left out), or `no instances`.
fn counts(instances: &[&Instance], color: bool) -> String {
    if instances.is_empty() {
        return "no instances".into();
    }
    let mut states: Vec<(String, usize)> = Vec::new();
    for instance in instances {
        let name = instance.state.to_string();
        match states.iter_mut().find(|(s, _)| *s == name) {
            Some((_, n)) => *n += 1,
            None => states.push((name, 1)),
        }
    }
    let rank = |name: &str| match name {
        "running" => 0,
        "stopped" => 1,
        _ => 2,
    };
    states.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then(a.0.cmp(&b.0)));
    states
        .into_iter()
        .map(|(state, n)| {
            let text = format!("{n} {state}");
            match (color, state.as_str()) {
                (true, s) if s == InstanceState::Running.to_string() => text.green().to_string(),
                (true, s) if s == InstanceState::Stopped.to_string() => text.red().to_string(),
                _ => text,
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str, region: &str, ip: Option<&str>, state: InstanceState) -> Instance {
        Instance::for_test(id, region, ip, state)
    }

    #[test]
    fn shows_regions_outside_the_settings_and_the_time_left() {
        let now = Utc::now();
        let mut far = instance("c", "sfo", Some("192.0.2.3"), InstanceState::Running);
        far.deadline = Some(now + chrono::Duration::minutes(5 * 60 + 12));
        let mut late = instance("d", "ewr", None, InstanceState::Stopped);
        late.deadline = Some(now - chrono::Duration::minutes(3));
        let text = render(&[far, late], &["ewr".to_string()], now, false);
        assert!(
            text.contains("sfo: 1 running (not in the settings' `regions`"),
            "{text}"
        );
        assert!(text.contains("(in 5h 12m)"), "{text}");
        assert!(text.contains("(passed)"), "{text}");
        assert!(!text.contains("ewr: 1 stopped (not"), "{text}");
    }

    #[test]
    fn colours_running_green_and_stopped_red_only_when_asked() {
        let instances = [
            instance("a", "ewr", Some("192.0.2.1"), InstanceState::Running),
            instance("b", "ewr", None, InstanceState::Stopped),
        ];
        let regions = ["ewr".to_string(), "ams".to_string()];
        let now = Utc::now();
        let plain = render(&instances, &regions, now, false);
        assert!(!plain.contains('\u{1b}'), "{plain}");
        assert!(plain.contains("ewr: 1 running, 1 stopped"), "{plain}");
        assert!(plain.contains("ams: no instances"), "{plain}");
        assert!(plain.contains("unknown"), "{plain}");
        let coloured = render(&instances, &regions, now, true);
        assert!(
            coloured.contains(&"1 running".green().to_string()),
            "{coloured}"
        );
        assert!(
            coloured.contains(&"1 stopped".red().to_string()),
            "{coloured}"
        );
    }
}
