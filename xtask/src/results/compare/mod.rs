//! `cargo xtask compare`: two result sets point by point, with a statistical verdict.
//!
//! Points match on committee, faults (count and mode), Byzantine validators (count and
//! behaviour), offered load, transaction size and protocol parameters (wave length, leaders,
//! leader wait and timeout, latency matrix) and network (profile, network faults): [`PointKey`].
//! For each
//! point and figure (committed throughput, p50, p99) the change is the relative change of the
//! medians of the repeats (interrupted rows left out; rows whose safety audit found a fork too,
//! and they leave the comparison undecided), with a bootstrap confidence interval
//! over the repeats and the per-second samples of each run ([`bootstrap`]). The interval, set
//! against the threshold, gives the verdict ([`verdict`]).

pub mod bootstrap;
pub mod ceiling;
mod render;
mod stats;
#[cfg(test)]
mod tests;
mod threshold;
pub mod verdict;

use std::{collections::BTreeMap, path::Path};

use anyhow::{bail, Context, Result};
use serde::Serialize;

pub use bootstrap::{Bootstrap, Interval, RunSamples};
pub use render::{render, Format};
pub use stats::Spread;
pub use threshold::{parse_fraction, Thresholds};
pub use verdict::Verdict;

pub use super::point_key::PointKey;
use super::{
    csv_file, run_dir,
    seconds::{self, RunKey, Second},
    SummaryRow, TimeseriesRow, TIMESERIES_FILE,
};

/// A figure compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Committed transactions per second.
    Throughput,
    /// Median submit-to-commit latency.
    P50,
    /// 99th percentile latency.
    P99,
}

impl Metric {
    pub const ALL: [Metric; 3] = [Metric::Throughput, Metric::P50, Metric::P99];

    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Throughput => "tx/s",
            Self::P50 => "p50",
            Self::P99 => "p99",
        }
    }

    /// Whether a rise is a regression (latency) rather than a drop (throughput).
    pub fn higher_is_worse(self) -> bool {
        self != Self::Throughput
    }

    /// The threshold that applies to it.
    pub fn threshold(self, thresholds: &Thresholds) -> f64 {
        match self {
            Self::Throughput => thresholds.throughput_drop,
            _ => thresholds.latency_rise,
        }
    }

    /// Its value in a summary row.
    pub fn of(self, row: &SummaryRow) -> Option<f64> {
        match self {
            Self::Throughput => Some(row.measured.throughput_tps),
            Self::P50 => row.measured.latency_p50_s,
            Self::P99 => row.measured.latency_p99_s,
        }
        .filter(|v| v.is_finite())
    }

    /// Its value over one second.
    fn of_second(self, second: &Second) -> Option<f64> {
        match self {
            Self::Throughput => Some(second.throughput_tps),
            Self::P50 => second.latency_p50_s,
            Self::P99 => second.latency_p99_s,
        }
    }

    /// A value in its unit: tx/s, or milliseconds for latencies.
    pub fn show(self, value: f64) -> String {
        match self {
            Self::Throughput => format!("{value:.0}"),
            _ => format!("{:.0} ms", value * 1000.0),
        }
    }
}

/// One figure of a point on both sides.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricComparison {
    pub metric: Metric,
    /// Median and range of the repeats on each side.
    pub base: Option<Spread>,
    pub head: Option<Spread>,
    /// `head / base − 1` of the medians, with its confidence interval.
    pub change: Option<Interval>,
    pub verdict: Verdict,
    /// For an inconclusive interval: repeats per side that would likely decide it.
    pub repeats_needed: Option<usize>,
    /// Why it is inconclusive when the interval alone does not say.
    pub note: Option<String>,
}

impl MetricComparison {
    fn of(metric: Metric, base: &[RunSamples], head: &[RunSamples], options: &Options) -> Self {
        let spread =
            |runs: &[RunSamples]| Spread::of(&runs.iter().map(|r| r.figure).collect::<Vec<_>>());
        let change = options.bootstrap.relative_change(base, head);
        let threshold = metric.threshold(&options.thresholds);
        let (verdict, repeats_needed, note) = match change {
            Some(change) => {
                let worse = if metric.higher_is_worse() {
                    change
                } else {
                    change.negated()
                };
                let verdict = verdict::classify(&worse, threshold);
                let needed = (verdict == Verdict::Inconclusive)
                    .then(|| verdict::repeats_needed(&worse, threshold, base.len().min(head.len())))
                    .flatten();
                (verdict, needed, None)
            }
            None => (
                Verdict::Inconclusive,
                None,
                Some("no figure to compare on one side (or a base of 0)".to_string()),
            ),
        };
        Self {
            metric,
            base: spread(base),
            head: spread(head),
            change,
            verdict,
            repeats_needed,
            note,
        }
    }
}

/// A point present in both result sets.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PointComparison {
    pub key: PointKey,
    /// Repeats used (not interrupted) on each side.
    pub base_repeats: usize,
    pub head_repeats: usize,
    pub metrics: Vec<MetricComparison>,
    /// Runs whose window was disturbed, as `side repeat N: reason`.
    pub disturbed: Vec<String>,
    /// The worst verdict of its figures (`inconclusive` when a run was disturbed, unless
    /// disturbed runs are accepted).
    pub verdict: Verdict,
}

impl PointComparison {
    /// The figures that regressed.
    pub fn regressions(&self) -> Vec<Metric> {
        self.metrics
            .iter()
            .filter(|m| m.verdict == Verdict::Regressed)
            .map(|m| m.metric)
            .collect()
    }

    /// The comparison of one figure.
    pub fn metric(&self, metric: Metric) -> Option<&MetricComparison> {
        self.metrics.iter().find(|m| m.metric == metric)
    }
}

/// How to compare.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Options {
    pub thresholds: Thresholds,
    pub bootstrap: Bootstrap,
    /// Judge points with disturbed runs like the others instead of calling them inconclusive.
    pub accept_disturbed: bool,
}

/// The outcome of comparing two result sets.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    pub thresholds: Thresholds,
    /// Confidence level of the intervals.
    pub confidence: f64,
    /// Seed of the bootstrap.
    pub seed: u64,
    /// Points in both sets, in key order.
    pub points: Vec<PointComparison>,
    /// Points only the base measured.
    pub only_in_base: Vec<PointKey>,
    /// Points only the head measured.
    pub only_in_head: Vec<PointKey>,
    /// Interrupted rows left out (base, head).
    pub interrupted: (usize, usize),
    /// Where each side comes from (base, head).
    pub origins: (Origin, Origin),
    /// Whether per-second samples entered the intervals (each side).
    pub per_second: (bool, bool),
    /// Reasons the comparison as a whole cannot decide (a failed run, a safety problem).
    pub problems: Vec<String>,
    /// The worst verdict of the points (`inconclusive` with a problem).
    pub verdict: Verdict,
}

impl Comparison {
    /// The points that regressed.
    pub fn regressed(&self) -> Vec<&PointComparison> {
        self.points
            .iter()
            .filter(|p| p.verdict == Verdict::Regressed)
            .collect()
    }

    /// Records a reason the comparison cannot decide.
    pub fn add_problem(&mut self, problem: String) {
        self.problems.push(problem);
        self.verdict = self.overall();
    }

    fn overall(&self) -> Verdict {
        let worst = self
            .points
            .iter()
            .map(|p| p.verdict)
            .max()
            .unwrap_or(Verdict::Inconclusive);
        if self.problems.is_empty() {
            worst
        } else {
            Verdict::Inconclusive
        }
    }

    /// The exit status of `cargo xtask compare`: 0 no regression, 1 a regression, 2 could not
    /// decide (a problem, or a figure too noisy to call).
    pub fn exit_code(&self) -> i32 {
        match self.verdict {
            Verdict::Unchanged | Verdict::Improved => 0,
            Verdict::Regressed => 1,
            Verdict::Inconclusive => 2,
        }
    }
}

/// A result set: summary rows and, when a run directory has them, the per-second samples.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResultSet {
    pub rows: Vec<SummaryRow>,
    pub seconds: BTreeMap<RunKey, Vec<Second>>,
}

impl ResultSet {
    /// Rows alone (each run counts with its figure only).
    pub fn of_rows(rows: Vec<SummaryRow>) -> Self {
        Self {
            rows,
            seconds: BTreeMap::new(),
        }
    }

    /// The run directory or summary CSV at `path`, with `timeseries.csv` when it sits next to
    /// the summary file.
    pub fn load(path: &Path) -> Result<Self> {
        let rows = run_dir::summary_rows(path)?;
        let file = run_dir::summary_file(path)?;
        let timeseries = file.with_file_name(TIMESERIES_FILE);
        let seconds = if timeseries.is_file() {
            let series: Vec<TimeseriesRow> = csv_file::read_rows(&timeseries)?;
            seconds::seconds(&series)
        } else {
            BTreeMap::new()
        };
        Ok(Self { rows, seconds })
    }

    /// The samples of `metric` of each of `rows`.
    fn runs(&self, rows: &[&SummaryRow], metric: Metric) -> Vec<RunSamples> {
        rows.iter()
            .filter_map(|row| {
                let figure = metric.of(row)?;
                let key = (
                    row.provenance.run_id.clone(),
                    row.point.load,
                    row.point.repeat,
                );
                let seconds = self
                    .seconds
                    .get(&key)
                    .map(|s| s.iter().filter_map(|s| metric.of_second(s)).collect())
                    .unwrap_or_default();
                Some(RunSamples { figure, seconds })
            })
            .collect()
    }
}

/// Where a result set comes from: its runs, code and testbed, each listed once.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Origin {
    pub runs: Vec<String>,
    /// Short commits, `-dirty` when the tree had changes.
    pub commits: Vec<String>,
    /// `provider/instance type`.
    pub testbeds: Vec<String>,
}

impl Origin {
    fn of(rows: &[SummaryRow]) -> Self {
        let mut origin = Self::default();
        let add = |list: &mut Vec<String>, value: String| {
            if !list.contains(&value) {
                list.push(value);
            }
        };
        for row in rows {
            add(&mut origin.runs, row.provenance.run_id.clone());
            let short: String = row.provenance.git_commit.chars().take(10).collect();
            let dirty = if row.provenance.git_dirty {
                "-dirty"
            } else {
                ""
            };
            add(&mut origin.commits, format!("{short}{dirty}"));
            add(
                &mut origin.testbeds,
                format!(
                    "{}/{}",
                    row.provenance.provider, row.provenance.instance_type
                ),
            );
        }
        origin
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "run {}; commit {}; testbed {}",
            self.runs.join(", "),
            self.commits.join(", "),
            self.testbeds.join(", ")
        )
    }
}

/// Rows grouped by point, interrupted rows and rows whose safety audit found a fork left
/// out (their figures mean nothing); returns the groups, how many interrupted rows were left
/// out, and each fork described (`side` names the set).
fn group<'a>(
    rows: &'a [SummaryRow],
    side: &str,
) -> (BTreeMap<PointKey, Vec<&'a SummaryRow>>, usize, Vec<String>) {
    let mut groups: BTreeMap<PointKey, Vec<&SummaryRow>> = BTreeMap::new();
    let mut interrupted = 0;
    let mut forks = Vec::new();
    for row in rows {
        if row.checks.safety.is_fork() {
            forks.push(format!(
                "{side} run {} ({}, repeat {}) is left out, its safety audit found a {}",
                row.provenance.run_id,
                PointKey::of(row),
                row.point.repeat,
                row.checks.safety
            ));
            continue;
        }
        if row.checks.interrupted {
            interrupted += 1;
            continue;
        }
        groups.entry(PointKey::of(row)).or_default().push(row);
    }
    (groups, interrupted, forks)
}

/// Compares `head` against `base` point by point.
pub fn compare(base: &ResultSet, head: &ResultSet, options: &Options) -> Comparison {
    let (base_groups, base_interrupted, mut forks) = group(&base.rows, "base");
    let (head_groups, head_interrupted, head_forks) = group(&head.rows, "head");
    forks.extend(head_forks);
    let mut points = Vec::new();
    let mut only_in_base = Vec::new();
    for (key, base_rows) in &base_groups {
        let Some(head_rows) = head_groups.get(key) else {
            only_in_base.push(key.clone());
            continue;
        };
        let disturbed: Vec<String> = [("base", base_rows), ("head", head_rows)]
            .iter()
            .flat_map(|(side, rows)| {
                rows.iter()
                    .filter(|r| !r.checks.disturbed.is_empty())
                    .map(move |r| {
                        format!("{side} repeat {}: {}", r.point.repeat, r.checks.disturbed)
                    })
            })
            .collect();
        let mut metrics: Vec<MetricComparison> = Metric::ALL
            .iter()
            .map(|&m| {
                MetricComparison::of(
                    m,
                    &base.runs(base_rows, m),
                    &head.runs(head_rows, m),
                    options,
                )
            })
            .collect();
        if !disturbed.is_empty() && !options.accept_disturbed {
            for m in metrics.iter_mut() {
                m.verdict = Verdict::Inconclusive;
                m.repeats_needed = None;
                m.note = Some("a run was disturbed (listed below)".into());
            }
        }
        let verdict = metrics
            .iter()
            .map(|m| m.verdict)
            .max()
            .unwrap_or(Verdict::Inconclusive);
        points.push(PointComparison {
            key: key.clone(),
            base_repeats: base_rows.len(),
            head_repeats: head_rows.len(),
            metrics,
            disturbed,
            verdict,
        });
    }
    let only_in_head = head_groups
        .keys()
        .filter(|k| !base_groups.contains_key(k))
        .cloned()
        .collect();
    let mut comparison = Comparison {
        thresholds: options.thresholds,
        confidence: options.bootstrap.confidence,
        seed: options.bootstrap.seed,
        points,
        only_in_base,
        only_in_head,
        interrupted: (base_interrupted, head_interrupted),
        origins: (Origin::of(&base.rows), Origin::of(&head.rows)),
        per_second: (!base.seconds.is_empty(), !head.seconds.is_empty()),
        problems: Vec::new(),
        verdict: Verdict::Inconclusive,
    };
    comparison.verdict = comparison.overall();
    for fork in forks {
        comparison.add_problem(fork);
    }
    comparison
}

fn list(keys: &[PointKey]) -> String {
    keys.iter().map(|k| format!("\n  {k}")).collect::<String>()
}

/// Refuses to compare simulated rows (the `sim` testbed: a `seed`) with measured ones.
pub fn refuse_simulated_against_measured(base: &[SummaryRow], head: &[SummaryRow]) -> Result<()> {
    let kind = |rows: &[SummaryRow]| {
        (
            rows.iter().any(SummaryRow::is_simulated),
            rows.iter().any(|r| !r.is_simulated()),
        )
    };
    let ((base_sim, base_real), (head_sim, head_real)) = (kind(base), kind(head));
    let side = |sim: bool, real: bool| match (sim, real) {
        (true, true) => "simulated and measured",
        (true, false) => "simulated",
        _ => "measured",
    };
    if (base_sim || head_sim) && (base_real || head_real) {
        bail!(
            "cannot compare simulated rows with measured rows (base has {} rows, head has {}): \
             the simulator models the network but not CPU time, so its figures do not measure \
             what a run of validators measures; compare sim results with sim results and \
             measured results with measured results",
            side(base_sim, base_real),
            side(head_sim, head_real)
        );
    }
    Ok(())
}

/// Compares the result sets at `base` and `head` (run directories or summary CSV files).
/// Fails when a file is not a result file of this version, or when no point is common.
pub fn compare_paths(base: &Path, head: &Path, options: &Options) -> Result<Comparison> {
    let base_set = ResultSet::load(base).with_context(|| format!("base {}", base.display()))?;
    let head_set = ResultSet::load(head).with_context(|| format!("head {}", head.display()))?;
    refuse_simulated_against_measured(&base_set.rows, &head_set.rows)?;
    let comparison = compare(&base_set, &head_set, options);
    if comparison.points.is_empty() {
        bail!(
            "no common point to compare (points match on committee, faults, load, transaction \
             size and protocol parameters)\nbase {} has:{}\nhead {} has:{}{}",
            base.display(),
            list(&comparison.only_in_base),
            head.display(),
            list(&comparison.only_in_head),
            comparison
                .problems
                .iter()
                .map(|p| format!("\n{p}"))
                .collect::<String>()
        );
    }
    Ok(comparison)
}
