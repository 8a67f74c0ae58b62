//! `cargo xtask plot`: figures for papers and pull requests, as SVG and PNG.
//!
//! - `latency-throughput`: the L-graph, latency against committed throughput, one line per
//!   committee size and fault setting (p50, with a band up to p99), medians of repeats, and
//!   the published points of a preset's run (`published.json`), labelled as published;
//! - `throughput-load`: committed throughput against offered load;
//! - `timeseries-<point>`: each point over time, throughput per validator and latency, with the
//!   warm-up shaded and fault events marked.

mod canvas;
mod curves;
mod legend;
mod series;
mod timeline;

use std::path::{Path, PathBuf};

use crate::progress;
use anyhow::{Context, Result};

use super::{
    csv_file,
    published::{self, PublishedPoint},
    run_dir, FaultRow, SummaryRow, TimeseriesRow, FAULTS_FILE, TIMESERIES_FILE,
};
pub use series::{curves, point_series, Curve, CurvePoint, PointSeries};

/// Size of the summary figures, pixels.
const SIZE: (u32, u32) = (1100, 700);
/// Size of a time series figure, pixels.
const TIMELINE_SIZE: (u32, u32) = (1100, 800);

/// One run's files, read back.
struct Run {
    id: String,
    summary: Vec<SummaryRow>,
    timeseries: Vec<TimeseriesRow>,
    faults: Vec<FaultRow>,
    /// Published points to draw beside the run's (a preset's).
    published: Vec<PublishedPoint>,
}

impl Run {
    fn read(dir: &Path) -> Result<Self> {
        let summary = run_dir::summary_rows(dir)?;
        let optional = |name: &str| dir.join(name).is_file().then(|| dir.join(name));
        let timeseries = match optional(TIMESERIES_FILE) {
            Some(path) => csv_file::read_rows(&path)?,
            None => Vec::new(),
        };
        let faults = match optional(FAULTS_FILE) {
            Some(path) => csv_file::read_rows(&path)?,
            None => Vec::new(),
        };
        let id = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| summary[0].provenance.run_id.clone());
        let published = published::read(dir)?.map_or_else(Vec::new, |p| p.points);
        Ok(Self {
            id,
            summary,
            timeseries,
            faults,
            published,
        })
    }
}

/// Draws the figures of `runs` (run directories) into `output`; returns the files written.
pub fn plot(runs: &[PathBuf], output: &Path) -> Result<Vec<PathBuf>> {
    let runs: Vec<Run> = runs
        .iter()
        .map(|dir| Run::read(dir).with_context(|| format!("run {}", dir.display())))
        .collect::<Result<_>>()?;
    std::fs::create_dir_all(output)
        .with_context(|| format!("cannot create {}", output.display()))?;
    let rows: Vec<SummaryRow> = runs.iter().flat_map(|r| r.summary.clone()).collect();
    let lines = curves(&rows);
    let mut published: Vec<PublishedPoint> = Vec::new();
    for point in runs.iter().flat_map(|r| &r.published) {
        if !published.contains(point) {
            published.push(point.clone());
        }
    }
    let timelines: Vec<(&Run, Vec<PointSeries>)> = runs
        .iter()
        .map(|run| (run, point_series(&run.timeseries, &run.faults)))
        .collect();
    let figures = 2 + timelines.iter().map(|(_, s)| s.len()).sum::<usize>();
    let progress = progress::bar(
        figures as u64,
        "drawing [{bar:30}] {pos}/{len} figures: {msg}",
    );
    let name = match runs.as_slice() {
        [one] => format!("run {}", one.id),
        many => format!("{} runs", many.len()),
    };
    progress.set_message("latency-throughput");
    let mut written = canvas::write(
        &curves::LatencyThroughput {
            curves: &lines,
            published: &published,
            title: format!("Latency vs committed throughput ({name})"),
        },
        output,
        "latency-throughput",
        SIZE,
    )?;
    progress.inc(1);
    progress.set_message("throughput-load");
    written.extend(canvas::write(
        &curves::ThroughputLoad {
            curves: &lines,
            title: format!("Committed throughput vs offered load ({name})"),
        },
        output,
        "throughput-load",
        SIZE,
    )?);
    progress.inc(1);
    for (run, all) in &timelines {
        for series in all {
            progress.set_message(series.point.clone());
            let stem = match runs.len() {
                1 => format!("timeseries-{}", series.point),
                _ => format!("timeseries-{}-{}", run.id, series.point),
            };
            written.extend(canvas::write(
                &timeline::Timeline {
                    series,
                    title: format!(
                        "{} / {}: committed throughput and latency",
                        run.id, series.point
                    ),
                },
                output,
                &stem,
                TIMELINE_SIZE,
            )?);
            progress.inc(1);
        }
    }
    progress.finish_and_clear();
    Ok(written)
}

#[cfg(test)]
mod tests;
