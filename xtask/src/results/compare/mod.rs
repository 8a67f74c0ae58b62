//! `cargo xtask compare`: two result sets point by point, with a regression verdict.
//!
//! Points match on committee, faults (count and mode), offered load, transaction size and
//! protocol parameters (wave length, leaders, leader wait and timeout, latency matrix). Each
//! side's figure is the median of its repeats (interrupted rows left out). A figure regresses
//! when it gets worse by more than its threshold *and* the change is larger than the
//! repeat-to-repeat spread (max − min) seen on either side; with one repeat per side the spread
//! is zero and the threshold alone decides.

mod render;
mod stats;
#[cfg(test)]
mod tests;
mod threshold;

use std::{collections::BTreeMap, path::Path};

use anyhow::{bail, Context, Result};

pub use render::render;
pub use stats::Spread;
pub use threshold::{parse_fraction, Thresholds};

use super::{run_dir, SummaryRow};

/// What makes two rows the same point of a benchmark.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PointKey {
    pub committee: usize,
    pub faults: usize,
    pub fault_mode: String,
    pub load: u64,
    pub transaction_size: usize,
    pub wave_length: u32,
    pub leaders: u32,
    pub leader_wait: bool,
    pub leader_timeout_ms: u64,
    pub latency_matrix: String,
}

impl PointKey {
    fn of(row: &SummaryRow) -> Self {
        Self {
            committee: row.committee,
            faults: row.faults,
            fault_mode: row.fault_mode.clone(),
            load: row.load,
            transaction_size: row.transaction_size,
            wave_length: row.wave_length,
            leaders: row.leaders,
            leader_wait: row.leader_wait,
            leader_timeout_ms: row.leader_timeout_ms,
            latency_matrix: row.latency_matrix.clone(),
        }
    }

    /// The protocol parameters, compactly (`w3 l1`, `no-wait`, the latency matrix).
    pub fn protocol(&self) -> String {
        let mut text = format!("w{} l{}", self.wave_length, self.leaders);
        if !self.leader_wait {
            text.push_str(" no-wait");
        }
        if self.leader_timeout_ms != 1000 {
            text.push_str(&format!(" t{}ms", self.leader_timeout_ms));
        }
        if !self.latency_matrix.is_empty() {
            text.push_str(&format!(" {}", self.latency_matrix));
        }
        text
    }
}

impl std::fmt::Display for PointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "n{} f{}", self.committee, self.faults)?;
        if self.fault_mode == "crash-recovery" {
            f.write_str(" (crash-recovery)")?;
        }
        write!(
            f,
            ", load {} tx/s, {} B tx, {}",
            self.load,
            self.transaction_size,
            self.protocol()
        )
    }
}

/// One side of a point: its repeats summarised.
#[derive(Clone, Debug, PartialEq)]
pub struct Side {
    /// Repeats used (not interrupted).
    pub repeats: usize,
    pub throughput: Spread,
    pub p50: Option<Spread>,
    pub p99: Option<Spread>,
}

impl Side {
    fn of(rows: &[&SummaryRow]) -> Option<Self> {
        let collect = |f: fn(&SummaryRow) -> Option<f64>| -> Vec<f64> {
            rows.iter().filter_map(|r| f(r)).collect()
        };
        Some(Self {
            repeats: rows.len(),
            throughput: Spread::of(&collect(|r| Some(r.throughput_tps)))?,
            p50: Spread::of(&collect(|r| r.latency_p50_s)),
            p99: Spread::of(&collect(|r| r.latency_p99_s)),
        })
    }
}

/// The change of one figure from base to head.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Change {
    /// (head − base) / base of the medians; `None` when the base median is 0.
    pub relative: Option<f64>,
    /// Whether the figure got worse by more than its threshold.
    pub beyond_threshold: bool,
    /// Whether |head − base| is within the repeat-to-repeat spread of either side.
    pub within_spread: bool,
}

impl Change {
    /// Compares medians; `higher_is_worse` for latency, not for throughput.
    fn between(base: &Spread, head: &Spread, higher_is_worse: bool, threshold: f64) -> Self {
        let delta = head.median - base.median;
        let relative = (base.median != 0.0).then(|| delta / base.median);
        let worse = relative.map_or(0.0, |r| if higher_is_worse { r } else { -r });
        Self {
            relative,
            beyond_threshold: worse > threshold,
            within_spread: delta.abs() <= base.width().max(head.width()),
        }
    }

    /// Whether this change is a regression.
    pub fn is_regression(&self) -> bool {
        self.beyond_threshold && !self.within_spread
    }
}

/// A point present in both result sets.
#[derive(Clone, Debug, PartialEq)]
pub struct PointComparison {
    pub key: PointKey,
    pub base: Side,
    pub head: Side,
    pub throughput: Change,
    pub p50: Option<Change>,
    pub p99: Option<Change>,
}

impl PointComparison {
    /// The figures that regressed (`throughput`, `p50`, `p99`).
    pub fn regressions(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.throughput.is_regression() {
            out.push("throughput");
        }
        if self.p50.is_some_and(|c| c.is_regression()) {
            out.push("p50");
        }
        if self.p99.is_some_and(|c| c.is_regression()) {
            out.push("p99");
        }
        out
    }

    /// Whether a figure moved beyond its threshold but within the repeats' spread.
    pub fn noise_only(&self) -> bool {
        [Some(self.throughput), self.p50, self.p99]
            .into_iter()
            .flatten()
            .any(|c| c.beyond_threshold && c.within_spread)
    }
}

/// The outcome of comparing two result sets.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub thresholds: Thresholds,
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
}

/// Where a result set comes from: its runs, code and testbed, each listed once.
#[derive(Clone, Debug, Default, PartialEq)]
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
            add(&mut origin.runs, row.run_id.clone());
            let short: String = row.git_commit.chars().take(10).collect();
            let dirty = if row.git_dirty { "-dirty" } else { "" };
            add(&mut origin.commits, format!("{short}{dirty}"));
            add(
                &mut origin.testbeds,
                format!("{}/{}", row.provider, row.instance_type),
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

impl Comparison {
    /// The points that regressed.
    pub fn regressed(&self) -> Vec<&PointComparison> {
        self.points
            .iter()
            .filter(|p| !p.regressions().is_empty())
            .collect()
    }
}

/// Rows grouped by point, interrupted rows left out; returns the groups and how many rows
/// were left out.
fn group(rows: &[SummaryRow]) -> (BTreeMap<PointKey, Vec<&SummaryRow>>, usize) {
    let mut groups: BTreeMap<PointKey, Vec<&SummaryRow>> = BTreeMap::new();
    let mut interrupted = 0;
    for row in rows {
        if row.interrupted {
            interrupted += 1;
            continue;
        }
        groups.entry(PointKey::of(row)).or_default().push(row);
    }
    (groups, interrupted)
}

/// Compares `head` against `base` point by point.
pub fn compare(base: &[SummaryRow], head: &[SummaryRow], thresholds: Thresholds) -> Comparison {
    let (base_groups, base_interrupted) = group(base);
    let (head_groups, head_interrupted) = group(head);
    let mut points = Vec::new();
    let mut only_in_base = Vec::new();
    for (key, base_rows) in &base_groups {
        let Some(head_rows) = head_groups.get(key) else {
            only_in_base.push(key.clone());
            continue;
        };
        let (Some(b), Some(h)) = (Side::of(base_rows), Side::of(head_rows)) else {
            continue;
        };
        let latency = |b: Option<Spread>, h: Option<Spread>| {
            Some(Change::between(&b?, &h?, true, thresholds.latency_rise))
        };
        points.push(PointComparison {
            key: key.clone(),
            throughput: Change::between(
                &b.throughput,
                &h.throughput,
                false,
                thresholds.throughput_drop,
            ),
            p50: latency(b.p50, h.p50),
            p99: latency(b.p99, h.p99),
            base: b,
            head: h,
        });
    }
    let only_in_head = head_groups
        .keys()
        .filter(|k| !base_groups.contains_key(k))
        .cloned()
        .collect();
    Comparison {
        thresholds,
        points,
        only_in_base,
        only_in_head,
        interrupted: (base_interrupted, head_interrupted),
        origins: (Origin::of(base), Origin::of(head)),
    }
}

fn list(keys: &[PointKey]) -> String {
    keys.iter().map(|k| format!("\n  {k}")).collect::<String>()
}

/// Compares the result sets at `base` and `head` (run directories or summary CSV files).
/// Fails when a file is not a result file of this version, or when no point is common.
pub fn compare_paths(base: &Path, head: &Path, thresholds: Thresholds) -> Result<Comparison> {
    let base_rows =
        run_dir::summary_rows(base).with_context(|| format!("base {}", base.display()))?;
    let head_rows =
        run_dir::summary_rows(head).with_context(|| format!("head {}", head.display()))?;
    let comparison = compare(&base_rows, &head_rows, thresholds);
    if comparison.points.is_empty() {
        bail!(
            "no common point to compare (points match on committee, faults, load, transaction \
             size and protocol parameters)\nbase {} has:{}\nhead {} has:{}",
            base.display(),
            list(&comparison.only_in_base),
            head.display(),
            list(&comparison.only_in_head)
        );
    }
    Ok(comparison)
}
