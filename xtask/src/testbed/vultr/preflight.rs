//! Checks made before anything is created: the key file, the API key, the regions, the plan
//! and its availability in each region. They only read.

use anyhow::{bail, Context, Result};

use super::{
    client::Client,
    types::{Availability, Plan, Region, SshKey},
};

/// Proves the API key works (an authenticated listing).
pub fn check_api_key(client: &Client) -> Result<()> {
    client
        .list::<SshKey>("/ssh-keys", &[], "ssh_keys")
        .map(drop)
        .context("the Vultr API key does not work")
}

/// Every name of `regions` is a Vultr region.
pub fn check_regions(client: &Client, regions: &[String]) -> Result<()> {
    let known: Vec<Region> = client
        .list("/regions", &[], "regions")
        .context("cannot list Vultr regions")?;
    let unknown: Vec<&str> = regions
        .iter()
        .filter(|r| !known.iter().any(|k| &k.id == *r))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        let mut ids: Vec<String> = known
            .iter()
            .map(|r| match (r.city.is_empty(), r.country.is_empty()) {
                (false, false) => format!("{} ({}, {})", r.id, r.city, r.country),
                _ => r.id.clone(),
            })
            .collect();
        ids.sort();
        bail!(
            "settings `regions`: unknown Vultr region(s) {}; Vultr has: {}",
            quoted(&unknown),
            ids.join(", ")
        );
    }
    Ok(())
}

/// The plan `plan` exists, is sold in every region and has capacity there now. Returns it.
pub fn check_plan(client: &Client, plans: &[Plan], plan: &str, regions: &[String]) -> Result<Plan> {
    let Some(found) = plans.iter().find(|p| p.id == plan) else {
        let mut similar: Vec<&str> = plans
            .iter()
            .map(|p| p.id.as_str())
            .filter(|id| id.split('-').next() == plan.split('-').next())
            .collect();
        similar.sort_unstable();
        similar.truncate(20);
        bail!(
            "settings `specs`: Vultr has no plan \"{plan}\"{}",
            if similar.is_empty() {
                String::new()
            } else {
                format!("; plans of that family: {}", similar.join(", "))
            }
        );
    };
    let not_sold: Vec<&str> = regions
        .iter()
        .filter(|r| !found.locations.is_empty() && !found.locations.contains(r))
        .map(String::as_str)
        .collect();
    if !not_sold.is_empty() {
        bail!(
            "settings `specs`: plan \"{plan}\" is not sold in region(s) {}; it is sold in: {}",
            quoted(&not_sold),
            found.locations.join(", ")
        );
    }
    let mut full = Vec::new();
    for region in regions {
        let availability: Availability = client
            .get(&format!("/regions/{region}/availability"), &[])
            .with_context(|| format!("cannot read the plans available in {region}"))?;
        if !availability.available_plans.iter().any(|p| p == plan) {
            full.push(region.as_str());
        }
    }
    if !full.is_empty() {
        bail!(
            "plan \"{plan}\" has no capacity right now in region(s) {} (Vultr's availability \
             list): try another plan or region",
            quoted(&full)
        );
    }
    Ok(found.clone())
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}
