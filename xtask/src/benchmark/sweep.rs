//! `cargo xtask bench`: the sweep. [`run`] goes in three steps: `start` (the kernel's new run,
//! the hosts made ready, the node built and installed, the run directory started), `sweep`
//! (one point after another, each row recorded as it comes: see [`super::point`]) and
//! `report` (table, warnings, safety verdict); the deployment is finished whatever happens.

use anyhow::{bail, Context as _, Result};

use super::{
    kernel::{deployment, prepare_build, prepare_context, start_run_dir, timestamp, NewRun},
    RunContext,
};
use crate::{
    experiment::Bench,
    interrupt,
    results::{self, published::Published, run_dir, SummaryRow},
    settings::LoadedSettings,
    state_lock::{TestbedLock, Waiting},
    workspace,
};

/// Runs `cargo xtask bench`: every point of the sweep, writing results as it goes.
pub(crate) fn run(settings: &LoadedSettings, bench: &Bench) -> Result<Vec<SummaryRow>> {
    if let Some(search) = &bench.saturation {
        return super::saturation::run(settings, bench, search);
    }
    run_all(settings, std::slice::from_ref(bench), None)
}

/// Runs several benches (a preset's committee sizes) one after the other into one run
/// directory, with the published points to draw beside them.
pub(crate) fn run_all(
    settings: &LoadedSettings,
    benches: &[Bench],
    published: Option<&Published>,
) -> Result<Vec<SummaryRow>> {
    interrupt::install();
    if settings.testbed.sim().is_some() {
        for bench in benches {
            super::sim::args::check(&bench.experiment)?;
        }
    }
    // The largest committee sizes the deployment (its ports).
    let largest = benches
        .iter()
        .max_by_key(|b| b.experiment.committee)
        .context("no experiment to run")?;
    let mut context = start(settings, largest)?;
    if let Some(published) = published {
        results::published::write(&context.run_dir, published)?;
    }
    let mut rows = Vec::new();
    let mut failure = None;
    for bench in benches {
        context.experiment = bench.experiment.clone();
        let (measured, failed) = sweep(&context)?;
        rows.extend(measured);
        if failed.is_some() || interrupt::requested() {
            failure = failed;
            break;
        }
    }
    let finished = context.deployment.finish(&context.run_dir);
    if let Some(e) = failure {
        if let Err(cleanup) = finished {
            eprintln!("warning: {cleanup:#}");
        }
        return Err(e);
    }
    finished?;
    report(&context, &rows)?;
    Ok(rows)
}

/// Everything before the first point: the experiment, the hosts made ready, the node built and
/// installed there, and the run directory started.
pub(super) fn start(settings: &LoadedSettings, bench: &Bench) -> Result<RunContext> {
    let root = workspace::root()?;
    eprintln!("workspace: {}", root.display());
    // The set-up and update change the hosts: one command at a time per testbed.
    let _lock = if settings.testbed.on_this_machine() {
        None
    } else {
        Some(TestbedLock::acquire(
            &settings.common.testbed_id,
            "bench (set-up and update)",
            Waiting::from_no_wait(bench.hosts.no_wait),
        )?)
    };
    let NewRun {
        experiment,
        provider,
        instances,
        run_id,
        run_dir,
        ..
    } = NewRun::of(settings, bench, timestamp)?;
    let mut deployment = deployment(
        settings,
        &instances,
        bench.hosts,
        &run_id,
        &settings.common.ports,
        experiment.committee,
    )?;
    let build = match prepare_build(settings, &root, deployment.as_mut()) {
        Ok(build) => build,
        Err(e) => {
            deployment.finish(&run_dir).ok();
            return Err(e);
        }
    };
    start_run_dir(&run_dir, settings, &experiment)?;
    prepare_context(
        settings, experiment, provider, instances, deployment, &build, run_id, run_dir,
    )
}

/// Measures the points in order, recording each row as it comes; stops at the first point
/// that fails (its error returned beside the rows measured) or when the user interrupts.
fn sweep(context: &RunContext) -> Result<(Vec<SummaryRow>, Option<anyhow::Error>)> {
    let results_dir = context.settings.common.results_directory()?;
    let points = context.experiment.points();
    let mut rows = Vec::new();
    for (index, point) in points.iter().enumerate() {
        if interrupt::requested() {
            break;
        }
        let label = format!(
            "[{}/{}] {} validators, load {} tx/s",
            index + 1,
            points.len(),
            context.experiment.committee,
            point.load
        );
        match super::measure(context, point, &label) {
            Ok(row) => {
                run_dir::record(&context.run_dir, &results_dir, &row)?;
                rows.push(row);
            }
            Err(e) => return Ok((rows, Some(e))),
        }
    }
    Ok((rows, None))
}

/// Prints the summary table, the warnings and where the results are; fails when the validators
/// forked or the user interrupted.
pub(super) fn report(context: &RunContext, rows: &[SummaryRow]) -> Result<()> {
    println!("{}", results::table::render(rows));
    warn_disturbed(rows, &context.settings);
    println!("results: {}", context.run_dir.display());
    let forks: Vec<String> = rows
        .iter()
        .filter(|r| r.checks.safety.is_fork())
        .map(|r| {
            format!(
                "\n  load {} repeat {}: {}",
                r.point.load, r.point.repeat, r.checks.safety
            )
        })
        .collect();
    if !forks.is_empty() {
        bail!(
            "safety broken: the validators' committed sequences differ (the `safety` column of \
             {} says where; the commit logs are with each point's logs):{}",
            context.run_dir.join(results::SUMMARY_FILE).display(),
            forks.concat()
        );
    }
    if interrupt::requested() {
        bail!("interrupted: the results above cover what was measured");
    }
    Ok(())
}

/// Warns about points whose window looked disturbed, and says when host load was not recorded.
fn warn_disturbed(rows: &[SummaryRow], settings: &LoadedSettings) {
    for row in rows.iter().filter(|r| !r.checks.disturbed.is_empty()) {
        eprintln!(
            "warning: load {} tx/s, repeat {} was disturbed ({}): its figures may describe the \
             machine rather than the code; run it again on a quieter machine",
            row.point.load, row.point.repeat, row.checks.disturbed
        );
    }
    if !settings.testbed.on_this_machine() {
        eprintln!(
            "note: host load (CPU busy, iowait, steal, pressure) is recorded on the local \
             testbed only; on remote hosts those time-series columns stay empty"
        );
    }
}
