//! Approximate on-demand prices of common instance types (`assets/aws-prices.csv`): EC2 has
//! no pricing API, so the cost estimate of a deploy uses this embedded table. Prices are
//! us-east-1's Linux on-demand figures, used for every region (others cost the same or more).

use anyhow::{Context, Result};
use serde::Deserialize;

const TABLE: &str = include_str!("../../../../assets/aws-prices.csv");

#[derive(Deserialize)]
struct Row {
    instance_type: String,
    usd_per_hour: f64,
}

/// The approximate price of `instance_type` per hour in USD; `None` for types not in the table.
pub fn hourly_usd(instance_type: &str) -> Result<Option<f64>> {
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_reader(TABLE.as_bytes());
    for row in reader.deserialize::<Row>() {
        let row =
            row.context("the embedded AWS price table (assets/aws-prices.csv) is malformed")?;
        if row.instance_type == instance_type {
            return Ok(Some(row.usd_per_hour));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_types() {
        assert_eq!(hourly_usd("m5d.8xlarge").expect("table"), Some(1.808));
        assert_eq!(hourly_usd("t3.micro").expect("table"), Some(0.0104));
        assert_eq!(hourly_usd("zz.huge").expect("table"), None);
    }

    #[test]
    fn every_row_is_a_positive_price() {
        let mut reader = csv::ReaderBuilder::new()
            .comment(Some(b'#'))
            .from_reader(TABLE.as_bytes());
        let rows: Vec<Row> = reader
            .deserialize()
            .collect::<Result<_, _>>()
            .expect("table parses");
        assert!(rows.len() > 50);
        assert!(rows
            .iter()
            .all(|r| r.usd_per_hour > 0.0 && r.usd_per_hour < 100.0));
    }
}
