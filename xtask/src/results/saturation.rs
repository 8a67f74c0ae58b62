//! Owns `saturation.json`, the answer of `bench --find-saturation` in its run directory: the
//! highest load that held, its interval, the runs and time it took, how the search was set
//! (objective, tolerance, resolution, repeats, budgets) and every point tried with whether it
//! held. `compare` reads two of them to compare ceilings ([`super::compare::ceiling`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::saturation::{Saturation, Search};

/// The file's name inside a run directory.
pub const SATURATION_FILE: &str = "saturation.json";

/// What `saturation.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SaturationRecord {
    pub run_id: String,
    /// Validators in the committee.
    pub committee: usize,
    /// The highest load that held in most of its runs (tx/s); `None` when none did.
    pub saturation_tps: Option<u64>,
    /// The lowest load above it that failed in most of its runs.
    pub failed_tps: Option<u64>,
    /// Where the knee lies: from the highest load at or below the answer that held in every
    /// run to the lowest load at or above the failed one that failed in every run.
    pub interval_low_tps: Option<u64>,
    pub interval_high_tps: Option<u64>,
    /// Median committed rate of the runs at the answer.
    pub committed_tps: Option<f64>,
    /// Why the search ended (`converged`, `stopped at the maximum number of runs`, ...).
    pub stop: String,
    /// Whether it converged (its interval is the search's full answer).
    pub converged: bool,
    pub runs: usize,
    pub elapsed_s: f64,
    /// The latency objective, `p99<=2000ms`; empty without one.
    pub slo: String,
    pub tolerance: f64,
    pub start_tps: u64,
    pub max_load_tps: u64,
    pub growth: f64,
    pub resolution: f64,
    pub knee_repeats: usize,
    pub max_runs: Option<usize>,
    pub max_time_s: Option<u64>,
    /// Every run, in the order tried.
    pub points: Vec<TriedPoint>,
}

/// One run of the search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TriedPoint {
    pub load: u64,
    /// Its repeat at that load (the `repeat` of its summary row).
    pub repeat: usize,
    pub committed_tps: f64,
    pub latency_p50_s: f64,
    pub latency_p99_s: f64,
    pub held: bool,
    /// Why it did not hold; empty when it held.
    pub reason: String,
}

impl SaturationRecord {
    /// The record of `found`, searched with `search` in run `run_id`, after `elapsed_s`.
    pub fn of(
        run_id: &str,
        committee: usize,
        search: &Search,
        found: &Saturation,
        elapsed_s: f64,
    ) -> Self {
        let mut seen: std::collections::BTreeMap<u64, usize> = Default::default();
        let points = found
            .points
            .iter()
            .map(|p| {
                let repeat = seen.entry(p.load).or_default();
                let point = TriedPoint {
                    load: p.load,
                    repeat: *repeat,
                    committed_tps: p.measured.committed,
                    latency_p50_s: p.measured.p50.as_secs_f64(),
                    latency_p99_s: p.measured.p99.as_secs_f64(),
                    held: p.held,
                    reason: p.reason.clone().unwrap_or_default(),
                };
                *repeat += 1;
                point
            })
            .collect();
        Self {
            run_id: run_id.to_string(),
            committee,
            saturation_tps: found.held,
            failed_tps: found.failed,
            interval_low_tps: found.interval.0,
            interval_high_tps: found.interval.1,
            committed_tps: found.committed,
            stop: found.stop.to_string(),
            converged: found.stop == crate::saturation::Stop::Converged,
            runs: found.runs(),
            elapsed_s,
            slo: search.slo.map(|s| s.to_string()).unwrap_or_default(),
            tolerance: search.tolerance,
            start_tps: search.start,
            max_load_tps: search.max_load,
            growth: search.growth,
            resolution: search.resolution,
            knee_repeats: search.repeats,
            max_runs: search.max_runs,
            max_time_s: search.max_time.map(|t| t.as_secs()),
            points,
        }
    }

    /// Writes it into the run directory `run`.
    pub fn write(&self, run: &Path) -> Result<()> {
        let path = run.join(SATURATION_FILE);
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(&path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// The record next to a result set given as a run directory or its summary file, if it
    /// has one (a saturation run).
    pub fn find(path: &Path) -> Result<Option<Self>> {
        let file = saturation_file(path);
        if !file.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let record = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a saturation record of this version: run the search again",
                file.display()
            )
        })?;
        Ok(Some(record))
    }
}

/// Where `saturation.json` is for a run directory or a file inside it.
fn saturation_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(SATURATION_FILE)
    } else {
        path.with_file_name(SATURATION_FILE)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::saturation::{Measured, Point, Stop};

    fn point(load: u64, held: bool) -> Point {
        Point {
            load,
            measured: Measured {
                committed: load as f64,
                p50: Duration::from_millis(80),
                p99: Duration::from_millis(120),
                ok: true,
            },
            held,
            reason: (!held).then(|| "committed too little".to_string()),
        }
    }

    #[test]
    fn the_record_numbers_repeats_per_load_and_reads_back() {
        let found = Saturation {
            held: Some(20_000),
            failed: Some(21_000),
            interval: (Some(20_000), Some(21_000)),
            committed: Some(20_000.0),
            points: vec![
                point(20_000, true),
                point(40_000, false),
                point(20_000, true),
                point(21_000, false),
                point(20_000, true),
            ],
            stop: Stop::Converged,
        };
        let search = Search {
            slo: Some("p99<=2s".parse().expect("slo")),
            ..Search::default()
        };
        let record = SaturationRecord::of("run", 4, &search, &found, 61.5);
        let repeats: Vec<(u64, usize)> = record.points.iter().map(|p| (p.load, p.repeat)).collect();
        assert_eq!(
            repeats,
            vec![
                (20_000, 0),
                (40_000, 0),
                (20_000, 1),
                (21_000, 0),
                (20_000, 2)
            ]
        );
        assert_eq!(record.points[1].reason, "committed too little");
        assert_eq!(
            (record.slo.as_str(), record.converged),
            ("p99<=2000ms", true)
        );
        let dir = tempfile::tempdir().expect("tmp");
        record.write(dir.path()).expect("write");
        let read = SaturationRecord::find(&dir.path().join("summary.csv")).expect("read");
        assert_eq!(read, Some(record));
        assert_eq!(
            found.summary(Duration::from_secs(372)),
            "saturation: 20k tx/s [20k, 21k] after 5 runs in 6m12s (converged)"
        );
    }
}
