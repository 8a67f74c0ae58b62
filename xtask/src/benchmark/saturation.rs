//! `cargo xtask bench --find-saturation`: the saturation search ([`crate::saturation`]) over
//! the sweep's kernel. [`run`] starts the run as the sweep does (hosts ready, node built and
//! installed, run directory started), then lets the search pick loads: each is an ordinary
//! point ([`super::point`]: fresh genesis, summary row, audits, time series) recorded as it
//! comes, with a progress line saying whether it held. At the end (converged, a budget,
//! Ctrl-C or a failure) it writes `saturation.json`, prints the sweep's report and the last
//! line `saturation: 412k tx/s [398k, 425k] after 9 runs in 6m12s (converged)`.

use std::{cell::RefCell, collections::BTreeMap, time::Instant};

use anyhow::{Context as _, Result};

use super::{point, sweep, RunContext};
use crate::{
    experiment::{Bench, Point},
    interrupt,
    results::{run_dir, saturation::SaturationRecord, SummaryRow},
    saturation::{self, Measured, Search},
    settings::LoadedSettings,
};

/// Runs the search `search` of `bench`; the summary rows of every point tried.
pub(crate) fn run(
    settings: &LoadedSettings,
    bench: &Bench,
    search: &Search,
) -> Result<Vec<SummaryRow>> {
    interrupt::install();
    let mut context = sweep::start(settings, bench)?;
    let started = Instant::now();
    let outcome = find(&context, search, &started);
    let elapsed = started.elapsed();
    let finished = context.deployment.finish(&context.run_dir);
    let (found, rows) = match outcome {
        Ok(found) => found,
        Err(e) => {
            if let Err(cleanup) = finished {
                eprintln!("warning: {cleanup:#}");
            }
            return Err(e);
        }
    };
    SaturationRecord::of(
        &context.run_id,
        context.experiment.committee,
        search,
        &found,
        elapsed.as_secs_f64(),
    )
    .write(&context.run_dir)?;
    finished?;
    let reported = sweep::report(&context, &rows);
    println!("{}", found.summary(elapsed));
    reported.map(|()| rows)
}

/// The search, each load run as a point of `context` and recorded.
fn find(
    context: &RunContext,
    search: &Search,
    started: &Instant,
) -> Result<(saturation::Saturation, Vec<SummaryRow>)> {
    let results_dir = context.settings.common.results_directory()?;
    let rows = RefCell::new(Vec::new());
    let mut repeats: BTreeMap<u64, usize> = BTreeMap::new();
    let found = saturation::search(
        search,
        &|| started.elapsed(),
        &interrupt::requested,
        |load| {
            let repeat = repeats.entry(load).or_default();
            let point = Point {
                load,
                repeat: *repeat,
            };
            *repeat += 1;
            let index = rows.borrow().len() + 1;
            let label = format!("[search {index}] load {load} tx/s");
            let row = match point::run(context, &point, &label) {
                Ok(row) => row,
                Err(e) => {
                    eprintln!("search {index}: load {load} tx/s failed: {e:#}");
                    return Err(e);
                }
            };
            run_dir::record(&context.run_dir, &results_dir, &row)?;
            let measured = measured(&row);
            let verdict = match search.failure(load, &measured) {
                None => "held".to_string(),
                Some(why) => format!("did not hold: {why}"),
            };
            eprintln!(
                "search {index}: load {load} tx/s: committed {:.0} tx/s, p50 {}, p99 {}: {verdict}",
                row.measured.throughput_tps,
                show_ms(row.measured.latency_p50_s),
                show_ms(row.measured.latency_p99_s),
            );
            rows.borrow_mut().push(row);
            Ok(measured)
        },
    )
    .context("the saturation search")?;
    Ok((found, rows.into_inner()))
}

/// What the search reads of a point's row: a run cut short or whose validators forked does
/// not hold.
fn measured(row: &SummaryRow) -> Measured {
    let seconds = |s: Option<f64>| {
        std::time::Duration::from_secs_f64(s.filter(|v| v.is_finite() && *v >= 0.0).unwrap_or(0.0))
    };
    Measured {
        committed: row.measured.throughput_tps,
        p50: seconds(row.measured.latency_p50_s),
        p99: seconds(row.measured.latency_p99_s),
        ok: !row.checks.interrupted && !row.checks.safety.is_fork(),
    }
}

fn show_ms(seconds: Option<f64>) -> String {
    seconds.map_or("-".into(), |s| format!("{:.0} ms", s * 1000.0))
}
