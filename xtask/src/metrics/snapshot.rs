//! One scrape of one validator's `/metrics`, reduced to the figures a benchmark uses.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use prometheus_parse::{Scrape, Value};
use serde::Serialize;

use super::Histogram;

/// Names of the node's metrics.
pub use crate::protocol::metrics as names;

/// The figures of one scrape. Counters are cumulative since the validator started.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Snapshot {
    /// Transactions in committed sub-DAGs.
    pub committed_transactions: f64,
    /// Bytes of those transactions.
    pub committed_bytes: f64,
    /// Submit-to-commit latency of committed transactions.
    pub latency: Histogram,
    /// Committed leader slots by decision (`direct-commit`, `indirect-skip`, ...).
    pub leaders: BTreeMap<String, f64>,
    /// The validator's round.
    pub current_round: f64,
    /// Round of the last committed leader.
    pub last_committed_round: f64,
    /// Leaders committed since genesis (continues across restarts).
    pub commit_index: f64,
    /// Blocks this validator proposed.
    pub blocks_proposed: f64,
    /// Blocks received from peers.
    pub blocks_received: f64,
    /// Requests for missing blocks sent.
    pub missing_block_requests: f64,
    /// Proposals made after the leader timeout.
    pub leader_timeouts: f64,
    /// Seconds the validator has been running.
    pub uptime: f64,
    /// Transactions its load generator submitted.
    pub submitted: f64,
    /// Transactions its load generator could not submit (backpressure).
    pub rejected: f64,
    /// CPU seconds used by the process.
    pub cpu_seconds: f64,
    /// Resident memory of the process.
    pub resident_memory_bytes: f64,
    /// Whether the scrape had the process collector's CPU and memory (a simulated validator's
    /// snapshot has none: its process is the simulator's).
    pub has_process: bool,
}

impl Snapshot {
    /// Parses Prometheus text exposition. The committed-transactions counter and the latency
    /// histogram are required (their absence means this is not the node's endpoint); other
    /// figures default to zero.
    pub fn parse(text: &str) -> Result<Self> {
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
            .context("malformed Prometheus text")?;
        let mut snapshot = Snapshot::default();
        let mut seen_committed = false;
        let mut seen_latency = false;
        for sample in &scrape.samples {
            let value = match &sample.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
                Value::Histogram(buckets) => {
                    if sample.metric == names::LATENCY {
                        let mut buckets: Vec<(f64, f64)> =
                            buckets.iter().map(|b| (b.less_than, b.count)).collect();
                        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                        snapshot.latency.buckets = buckets;
                        seen_latency = true;
                    }
                    continue;
                }
                Value::Summary(_) => continue,
            };
            let metric = sample.metric.as_str();
            match metric {
                names::COMMITTED_TRANSACTIONS => {
                    snapshot.committed_transactions = value;
                    seen_committed = true;
                }
                names::COMMITTED_BYTES => snapshot.committed_bytes = value,
                names::CURRENT_ROUND => snapshot.current_round = value,
                names::LAST_COMMITTED_ROUND => snapshot.last_committed_round = value,
                names::COMMIT_INDEX => snapshot.commit_index = value,
                names::BLOCKS_PROPOSED => snapshot.blocks_proposed = value,
                names::BLOCKS_RECEIVED => snapshot.blocks_received = value,
                names::MISSING_BLOCK_REQUESTS => snapshot.missing_block_requests = value,
                names::LEADER_TIMEOUTS => snapshot.leader_timeouts = value,
                names::BENCHMARK_DURATION => snapshot.uptime = value,
                names::SUBMITTED => snapshot.submitted = value,
                names::REJECTED => snapshot.rejected = value,
                names::CPU_SECONDS => {
                    snapshot.cpu_seconds = value;
                    snapshot.has_process = true;
                }
                names::RESIDENT_MEMORY => snapshot.resident_memory_bytes = value,
                names::COMMITTED_LEADERS => {
                    let decision = sample.labels.get("decision").unwrap_or("unknown");
                    *snapshot.leaders.entry(decision.to_string()).or_default() += value;
                }
                _ if metric == format!("{}_sum", names::LATENCY) => snapshot.latency.sum = value,
                _ if metric == format!("{}_count", names::LATENCY) => {
                    snapshot.latency.count = value
                }
                _ => {}
            }
        }
        if !seen_committed || !seen_latency {
            bail!(
                "the metrics lack `{}` or `{}`: is this the node's metrics endpoint?",
                names::COMMITTED_TRANSACTIONS,
                names::LATENCY
            );
        }
        Ok(snapshot)
    }

    /// Committed leaders by one decision kind.
    pub fn leaders(&self, decision: &str) -> f64 {
        self.leaders.get(decision).copied().unwrap_or(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORDED: &str = include_str!("testdata/validator-metrics.txt");

    #[test]
    fn parses_a_recorded_scrape() {
        let s = Snapshot::parse(RECORDED).expect("parse");
        assert_eq!(s.committed_transactions, 79_401.0);
        assert_eq!(s.committed_bytes, 40_653_312.0);
        assert_eq!(s.current_round, 433.0);
        assert_eq!(s.leaders("direct-commit"), 430.0);
        assert_eq!(s.leaders("direct-skip"), 0.0);
        assert_eq!(s.submitted, 20_039.0);
        assert_eq!(s.latency.count, 79_401.0);
        assert_eq!(s.latency.buckets.last().map(|b| b.1), Some(79_401.0));
        assert!(s.latency.buckets.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(s.rejected, 0.0);
        assert!(s.resident_memory_bytes > 0.0 && s.cpu_seconds > 0.0 && s.has_process);
        let p50 = s.latency.quantile(0.5).expect("p50");
        assert!(p50 > 0.02 && p50 < 0.2, "{p50}");
    }

    #[test]
    fn reads_the_commit_index() {
        let text = format!(
            "{RECORDED}# HELP node_commit_index Leaders committed since genesis\n\
             # TYPE node_commit_index gauge\nnode_commit_index 431\n"
        );
        assert_eq!(Snapshot::parse(&text).expect("parse").commit_index, 431.0);
        assert_eq!(Snapshot::parse(RECORDED).expect("parse").commit_index, 0.0);
    }

    #[test]
    fn rejects_text_that_is_not_the_nodes() {
        let err = Snapshot::parse("# TYPE up gauge\nup 1\n").expect_err("not the node");
        assert!(err.to_string().contains(names::COMMITTED_TRANSACTIONS));
    }
}
