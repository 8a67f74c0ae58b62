//! `testbed deploy`: pre-flight, cost estimate, confirmation, creation of the missing
//! instances per region, wait until they run, set-up over SSH.

use anyhow::{bail, Context, Result};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use super::{console::Console, wait, WaitOptions};
use crate::{
    interrupt,
    settings::LoadedSettings,
    testbed::{setup::Summary, Instance, InstanceState, Provider},
};

/// What to deploy.
#[derive(Clone, Debug)]
pub struct DeployOptions {
    /// Instances wanted per region (existing ones count).
    pub instances: usize,
    /// Only this region (it must be in the settings).
    pub region: Option<String>,
    /// Dead-man switch of new instances. Default: `ttl_hours` of the settings.
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
pub struct RegionPlan {
    pub region: String,
    /// Instances of the testbed already there (not terminated).
    pub existing: usize,
    /// Instances to create.
    pub to_create: usize,
    /// Price of one instance per hour, when the provider publishes it.
    pub price_per_hour: Option<f64>,
}

/// What a deploy did.
#[derive(Clone, Debug)]
pub struct DeployReport {
    pub plans: Vec<RegionPlan>,
    /// Instances created now.
    pub created: Vec<Instance>,
    /// Instances waited for and now running: those created now and those an interrupted
    /// deploy had left pending.
    pub ready: Vec<Instance>,
    /// The SSH set-up (`None` with `skip_setup` or when nothing was waited for).
    pub setup: Option<Summary>,
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
    let regions = target_regions(settings, options.region.as_deref())?;
    provider
        .preflight(&regions)
        .context("pre-flight check failed: nothing was created")?;
    let existing = provider.list_instances()?;
    let mut plans = Vec::new();
    for region in &regions {
        let count = existing
            .iter()
            .filter(|i| &i.region == region && i.state != InstanceState::Terminated)
            .count();
        let to_create = options.instances.saturating_sub(count);
        let price_per_hour = if to_create > 0 {
            provider.price_per_hour(region)?
        } else {
            None
        };
        plans.push(RegionPlan {
            region: region.clone(),
            existing: count,
            to_create,
            price_per_hour,
        });
    }
    // Instances an interrupted deploy left pending are waited for and set up as well.
    let resumed: Vec<String> = existing
        .iter()
        .filter(|i| regions.contains(&i.region) && i.state == InstanceState::Pending)
        .map(|i| i.id.clone())
        .collect();

    let total: usize = plans.iter().map(|p| p.to_create).sum();
    let mut created = Vec::new();
    let mut failures = Vec::new();
    if total == 0 {
        println!(
            "every region already has {} instance(s) of testbed {}: nothing to create",
            options.instances, settings.settings.testbed_id
        );
    } else {
        print!("{}", cost_estimate(&plans));
        let question = format!(
            "Create {total} {} instance(s) for testbed {}?",
            provider.name(),
            settings.settings.testbed_id
        );
        if !console.confirm(&question, options.yes)? {
            bail!("deploy cancelled: nothing was created");
        }
        interrupt::install();
        let ttl = options.ttl_hours.unwrap_or(settings.settings.ttl_hours);
        for plan in plans.iter().filter(|p| p.to_create > 0) {
            if interrupt::requested() {
                failures.push(format!("{}: not created (interrupted)", plan.region));
                continue;
            }
            match provider.create_instances(&plan.region, plan.to_create, ttl) {
                Ok(new) => {
                    println!(
                        "{}: created {}",
                        plan.region,
                        new.iter()
                            .map(|i| i.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    created.extend(new);
                }
                Err(error) => failures.push(format!("{}: {error:#}", plan.region)),
            }
        }
    }

    let mut wait_ids: Vec<String> = created.iter().map(|i| i.id.clone()).collect();
    wait_ids.extend(resumed);
    let ready = wait::until_running(provider, &wait_ids, &options.wait)
        .map_err(|error| with_failures(error, &failures))?;
    let setup = if options.skip_setup || ready.is_empty() {
        None
    } else {
        Some(super::setup::set_up(settings, &ready).map_err(|e| with_failures(e, &failures))?)
    };
    if !failures.is_empty() {
        bail!(
            "some instances could not be created (those created belong to the testbed; re-run \
             `testbed deploy` to complete it):\n  {}",
            failures.join("\n  ")
        );
    }
    Ok(DeployReport {
        plans,
        created,
        ready,
        setup,
    })
}

/// The regions to deploy in: all of the settings, or the one asked for if it is there.
fn target_regions(settings: &LoadedSettings, only: Option<&str>) -> Result<Vec<String>> {
    let regions = &settings.settings.regions;
    match only {
        None => Ok(regions.clone()),
        Some(region) if regions.iter().any(|r| r == region) => Ok(vec![region.to_string()]),
        Some(region) => bail!(
            "--region {region}: not in the settings' `regions` ({})",
            regions.join(", ")
        ),
    }
}

fn with_failures(error: anyhow::Error, failures: &[String]) -> anyhow::Error {
    if failures.is_empty() {
        error
    } else {
        error.context(format!(
            "besides, some instances could not be created:\n  {}",
            failures.join("\n  ")
        ))
    }
}

/// The cost estimate shown before creating: per region the instances to create, the price
/// of one per hour and their cost per hour ("unknown" where the provider gives no price), and
/// the total.
pub fn cost_estimate(plans: &[RegionPlan]) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header([
        "region",
        "in testbed",
        "to create",
        "price/h each",
        "cost/h",
    ]);
    let mut total = 0.0;
    let mut unknown = Vec::new();
    for plan in plans {
        let (price, cost) = match plan.price_per_hour {
            Some(price) => {
                let cost = price * plan.to_create as f64;
                total += cost;
                (format!("${price:.4}"), format!("${cost:.4}"))
            }
            None if plan.to_create == 0 => ("-".into(), "$0.0000".into()),
            None => {
                unknown.push(plan.region.as_str());
                ("unknown".into(), "unknown".into())
            }
        };
        table.add_row([
            plan.region.clone(),
            plan.existing.to_string(),
            plan.to_create.to_string(),
            price,
            cost,
        ]);
    }
    let summary = if unknown.is_empty() {
        format!("estimated cost of the new instances: ${total:.4} per hour")
    } else {
        format!(
            "estimated cost of the new instances: ${total:.4} per hour plus unknown in {}",
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
        let plans = [
            RegionPlan {
                region: "ewr".into(),
                existing: 1,
                to_create: 2,
                price_per_hour: Some(0.5),
            },
            RegionPlan {
                region: "ams".into(),
                existing: 0,
                to_create: 3,
                price_per_hour: None,
            },
        ];
        let text = cost_estimate(&plans);
        assert!(text.contains("$1.0000"), "{text}");
        assert!(text.contains("unknown"), "{text}");
        assert!(text.contains("per hour plus unknown in ams"), "{text}");
    }
}
