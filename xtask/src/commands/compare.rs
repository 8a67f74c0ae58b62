//! `cargo xtask compare BASE HEAD`: a regression check between two result sets.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

use super::ExitStatus;
use crate::{
    cli::CompareArgs,
    results::compare::{self, Bootstrap, Comparison, Options, Thresholds, Verdict},
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

/// The comparison options the command line asks for.
pub fn options(args: &CompareArgs) -> Options {
    Options {
        thresholds: Thresholds {
            throughput_drop: args.max_throughput_drop,
            latency_rise: args.max_latency_rise,
        },
        bootstrap: Bootstrap {
            seed: args.seed,
            ..Bootstrap::default()
        },
    }
}

/// Prints `comparison` and turns its verdict into the exit status: 0 no regression, 1 a
/// regression, 2 could not decide.
pub fn conclude(comparison: &Comparison, args: &CompareArgs) -> Result<()> {
    println!("{}", compare::render(comparison, args.format));
    let error = match comparison.verdict {
        Verdict::Unchanged | Verdict::Improved => return Ok(()),
        Verdict::Regressed => {
            let points: Vec<String> = comparison
                .regressed()
                .iter()
                .map(|p| p.key.to_string())
                .collect();
            anyhow!(
                "{} point(s) regressed beyond the thresholds: {}",
                points.len(),
                points.join("; ")
            )
        }
        Verdict::Inconclusive => anyhow!(
            "the comparison could not decide{}: see the verdicts above (more --repeat, a \
             quieter machine, or wider thresholds)",
            if comparison.problems.is_empty() {
                String::new()
            } else {
                format!(" ({})", comparison.problems.join("; "))
            }
        ),
    };
    Err(ExitStatus {
        code: comparison.exit_code(),
        error,
    }
    .into())
}

/// Runs `compare` on two result sets.
pub fn run(settings: &LoadedSettings, args: CompareArgs) -> Result<()> {
    let results = workspace::results_directory(&settings.settings);
    let (base, head) = (side(&results, &args.base), side(&results, &args.head));
    let comparison = compare::compare_paths(&base, &head, &options(&args))
        .map_err(|error| ExitStatus { code: 2, error })?;
    if args.format == compare::Format::Text {
        println!(
            "comparing {} (base) with {} (head)",
            base.display(),
            head.display()
        );
    }
    conclude(&comparison, &args)
}
