//! What a simulation yields: the figures of the measured window (from the validators' own
//! metrics, as an orchestrator computes them from scrapes), the safety check over the
//! honest validators' committed sequences, and the files of `--out`.

use std::{fmt::Write as _, path::Path, time::Duration};

use anyhow::{Context, Result};
use prometheus::core::Collector;
use serde::Serialize;

use super::{node::SimNode, CommitEntry, SimConfig};
use crate::{committee::AuthorityIndex, metrics::Metrics};

/// A validator's counters at the start or end of the measured window.
#[derive(Clone, Debug)]
pub struct WindowMark {
    incarnation: u64,
    committed: u64,
    /// Cumulative count per latency bucket (upper bounds: [`crate::metrics::LATENCY_BUCKETS`]).
    buckets: Vec<u64>,
    samples: u64,
}

impl WindowMark {
    /// Reads the marks of one validator's registry.
    pub fn of(incarnation: u64, metrics: &Metrics) -> Self {
        let families = metrics.transaction_latency.collect();
        let histogram = families
            .first()
            .and_then(|f| f.get_metric().first())
            .map(|m| m.get_histogram().clone())
            .unwrap_or_default();
        Self {
            incarnation,
            committed: metrics.committed_transactions.get(),
            buckets: histogram
                .get_bucket()
                .iter()
                .map(|b| b.get_cumulative_count())
                .collect(),
            samples: histogram.get_sample_count(),
        }
    }
}

/// Two honest validators whose committed sequences differ.
#[derive(Clone, Debug, Serialize)]
pub struct Divergence {
    /// One validator.
    pub a: AuthorityIndex,
    /// The other.
    pub b: AuthorityIndex,
    /// The first commit index at which both have a commit and they differ.
    pub index: u64,
}

/// The figures of one run. Everything here is a function of the configuration and the
/// seed (no wall time): two runs of one seed give the same summary.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Seed.
    pub seed: u64,
    /// Validators.
    pub committee: usize,
    /// Offered load (tx/s).
    pub load: u64,
    /// Transaction size (bytes).
    pub transaction_size: usize,
    /// Warm-up (virtual seconds).
    pub warmup_s: f64,
    /// Measured window (virtual seconds).
    pub duration_s: f64,
    /// Latency matrix, if any.
    pub latency_matrix: Option<String>,
    /// Per-link bandwidth (bit/s).
    pub bandwidth_bps: u64,
    /// Byzantine validators.
    pub byzantine: Vec<AuthorityIndex>,
    /// Their behaviour.
    pub behaviour: Option<String>,
    /// Committed transactions per second over the window, at the honest validator that
    /// committed most.
    pub committed_tx_per_s: f64,
    /// Submit-to-commit latency over the window, merged over the honest validators,
    /// interpolated in the node's histogram buckets (seconds; None without samples).
    pub latency_p50_s: Option<f64>,
    /// 99th percentile, likewise.
    pub latency_p99_s: Option<f64>,
    /// Lowest last commit index among the honest validators.
    pub commits_min: u64,
    /// Highest.
    pub commits_max: u64,
    /// Commit indices compared between honest validators.
    pub commits_checked: u64,
    /// `ok`, or the first divergence found.
    pub safety: String,
    /// What was modelled.
    pub modelled: String,
}

/// A run's result.
pub struct Outcome {
    /// The figures.
    pub summary: Summary,
    /// Every validator's commits.
    pub commits: Vec<Vec<CommitEntry>>,
    /// The honest validators.
    pub honest: Vec<AuthorityIndex>,
    /// The first divergence between honest validators, if any.
    pub divergence: Option<Divergence>,
    /// Honest validators running at the end that committed nothing after the last fault
    /// ended (None if no fault ends during the run).
    pub stalled: Option<Vec<AuthorityIndex>>,
}

/// What the simulator models and what it does not.
pub const MODELLED: &str = "real core, WAL, load generator and commit accounting; virtual \
    clock; network: matrix delay + seeded jitter + per-link bandwidth, FIFO per link; \
    CPU time not modelled (every computation takes no virtual time)";

pub(super) fn outcome(
    config: &SimConfig,
    nodes: &[SimNode],
    start: &[Option<WindowMark>],
    end: &[Option<WindowMark>],
    heal_index: Option<Vec<u64>>,
    heal: Option<Duration>,
) -> Outcome {
    let honest: Vec<AuthorityIndex> = nodes
        .iter()
        .filter(|n| n.byzantine.is_none() && !config.is_byzantine(n.index))
        .map(|n| n.index)
        .collect();
    let window = config.duration.as_secs_f64().max(1e-9);
    let mut best = 0u64;
    let mut merged = vec![0u64; crate::metrics::LATENCY_BUCKETS.len()];
    let mut samples = 0u64;
    for &v in &honest {
        let Some(e) = &end[v as usize] else { continue };
        let s = start[v as usize]
            .as_ref()
            .filter(|s| s.incarnation == e.incarnation);
        best = best.max(e.committed - s.map_or(0, |s| s.committed));
        for (i, c) in e.buckets.iter().enumerate() {
            merged[i] += c - s.and_then(|s| s.buckets.get(i)).copied().unwrap_or(0);
        }
        samples += e.samples - s.map_or(0, |s| s.samples);
    }
    let (checked, divergence) = check_safety(&honest, nodes);
    let indices: Vec<u64> = honest
        .iter()
        .map(|&v| nodes[v as usize].commit_index())
        .collect();
    let stalled = heal.filter(|h| *h < config.total()).map(|_| {
        let at_heal = heal_index.unwrap_or_default();
        honest
            .iter()
            .copied()
            .filter(|&v| {
                let n = &nodes[v as usize];
                end[v as usize].is_some()
                    && n.commit_index() <= at_heal.get(v as usize).copied().unwrap_or(0)
            })
            .collect()
    });
    let summary = Summary {
        seed: config.seed,
        committee: config.committee,
        load: config.load,
        transaction_size: config.transaction_size,
        warmup_s: config.warmup.as_secs_f64(),
        duration_s: config.duration.as_secs_f64(),
        latency_matrix: config.matrix.clone(),
        bandwidth_bps: config.bandwidth_bps,
        byzantine: config.byzantine.clone(),
        behaviour: config.behaviour.map(|b| b.name().to_string()),
        committed_tx_per_s: best as f64 / window,
        latency_p50_s: percentile(&merged, samples, 0.50),
        latency_p99_s: percentile(&merged, samples, 0.99),
        commits_min: indices.iter().copied().min().unwrap_or(0),
        commits_max: indices.iter().copied().max().unwrap_or(0),
        commits_checked: checked,
        safety: match &divergence {
            None => "ok".to_string(),
            Some(d) => format!(
                "violated: validators {} and {} differ at commit {}",
                d.a, d.b, d.index
            ),
        },
        modelled: MODELLED.to_string(),
    };
    Outcome {
        summary,
        commits: nodes.iter().map(|n| n.commits.clone()).collect(),
        honest,
        divergence,
        stalled,
    }
}

/// The `q` quantile of a histogram of cumulative bucket counts, interpolated linearly
/// inside the bucket it falls in.
pub fn percentile(cumulative: &[u64], samples: u64, q: f64) -> Option<f64> {
    if samples == 0 {
        return None;
    }
    let bounds = crate::metrics::LATENCY_BUCKETS;
    let target = q * samples as f64;
    let mut previous = (0.0, 0u64);
    for (upper, count) in bounds.iter().zip(cumulative) {
        if *count as f64 >= target {
            let (lower, below) = previous;
            let inside = (count - below) as f64;
            let fraction = if inside > 0.0 {
                (target - below as f64) / inside
            } else {
                1.0
            };
            return Some(lower + (upper - lower) * fraction);
        }
        previous = (*upper, *count);
    }
    bounds.last().copied()
}

/// Compares every pair of honest validators' committed sequences at the indices both
/// have: the number of indices compared, and the first divergence.
pub(super) fn check_safety(
    honest: &[AuthorityIndex],
    nodes: &[SimNode],
) -> (u64, Option<Divergence>) {
    let mut checked = std::collections::BTreeSet::new();
    for (i, &a) in honest.iter().enumerate() {
        for &b in &honest[i + 1..] {
            let (xs, ys) = (&nodes[a as usize].commits, &nodes[b as usize].commits);
            let (mut x, mut y) = (0, 0);
            while x < xs.len() && y < ys.len() {
                let (ix, iy) = (xs[x].chain.index, ys[y].chain.index);
                if ix < iy {
                    x += 1;
                } else if iy < ix {
                    y += 1;
                } else {
                    if xs[x].chain != ys[y].chain {
                        return (checked.len() as u64, Some(Divergence { a, b, index: ix }));
                    }
                    checked.insert(ix);
                    x += 1;
                    y += 1;
                }
            }
        }
    }
    (checked.len() as u64, None)
}

/// The two diverging sequences from the first differing index: index, leader round and
/// author, and chain, side by side.
pub fn describe_divergence(outcome: &Outcome, d: &Divergence) -> String {
    let mut text = format!(
        "validators {} and {} committed different sequences from commit index {}\n\
         index,validator,leader_round,leader_author,chain\n",
        d.a, d.b, d.index
    );
    for v in [d.a, d.b] {
        for c in outcome.commits[v as usize]
            .iter()
            .filter(|c| c.chain.index >= d.index)
            .take(50)
        {
            let _ = writeln!(
                text,
                "{},{v},{},{},{}",
                c.chain.index,
                c.leader_round,
                c.leader_author,
                c.chain.hex()
            );
        }
    }
    text
}

/// A `/metrics` text without the process collector's families (in the simulator they would
/// describe the simulator's process, not a validator).
pub fn without_process_metrics(text: &str) -> String {
    text.lines()
        .filter(|l| {
            !(l.starts_with("process_")
                || l.starts_with("# HELP process_")
                || l.starts_with("# TYPE process_"))
        })
        .fold(String::new(), |mut out, l| {
            out.push_str(l);
            out.push('\n');
            out
        })
}

/// Writes `summary.json` and `validators.csv` (index, region, byzantine) into `out`.
pub fn write(out: &Path, config: &SimConfig, outcome: &Outcome) -> Result<()> {
    let path = out.join("summary.json");
    let json = serde_json::to_string_pretty(&outcome.summary)?;
    std::fs::write(&path, json + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    let mut csv = String::from("validator,region,byzantine,last_commit_index\n");
    for (i, commits) in outcome.commits.iter().enumerate() {
        let region = config
            .regions
            .as_ref()
            .and_then(|r| r.get(i))
            .map_or("", String::as_str);
        let _ = writeln!(
            csv,
            "{i},{region},{},{}",
            config.is_byzantine(i as AuthorityIndex),
            commits.last().map_or(0, |c| c.chain.index)
        );
    }
    let path = out.join("validators.csv");
    std::fs::write(&path, csv).with_context(|| format!("cannot write {}", path.display()))?;
    if let Some(d) = &outcome.divergence {
        let path = out.join("divergence.csv");
        std::fs::write(&path, describe_divergence(outcome, d))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_inside_buckets() {
        // 100 samples: 50 up to 10 ms, 50 more up to 20 ms.
        let mut cumulative = vec![100u64; crate::metrics::LATENCY_BUCKETS.len()];
        cumulative[0] = 50;
        let p50 = percentile(&cumulative, 100, 0.5).expect("p50");
        assert!((p50 - 0.01).abs() < 1e-9, "{p50}");
        let p75 = percentile(&cumulative, 100, 0.75).expect("p75");
        assert!((p75 - 0.015).abs() < 1e-9, "{p75}");
        assert_eq!(percentile(&cumulative, 0, 0.5), None);
    }

    #[test]
    fn process_metrics_are_left_out() {
        let text = "# HELP process_cpu_seconds_total x\nprocess_cpu_seconds_total 1\nnode_current_round 3\n";
        assert_eq!(without_process_metrics(text), "node_current_round 3\n");
    }
}
