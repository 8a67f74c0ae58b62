//! `cargo xtask compare BASE HEAD`: a regression check between two result sets.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::{
    cli::CompareArgs,
    results::compare::{self, Thresholds},
    settings::LoadedSettings,
    workspace,
};

/// A path as given, or a run id under the results directory when no such path exists.
fn side(results: &Path, given: &Path) -> PathBuf {
    let run = results.join(given);
    if !given.exists() && run.is_dir() {
        run
    } else {
        given.to_path_buf()
    }
}

/// Runs `compare`: prints the table of deltas, fails when a point regressed.
pub fn run(settings: &LoadedSettings, args: CompareArgs) -> Result<()> {
    let results = workspace::results_directory(&settings.settings);
    let (base, head) = (side(&results, &args.base), side(&results, &args.head));
    let thresholds = Thresholds {
        throughput_drop: args.max_throughput_drop,
        latency_rise: args.max_latency_rise,
    };
    let comparison = compare::compare_paths(&base, &head, thresholds)?;
    println!(
        "comparing {} (base) with {} (head)",
        base.display(),
        head.display()
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
