//! One point of a sweep on the simulated testbed (`cloud_provider: "sim"`, `bench --testbed
//! sim`): `node sim` runs the whole committee of the built node in one process under virtual
//! time ([`args`]: the experiment mapped onto its flags, seed = the testbed's seed + the
//! repeat), then its outputs become an ordinary point ([`outputs`]): the metrics snapshots are
//! the scrapes, the commit logs go through the safety audit, and the row is put together by
//! the same code as a real point's, with the seed and what was modelled in its last columns.

pub(crate) mod args;
pub(crate) mod outputs;

use std::{fs::File, process::Command};

use anyhow::{bail, Context as _, Result};

use super::{faults, point, RunContext};
use crate::{
    experiment::Point,
    interrupt, progress,
    results::{Simulation, SummaryRow},
    settings::SimTestbed,
};

/// Where a point's simulator outputs go inside its point directory.
const OUT_DIR: &str = "sim";
/// The simulator's standard output and error, in the point's logs.
const LOG_FILE: &str = "sim.log";

/// Runs `point` on the simulator and returns its row (its time series, validator figures and
/// fault events written like a real point's).
pub(crate) fn run_point(
    context: &RunContext,
    sim: SimTestbed,
    point: &Point,
    label: &str,
) -> Result<SummaryRow> {
    let experiment = &context.experiment;
    let name = point.name(experiment);
    let point_dir = context.run_dir.join(&name);
    let logs = context.logs_dir(&name)?;
    let out = point_dir.join(OUT_DIR);
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let command = args::node_sim_args(experiment, point, sim, &out)?;
    let log_path = logs.join(LOG_FILE);
    let log =
        File::create(&log_path).with_context(|| format!("cannot create {}", log_path.display()))?;
    let spinner = progress::spinner(&format!(
        "{label}: simulating {} validators, {} s + {} s virtual, seed {}",
        experiment.committee,
        experiment.warmup_s,
        experiment.duration_s,
        args::seed(sim, point)
    ));
    let status = Command::new(&context.node.path)
        .args(&command)
        .stdout(log.try_clone()?)
        .stderr(log)
        .status()
        .with_context(|| format!("cannot run {}", context.node.path.display()));
    spinner.finish_and_clear();
    let status = status?;
    if interrupt::requested() {
        bail!("interrupted while simulating point {name}");
    }
    // A safety violation fails `node sim` after it wrote its outputs: the audit reports it.
    if !out.join(outputs::SUMMARY_FILE).is_file() {
        let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
        bail!(
            "node sim failed ({status}) at point {name}: {}",
            tail.trim_end().lines().last().unwrap_or("see its log")
        );
    }
    let summary = outputs::summary(&out)?;
    let started = experiment.started_validators();
    outputs::copy_commit_logs(&out, &started, &logs)?;
    let schedule = faults::schedule(experiment);
    let mut recording = outputs::recording(&out, &started)?;
    // The simulator applies every fault at its scheduled (virtual) time.
    recording.faults = schedule
        .iter()
        .filter(|e| e.at_s < experiment.run_seconds() as f64)
        .map(|e| (e.clone(), Some(e.at_s)))
        .collect();
    let mut row = point::row(
        context, point, &name, &schedule, &recording, &logs, &started,
    )?;
    row.simulation = Simulation {
        seed: Some(summary.seed),
        modelled: summary.modelled,
    };
    Ok(row)
}
