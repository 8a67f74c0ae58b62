//! The AWS price table (`assets/aws-prices.csv`, embedded): EC2 has no pricing API, so cost
//! estimates read on-demand instance prices and EBS gp3 storage prices per region from this
//! one table, dated by its `# date:` line. A region or type missing from it has no price
//! (`None`): it is said so, never guessed from another region.

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// Path of the table in the workspace, as messages name it.
pub const TABLE_PATH: &str = "assets/aws-prices.csv";

const TABLE: &str = include_str!("../../../../assets/aws-prices.csv");

/// The item of EBS gp3 storage rows.
const EBS_GP3: &str = "ebs-gp3";

/// Hours AWS counts in a month when it prorates storage billed per GB-month.
const HOURS_PER_MONTH: f64 = 730.0;

#[derive(Deserialize)]
struct Row {
    region: String,
    item: String,
    usd: f64,
    per: String,
}

fn rows() -> Result<Vec<Row>> {
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_reader(TABLE.as_bytes());
    reader
        .deserialize::<Row>()
        .collect::<Result<_, _>>()
        .with_context(|| format!("the embedded AWS price table ({TABLE_PATH}) is malformed"))
}

/// The `usd` of `item` in `region` billed `per`, if the table has it.
fn lookup(region: &str, item: &str, per: &str) -> Result<Option<f64>> {
    match rows()?
        .into_iter()
        .find(|r| r.region == region && r.item == item)
    {
        None => Ok(None),
        Some(row) if row.per == per => Ok(Some(row.usd)),
        Some(row) => bail!(
            "{TABLE_PATH}: {item} in {region} is priced per {}, not per {per}: fix its row",
            row.per
        ),
    }
}

/// The date of the prices (the `# date:` line).
pub fn date() -> &'static str {
    TABLE
        .lines()
        .find_map(|l| l.strip_prefix("# date:"))
        .map_or("undated", str::trim)
}

/// The on-demand price of `instance_type` in `region`, in USD per hour; `None` when the
/// table has no such row.
pub fn instance_hourly_usd(region: &str, instance_type: &str) -> Result<Option<f64>> {
    lookup(region, instance_type, "hour")
}

/// What `gb` GB of EBS gp3 storage cost in `region` per hour (the GB-month price over 730
/// hours); `None` when the table has no gp3 price for the region.
pub fn storage_hourly_usd(region: &str, gb: u32) -> Result<Option<f64>> {
    Ok(lookup(region, EBS_GP3, "gb-month")?.map(|month| month * f64::from(gb) / HOURS_PER_MONTH))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prices are per region: a type priced in one region is not priced in another where the
    /// table has no row for it.
    #[test]
    fn prices_are_per_region_and_missing_ones_are_none() {
        assert_eq!(
            instance_hourly_usd("us-east-1", "m5d.8xlarge").expect("table"),
            Some(1.808)
        );
        assert_eq!(
            instance_hourly_usd("eu-central-1", "m5.large").expect("table"),
            Some(0.115)
        );
        assert_eq!(
            instance_hourly_usd("us-east-1", "zz.huge").expect("table"),
            None
        );
        assert_eq!(
            instance_hourly_usd("af-south-1", "m5.large").expect("table"),
            None,
            "a region missing from the table is not priced like us-east-1"
        );
        let storage = storage_hourly_usd("us-east-1", 50)
            .expect("table")
            .expect("gp3 priced");
        assert!((storage - 0.08 * 50.0 / 730.0).abs() < 1e-12, "{storage}");
        assert_eq!(storage_hourly_usd("af-south-1", 50).expect("table"), None);
        assert_eq!(date(), "2024-06-01");
    }

    #[test]
    fn every_row_is_a_positive_price_with_a_known_unit() {
        let rows = rows().expect("table parses");
        assert!(rows.len() > 50);
        assert!(rows.iter().all(|r| r.usd > 0.0 && r.usd < 100.0));
        assert!(rows.iter().all(|r| (r.per == "hour") != (r.item == EBS_GP3)
            && ["hour", "gb-month"].contains(&r.per.as_str())));
        let mut keys: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.region.as_str(), r.item.as_str()))
            .collect();
        let all = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), all, "a region and item listed twice");
    }
}
