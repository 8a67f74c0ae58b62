//! `cargo xtask compare`: a regression check between two result sets (`BASE HEAD`, which reads
//! only the results directory of the settings), or between two revisions benchmarked first
//! (`--base REV`, on the settings' testbed). Two saturation runs (`bench --find-saturation`)
//! compare their ceilings instead ([`ceiling`]).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};

use super::ExitStatus;
use crate::{
    benchmark::ab,
    cli::CompareArgs,
    results::{
        compare::{self, ceiling, Bootstrap, Comparison, Options, Thresholds, Verdict},
        saturation::SaturationRecord,
    },
    settings::{Common, LoadedSettings},
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
        accept_disturbed: args.accept_disturbed,
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

/// Runs `compare`: on two result sets, or first the A/B benchmark of two revisions.
pub fn run(settings: &LoadedSettings, args: CompareArgs) -> Result<()> {
    if compares_results(&args) {
        run_results(&settings.common, args)
    } else {
        run_revisions(settings, &args)
    }
}

/// Whether `compare` is given two result sets (BASE HEAD): then it reads only the common
/// block of the settings (the results directory).
pub fn compares_results(args: &CompareArgs) -> bool {
    args.base.is_some() && args.head.is_some()
}

/// `compare BASE HEAD`: two result sets, as paths or run ids under the results directory.
pub fn run_results(settings: &Common, args: CompareArgs) -> Result<()> {
    let (Some(base), Some(head)) = (&args.base, &args.head) else {
        return nothing_to_compare();
    };
    let results = settings.results_directory()?;
    let (base, head) = (side(&results, base), side(&results, head));
    if let Some(ceilings) = ceilings(&base, &head)? {
        return conclude_ceilings(&ceilings, &args);
    }
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

/// The ceilings of two saturation runs (`saturation.json` on both sides) compared; `None`
/// unless both sides are saturation runs.
fn ceilings(base: &Path, head: &Path) -> Result<Option<ceiling::CeilingComparison>> {
    let read = |path: &Path, side: &str| {
        SaturationRecord::find(path)
            .with_context(|| format!("{side} {}", path.display()))
            .map_err(|error| ExitStatus { code: 2, error })
    };
    match (read(base, "base")?, read(head, "head")?) {
        (Some(b), Some(h)) => Ok(Some(ceiling::compare(&b, &h))),
        _ => Ok(None),
    }
}

/// Prints the comparison of two ceilings and turns its verdict into the exit status.
fn conclude_ceilings(c: &ceiling::CeilingComparison, args: &CompareArgs) -> Result<()> {
    match args.format {
        compare::Format::Json => {
            let mut value = serde_json::to_value(c)?;
            value["exit_code"] = c.exit_code().into();
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        compare::Format::Markdown => println!("**saturation: {}**: {}", c.verdict, c.sentence),
        compare::Format::Text => println!("saturation: {}: {}", c.verdict, c.sentence),
    }
    match c.exit_code() {
        0 => Ok(()),
        code => Err(ExitStatus {
            code,
            error: anyhow!("saturation {}: {}", c.verdict, c.sentence),
        }
        .into()),
    }
}

/// The error of a `compare` given neither two result sets nor a revision.
fn nothing_to_compare() -> Result<()> {
    Err(ExitStatus {
        code: 2,
        error: anyhow!(
            "give two result sets (BASE HEAD) or a revision to compare with (--base REV)"
        ),
    }
    .into())
}

/// `compare --base REV [--head REV]`: benchmarks both, interleaved, then compares.
fn run_revisions(settings: &LoadedSettings, args: &CompareArgs) -> Result<()> {
    let undecided = |error: anyhow::Error| ExitStatus { code: 2, error };
    let Some(base) = args.base_rev.clone() else {
        return nothing_to_compare();
    };
    if args.sweep.saturation.find_saturation {
        return Err(undecided(anyhow!(
            "--find-saturation is a flag of `bench`, not of `compare --base`: search each \
             revision with `cargo xtask bench --find-saturation`, then compare the two run \
             directories with `cargo xtask compare BASE HEAD`"
        ))
        .into());
    }
    let revisions = ab::Revisions {
        base,
        head: args.head_rev.clone(),
    };
    if args.sweep.preset.is_some() {
        return Err(undecided(anyhow!(
            "--preset is for `bench`: give `compare --base` the sweep's flags instead"
        ))
        .into());
    }
    // `--testbed sim` compares two builds on the simulator (same seeds on both sides).
    let settings = &super::bench::on_testbed(settings, &args.sweep).map_err(undecided)?;
    let bench = super::bench::bench(&args.sweep).map_err(undecided)?;
    let outcome = ab::run(settings, &bench, &revisions).map_err(undecided)?;
    let mut comparison = match (outcome.rows.0.is_empty(), outcome.rows.1.is_empty()) {
        (false, false) => {
            compare::compare_paths(&outcome.base_dir, &outcome.head_dir, &options(args))
                .map_err(undecided)?
        }
        _ => {
            let mut why = outcome.problems.clone();
            why.push("a side has no measured run".into());
            return Err(undecided(anyhow!(
                "nothing to compare in {}: {}",
                outcome.run_dir.display(),
                why.join("; ")
            ))
            .into());
        }
    };
    for problem in &outcome.problems {
        comparison.add_problem(problem.clone());
    }
    for (side, rows) in [("base", &outcome.rows.0), ("head", &outcome.rows.1)] {
        for row in rows.iter().filter(|r| r.checks.interrupted) {
            comparison.add_problem(format!(
                "the {side} run at load {} tx/s, repeat {} was cut short",
                row.point.load, row.point.repeat
            ));
        }
    }
    for (file, format) in [
        ("comparison.md", compare::Format::Markdown),
        ("comparison.json", compare::Format::Json),
    ] {
        let path = outcome.run_dir.join(file);
        std::fs::write(&path, compare::render(&comparison, format) + "\n")
            .with_context(|| format!("cannot write {}", path.display()))
            .map_err(undecided)?;
    }
    if args.format == compare::Format::Text {
        println!(
            "results: {} (base/ and head/ inside; compare them again with `cargo xtask compare \
             {0}/base {0}/head`)",
            outcome.run_dir.display()
        );
    }
    conclude(&comparison, args)
}
