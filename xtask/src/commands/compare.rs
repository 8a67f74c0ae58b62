//! `cargo xtask compare BASE HEAD`: a regression check between two result sets.

use anyhow::{bail, Result};

use crate::{
    cli::CompareArgs,
    results::compare::{self, Thresholds},
};

/// Runs `compare`: prints the table of deltas, fails when a point regressed.
pub fn run(args: CompareArgs) -> Result<()> {
    let thresholds = Thresholds {
        throughput_drop: args.max_throughput_drop,
        latency_rise: args.max_latency_rise,
    };
    let comparison = compare::compare_paths(&args.base, &args.head, thresholds)?;
    println!(
        "base: {}\nhead: {}",
        args.base.display(),
        args.head.display()
    );
    println!("{}", compare::render(&comparison));
    let regressed = comparison.regressed();
    if !regressed.is_empty() {
        let points: Vec<String> = regressed.iter().map(|p| p.key.to_string()).collect();
        bail!(
            "{} point(s) regressed beyond the thresholds: {}",
            regressed.len(),
            points.join("; ")
        );
    }
    Ok(())
}
