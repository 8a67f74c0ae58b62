//! `testbed deploy`: brings every region to N running instances.
//!
//! The flow, one step each in [`deploy`]:
//! 1. refuse `--instances 0` and a time to live under an hour;
//! 2. pre-flight (regions, plan or instance type, keys): nothing is created if it fails;
//! 3. `sweep` the account: a target region that cannot be searched stops the deploy, other
//!    regions only warn;
//! 4. work out what each region needs ([`region_needs`]): the testbed's running and booting
//!    instances count toward N, stopped ones are started before any is created;
//! 5. show the cost per hour and ask (`confirm`);
//! 6. resume or begin the deploy attempt (`begin_attempt`), which keeps creates idempotent
//!    across retries and re-runs;
//! 7. start, then create, region by region (`start_and_create`);
//! 8. wait until everything runs, including what an interrupted deploy left pending
//!    (`wait_for`);
//! 9. re-arm the dead-man switch of the started instances (`rearm_started`);
//! 10. set up the new ones over SSH (`set_up_ready`);
//! 11. end the attempt once nothing failed, and say per region what was started, created and
//!     kept.
//!
//! Ctrl-C stops creating and says what is left; a re-run picks it up.

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};

use crate::failures::Failures;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use super::{attempt::Attempt, console::Console, expiry, lifecycle, wait, WaitOptions};
use crate::{
    interrupt,
    settings::LoadedSettings,
    testbed::{host_setup::Summary, CreateRequest, Instance, InstanceState, Provider},
};

/// What to deploy.
#[derive(Clone, Debug)]
pub struct DeployOptions {
    /// Instances wanted running per region (existing ones count).
    pub instances: usize,
    /// Only this region (it must be in the settings).
    pub region: Option<String>,
    /// Dead-man switch of new and started instances. Default: `ttl_hours` of the settings.
    pub ttl_hours: Option<u32>,
    /// Create without asking.
    pub yes: bool,
    /// Leave the SSH set-up of new instances for later.
    pub skip_setup: bool,
    /// How long to wait for new instances to run.
    pub wait: WaitOptions,
}

/// What one region needs.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionNeeds {
    pub region: String,
    /// Instances of the testbed already there (not terminated).
    pub existing: usize,
    /// Stopped instances to start.
    pub to_start: Vec<Instance>,
    /// Instances to create.
    pub to_create: usize,
    /// Price of one instance per hour, when the provider publishes it.
    pub price_per_hour: Option<f64>,
}

impl RegionNeeds {
    /// Instances these needs will have billed by the hour from now (started or created).
    fn to_bill(&self) -> usize {
        self.to_start.len() + self.to_create
    }
}

/// What a deploy did.
#[derive(Clone, Debug)]
pub struct DeployReport {
    pub needs: Vec<RegionNeeds>,
    /// Instances created now.
    pub created: Vec<Instance>,
    /// Stopped instances started now.
    pub started: Vec<Instance>,
    /// Instances waited for and now running: those created or started now and those an
    /// interrupted deploy had left pending.
    pub ready: Vec<Instance>,
    /// The SSH set-up (`None` with `skip_setup` or when nothing was waited for).
    pub setup: Option<Summary>,
}

/// What `region` needs for `wanted` running instances among the testbed's `instances`.
pub fn region_needs(region: &str, wanted: usize, instances: &[Instance]) -> RegionNeeds {
    let here: Vec<&Instance> = instances
        .iter()
        .filter(|i| i.region == region && i.state != InstanceState::Terminated)
        .collect();
    let stopped =
        |i: &&&Instance| matches!(i.state, InstanceState::Stopped | InstanceState::Stopping);
    let active = here.iter().filter(|i| !stopped(i)).count();
    let mut startable: Vec<Instance> = here
        .iter()
        .filter(|i| i.state == InstanceState::Stopped)
        .map(|i| (*i).clone())
        .collect();
    startable.sort_by(|a, b| a.id.cmp(&b.id));
    let stopping = here
        .iter()
        .filter(|i| i.state == InstanceState::Stopping)
        .count();
    let need = wanted.saturating_sub(active);
    startable.truncate(need);
    // Instances still stopping cannot be started yet, but are not replaced either: a re-run
    // starts them.
    let to_create = need.saturating_sub(startable.len() + stopping);
    RegionNeeds {
        region: region.to_string(),
        existing: here.len(),
        to_start: startable,
        to_create,
        price_per_hour: None,
    }
}

/// Deploys the testbed: nothing is created if the pre-flight fails or the user declines.
pub fn deploy(
    provider: &dyn Provider,
    settings: &LoadedSettings,
    options: &DeployOptions,
    console: Console,
) -> Result<DeployReport> {
    if options.instances == 0 {
        bail!("--instances must be at least 1 (`testbed destroy` deletes instances)");
    }
    let deadline = lifecycle::deadline_after(options.ttl_hours.unwrap_or(settings.ttl_hours()))?;
    let regions = target_regions(settings, options.region.as_deref())?;
    provider
        .preflight(&regions)
        .context("pre-flight check failed: nothing was created")?;
    let existing = sweep(provider, &regions)?;
    let needs = priced_needs(provider, &regions, options.instances, &existing)?;
    let resumed = left_pending(&regions, &existing);

    let mut changes = Changes::default();
    let attempt = if needs.iter().map(RegionNeeds::to_bill).sum::<usize>() == 0 {
        println!(
            "every region already has {} running instance(s) of testbed {}: nothing to start \
             or create",
            options.instances, settings.common.testbed_id
        );
        None
    } else {
        confirm(provider, settings, options, &console, &needs)?;
        interrupt::install();
        let attempt = begin_attempt(settings, options, deadline)?;
        schedule_destroy(provider, settings, attempt.deadline);
        start_and_create(provider, &needs, &attempt, &mut changes);
        Some(attempt)
    };

    let ready = wait_for(provider, &changes, resumed, options)?;
    let ready = remove_surplus(provider, settings, options.instances, &changes, ready)?;
    rearm_started(provider, settings, options, &changes, &ready, deadline)?;
    let setup = set_up_ready(settings, options, &ready, &changes.failures)?;
    changes.failures.check(|_| {
        "some instances could not be started or created (those created belong to the \
         testbed; re-run `testbed deploy` to complete it, or `testbed destroy`)"
            .to_string()
    })?;
    if let Some(attempt) = attempt {
        attempt.finish()?;
    }
    print_outcome(&needs);
    Ok(DeployReport {
        needs,
        created: changes.created,
        started: changes.started,
        ready,
        setup,
    })
}

/// What the deploy changed so far, and where it failed.
#[derive(Default)]
struct Changes {
    created: Vec<Instance>,
    started: Vec<Instance>,
    failures: Failures,
}

/// The testbed's instances in every region; a target region that cannot be searched stops
/// the deploy, other regions only warn.
fn sweep(provider: &dyn Provider, regions: &[String]) -> Result<Vec<Instance>> {
    let listing = provider.sweep();
    let (blocking, other): (Vec<_>, Vec<_>) = listing
        .failures
        .iter()
        .partition(|f| f.region == "*" || regions.contains(&f.region));
    for failure in other {
        eprintln!("warning: could not search {failure}");
    }
    if let Some(error) = crate::testbed::failure_error(
        "cannot tell what the testbed already has:",
        &blocking.into_iter().cloned().collect::<Vec<_>>(),
    ) {
        return Err(error.context("nothing was created; run `testbed deploy` again"));
    }
    Ok(listing.instances)
}

/// What each region needs for `wanted` running instances, priced where something is billed.
fn priced_needs(
    provider: &dyn Provider,
    regions: &[String],
    wanted: usize,
    existing: &[Instance],
) -> Result<Vec<RegionNeeds>> {
    let mut needs = Vec::new();
    for region in regions {
        let mut need = region_needs(region, wanted, existing);
        if need.to_bill() > 0 {
            need.price_per_hour = provider.price_per_hour(region)?;
        }
        needs.push(need);
    }
    Ok(needs)
}

/// Instances an interrupted deploy left pending in `regions`: they are waited for and set up
/// as well.
fn left_pending(regions: &[String], existing: &[Instance]) -> Vec<String> {
    existing
        .iter()
        .filter(|i| regions.contains(&i.region) && i.state == InstanceState::Pending)
        .map(|i| i.id.clone())
        .collect()
}

/// Shows the cost per hour and asks before anything is started or created.
fn confirm(
    provider: &dyn Provider,
    settings: &LoadedSettings,
    options: &DeployOptions,
    console: &Console,
    needs: &[RegionNeeds],
) -> Result<()> {
    print!("{}", cost_estimate(needs));
    let unpriced: Vec<&str> = needs
        .iter()
        .filter(|n| n.to_bill() > 0 && n.price_per_hour.is_none())
        .map(|n| n.region.as_str())
        .collect();
    if !unpriced.is_empty() {
        println!(
            "no price in {} for the instance type or plan in {}: check the provider's price \
             list before confirming",
            provider.price_source(),
            unpriced.join(", ")
        );
    }
    let total: usize = needs.iter().map(RegionNeeds::to_bill).sum();
    let creating: usize = needs.iter().map(|p| p.to_create).sum();
    let question = format!(
        "Start {} and create {creating} {} instance(s) for testbed {}?",
        total - creating,
        provider.name(),
        settings.common.testbed_id
    );
    if !console.confirm(&question, options.yes)? {
        bail!("deploy cancelled: nothing was started or created");
    }
    Ok(())
}

/// Resumes the testbed's unfinished deploy attempt if it was begun with the same options, or
/// begins one; says which and why.
fn begin_attempt(
    settings: &LoadedSettings,
    options: &DeployOptions,
    deadline: DateTime<Utc>,
) -> Result<Attempt> {
    let words = format!(
        "--instances {} --ttl {}{}",
        options.instances,
        options.ttl_hours.unwrap_or(settings.ttl_hours()),
        options
            .region
            .as_deref()
            .map(|r| format!(" --region {r}"))
            .unwrap_or_default()
    );
    let attempt = Attempt::resume_or_begin(&settings.common.testbed_id, deadline, &words)?;
    if let Some(why) = &attempt.replaced {
        println!("{why}");
    }
    if attempt.resumed {
        println!(
            "resuming the unfinished deploy attempt {} with what it kept: {}, instances \
             powering off at {} (what it created is found, not created again)",
            attempt.id,
            attempt.options,
            attempt.deadline.format("%Y-%m-%d %H:%M UTC")
        );
    }
    Ok(attempt)
}

/// Where the dead-man switch does not end the charges (Vultr), schedules the destroy at
/// `deadline` on this machine before anything is created; says so, or warns why it could not.
pub fn schedule_destroy(
    provider: &dyn Provider,
    settings: &LoadedSettings,
    deadline: DateTime<Utc>,
) {
    if provider.deadline_ends_billing() {
        return;
    }
    let scheduled = expiry::settings_file(settings.source.as_deref()).and_then(|file| {
        expiry::schedule(
            file,
            &settings.common.testbed_id,
            deadline,
            expiry::Mechanism::Auto,
        )
    });
    match scheduled {
        Ok(scheduled) => println!(
            "at {} this machine deletes the instances past their deadline ({}): a halted {} \
             instance would still be billed",
            scheduled.deadline.format("%Y-%m-%d %H:%M UTC"),
            scheduled.how,
            provider.name()
        ),
        Err(error) => eprintln!(
            "warning: {error:#}; the instances only halt at their deadline and are still billed \
             then"
        ),
    }
}

/// Lets a moment pass after the last create before the surplus check lists the testbed:
/// Vultr and EC2 date instances to the second, so an instance another deploy creates after
/// that listing is dated later than every one of this deploy's.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(1100);

/// Times the surplus check lists the testbed at most to get two listings that agree.
const STABLE_LISTINGS: usize = 5;

/// A listing of the testbed that two sweeps in a row agree on (at most [`STABLE_LISTINGS`]
/// tries, then the last): a listing read page by page while another deploy deletes its surplus
/// can skip an instance that moved from one page to the one already read.
fn stable_sweep(provider: &dyn Provider) -> crate::testbed::Listing {
    let ids = |l: &crate::testbed::Listing| {
        let mut ids: Vec<String> = l.instances.iter().map(|i| i.id.clone()).collect();
        ids.sort();
        ids
    };
    let mut last = provider.sweep();
    for _ in 1..STABLE_LISTINGS {
        let next = provider.sweep();
        if ids(&next) == ids(&last) && next.failures.is_empty() {
            return next;
        }
        last = next;
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    last
}

/// Where a region holds more running or booting instances of the testbed than `wanted` (another
/// deploy of the same testbed ran at the same time, from another machine), deletes the newest
/// of the surplus that this deploy created, never another deploy's (which removes its own by the
/// same rule, so exactly the oldest `wanted` stay); returns `ready` without them.
fn remove_surplus(
    provider: &dyn Provider,
    settings: &LoadedSettings,
    wanted: usize,
    changes: &Changes,
    ready: Vec<Instance>,
) -> Result<Vec<Instance>> {
    if changes.created.is_empty() {
        return Ok(ready);
    }
    std::thread::sleep(SETTLE);
    let listing = stable_sweep(provider);
    let mut doomed: Vec<Instance> = Vec::new();
    let mut regions: Vec<&str> = changes.created.iter().map(|i| i.region.as_str()).collect();
    regions.sort_unstable();
    regions.dedup();
    for region in regions {
        if listing
            .failures
            .iter()
            .any(|f| f.region == region || f.region == "*")
        {
            eprintln!("warning: {region}: could not check that no other deploy created too many");
            continue;
        }
        let mut active: Vec<&Instance> = listing
            .instances
            .iter()
            .filter(|i| {
                i.region == region
                    && matches!(i.state, InstanceState::Running | InstanceState::Pending)
            })
            .collect();
        if active.len() <= wanted {
            continue;
        }
        active.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        let surplus = &active[wanted..];
        let mine: Vec<Instance> = surplus
            .iter()
            .filter(|i| changes.created.iter().any(|c| c.id == i.id))
            .map(|i| (*i).clone())
            .collect();
        println!(
            "{region}: {} instances of testbed {} where {wanted} were asked (another deploy of it \
             ran at the same time): deleting the {} newest this deploy created{}{}",
            active.len(),
            settings.common.testbed_id,
            mine.len(),
            if mine.is_empty() {
                String::new()
            } else {
                format!(" ({})", ids(&mine))
            },
            match surplus.len() - mine.len() {
                0 => String::new(),
                n => format!("; the other {n} belong to the other deploy, which removes them"),
            }
        );
        doomed.extend(mine);
    }
    if doomed.is_empty() {
        return Ok(ready);
    }
    provider.delete_instances(&doomed).context(
        "cannot delete the surplus this deploy created: `testbed status` shows it, `testbed \
         deploy` run again removes it",
    )?;
    Ok(ready
        .into_iter()
        .filter(|i| !doomed.iter().any(|d| d.id == i.id))
        .collect())
}

/// Starts the stopped instances, then creates the missing ones, region by region; a failing
/// region does not stop the others; Ctrl-C skips the regions left.
fn start_and_create(
    provider: &dyn Provider,
    needs: &[RegionNeeds],
    attempt: &Attempt,
    changes: &mut Changes,
) {
    for need in needs {
        if interrupt::requested() {
            changes
                .failures
                .push(&need.region, "not deployed (interrupted)");
            continue;
        }
        if !need.to_start.is_empty() {
            match provider.start_instances(&need.to_start) {
                Ok(()) => {
                    println!("{}: started {}", need.region, ids(&need.to_start));
                    changes.started.extend(need.to_start.iter().cloned());
                }
                Err(error) => changes.failures.push(&need.region, format!("{error:#}")),
            }
        }
        if need.to_create == 0 {
            continue;
        }
        let request = CreateRequest {
            region: &need.region,
            count: need.to_create,
            deadline: attempt.deadline,
            attempt: &attempt.id,
        };
        match provider.create_instances(&request) {
            Ok(new) => {
                println!("{}: created {}", need.region, ids(&new));
                changes.created.extend(new);
            }
            Err(error) => changes.failures.push(&need.region, format!("{error:#}")),
        }
    }
}

/// Waits until the created, started and `resumed` instances run; returns them.
fn wait_for(
    provider: &dyn Provider,
    changes: &Changes,
    resumed: Vec<String>,
    options: &DeployOptions,
) -> Result<Vec<Instance>> {
    let mut wait_ids: Vec<String> = changes.created.iter().map(|i| i.id.clone()).collect();
    wait_ids.extend(changes.started.iter().map(|i| i.id.clone()));
    wait_ids.extend(resumed);
    wait_ids.sort();
    wait_ids.dedup();
    wait::until_running(provider, &wait_ids, &options.wait)
        .map_err(|error| with_failures(error, &changes.failures))
}

/// Re-arms the dead-man switch of the started instances now running (they kept their old
/// deadline); with `--skip-setup` only warns that it did not.
fn rearm_started(
    provider: &dyn Provider,
    settings: &LoadedSettings,
    options: &DeployOptions,
    changes: &Changes,
    ready: &[Instance],
    deadline: DateTime<Utc>,
) -> Result<()> {
    let started_ready: Vec<Instance> = ready
        .iter()
        .filter(|i| changes.started.iter().any(|s| s.id == i.id))
        .cloned()
        .collect();
    if options.skip_setup {
        if !started_ready.is_empty() {
            eprintln!(
                "warning: --skip-setup: the dead-man switch of the {} started instance(s) was \
                 not re-armed over SSH (an instance past its old deadline powers off 15 minutes \
                 after boot); `testbed start` re-arms it",
                started_ready.len()
            );
        }
        Ok(())
    } else {
        lifecycle::rearm(provider, settings, &started_ready, deadline)
            .map_err(|e| with_failures(e, &changes.failures))
    }
}

/// Sets up the instances now running over SSH (`None` with `--skip-setup` or when none is).
fn set_up_ready(
    settings: &LoadedSettings,
    options: &DeployOptions,
    ready: &[Instance],
    failures: &Failures,
) -> Result<Option<Summary>> {
    if options.skip_setup || ready.is_empty() {
        return Ok(None);
    }
    super::setup::set_up(settings, ready)
        .map(Some)
        .map_err(|e| with_failures(e, failures))
}

/// One line per region: what was started, created and kept.
fn print_outcome(needs: &[RegionNeeds]) {
    for need in needs {
        println!(
            "{}: started {}, created {}, kept {}",
            need.region,
            need.to_start.len(),
            need.to_create,
            need.existing - need.to_start.len()
        );
    }
}

fn ids(instances: &[Instance]) -> String {
    instances
        .iter()
        .map(|i| i.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The regions to deploy in: all of the settings, or the one asked for if it is there.
fn target_regions(settings: &LoadedSettings, only: Option<&str>) -> Result<Vec<String>> {
    let regions = settings.testbed.regions();
    match only {
        None => Ok(regions.to_vec()),
        Some(region) if regions.iter().any(|r| r == region) => Ok(vec![region.to_string()]),
        Some(region) => bail!(
            "--region {region}: not in the settings' `regions` ({})",
            regions.join(", ")
        ),
    }
}

fn with_failures(error: anyhow::Error, failures: &Failures) -> anyhow::Error {
    if failures.is_empty() {
        error
    } else {
        error.context(format!(
            "besides, some instances could not be created:\n  {}",
            failures.lines()
        ))
    }
}

/// The cost estimate shown before creating: per region the instances to create, the price
/// of one per hour and their cost per hour ("unknown" where the provider gives no price), and
/// the total.
pub fn cost_estimate(needs: &[RegionNeeds]) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header([
        "region",
        "in testbed",
        "to start",
        "to create",
        "price/h each",
        "cost/h",
    ]);
    let mut total = 0.0;
    let mut unknown = Vec::new();
    for need in needs {
        let (price, cost) = match need.price_per_hour {
            Some(price) => {
                let cost = price * need.to_bill() as f64;
                total += cost;
                (format!("${price:.4}"), format!("${cost:.4}"))
            }
            None if need.to_bill() == 0 => ("-".into(), "$0.0000".into()),
            None => {
                unknown.push(need.region.as_str());
                ("unknown".into(), "unknown".into())
            }
        };
        table.add_row([
            need.region.clone(),
            need.existing.to_string(),
            need.to_start.len().to_string(),
            need.to_create.to_string(),
            price,
            cost,
        ]);
    }
    let summary = if unknown.is_empty() {
        format!("estimated cost of the started and new instances: ${total:.4} per hour")
    } else {
        format!(
            "estimated cost of the started and new instances: ${total:.4} per hour plus unknown \
             in {}",
            unknown.join(", ")
        )
    };
    format!("{table}\n{summary}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_multiplies_and_marks_unknown_prices() {
        let needs = [
            RegionNeeds {
                region: "ewr".into(),
                existing: 1,
                to_start: Vec::new(),
                to_create: 2,
                price_per_hour: Some(0.5),
            },
            RegionNeeds {
                region: "ams".into(),
                existing: 0,
                to_start: Vec::new(),
                to_create: 3,
                price_per_hour: None,
            },
        ];
        let text = cost_estimate(&needs);
        assert!(text.contains("$1.0000"), "{text}");
        assert!(text.contains("unknown"), "{text}");
        assert!(text.contains("per hour plus unknown in ams"), "{text}");
    }

    fn instance(id: &str, region: &str, state: InstanceState) -> Instance {
        Instance::for_test(id, region, None, state)
    }

    /// Stopped instances are started before any is created; running, booting and stopping
    /// ones are not replaced; other regions do not count.
    #[test]
    fn needs_start_stopped_instances_before_creating() {
        use InstanceState::*;
        let instances = [
            instance("a", "ewr", Stopped),
            instance("b", "ewr", Stopped),
            instance("c", "ewr", Stopped),
            instance("d", "ams", Running),
            instance("e", "ams", Stopping),
            instance("f", "ams", Pending),
            instance("g", "fra", Terminated),
        ];
        let need = region_needs("ewr", 1, &instances);
        assert_eq!((need.existing, need.to_create), (3, 0));
        assert_eq!(ids(&need.to_start), "a");
        let need = region_needs("ewr", 5, &instances);
        assert_eq!(ids(&need.to_start), "a, b, c");
        assert_eq!(need.to_create, 2);
        let need = region_needs("ams", 3, &instances);
        assert!(need.to_start.is_empty());
        assert_eq!(need.to_create, 0, "the stopping one is not replaced");
        let need = region_needs("ams", 4, &instances);
        assert_eq!(need.to_create, 1);
        let need = region_needs("fra", 2, &instances);
        assert_eq!((need.existing, need.to_create), (0, 2));
    }
}
