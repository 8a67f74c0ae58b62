//! Owns the figures of one measured window (the measured columns of a summary row), from
//! the first and last scrape of every validator.

use serde::{Deserialize, Serialize};

use super::{Histogram, Snapshot};

/// One validator's scrapes at the start and at the end of the measured window.
#[derive(Clone, Debug)]
pub struct Observation {
    /// Validator index.
    pub validator: usize,
    /// Scrape at the start of the window.
    pub start: Snapshot,
    /// Scrape at the end of the window.
    pub end: Snapshot,
    /// Seconds between the two scrapes.
    pub seconds: f64,
}

impl Observation {
    fn rate(&self, field: impl Fn(&Snapshot) -> f64) -> f64 {
        if self.seconds > 0.0 {
            ((field(&self.end) - field(&self.start)) / self.seconds).max(0.0)
        } else {
            0.0
        }
    }

    /// Committed transactions per second seen by this validator.
    pub fn throughput(&self) -> f64 {
        self.rate(|s| s.committed_transactions)
    }

    /// CPU cores used on average.
    pub fn cpu_cores(&self) -> f64 {
        self.rate(|s| s.cpu_seconds)
    }
}

/// What a measured window shows: the measured columns of a summary row, named as there
/// (`*_s` in seconds, `*_per_s` per second). Latencies `None` where nothing was committed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Length of the window (mean over validators).
    pub measured_s: f64,
    /// Validators observed at both ends of the window.
    pub validators_observed: usize,
    /// Committed transactions per second: the maximum over validators (every validator sees
    /// every commit, so the sum would count each transaction several times).
    pub throughput_tps: f64,
    /// Committed bytes per second, from the same validator.
    pub throughput_bytes_per_s: f64,
    /// Latency over all validators' commits in the window.
    pub latency_avg_s: Option<f64>,
    /// Estimated from the histogram's buckets.
    pub latency_stdev_s: Option<f64>,
    pub latency_p50_s: Option<f64>,
    pub latency_p90_s: Option<f64>,
    pub latency_p99_s: Option<f64>,
    /// Rounds per second (maximum over validators).
    pub rounds_per_s: f64,
    /// Blocks proposed and received per round, mean over validators.
    pub blocks_per_round: f64,
    /// Transactions per second the load generators submitted, all validators together.
    pub submitted_tps: f64,
    /// Transactions per second the load generators could not submit (backpressure).
    pub rejected_tps: f64,
    /// Leader slots decided in the window, by decision, from the validator with the most.
    pub direct_commits: f64,
    pub indirect_commits: f64,
    pub direct_skips: f64,
    pub indirect_skips: f64,
    /// Leader timeouts, all validators together.
    pub leader_timeouts: f64,
    /// Missing-block requests, all validators together.
    pub missing_block_requests: f64,
    /// CPU cores used per validator: mean and maximum.
    /// Empty (`None`) when the scrapes had no process figures (simulated validators).
    pub cpu_cores_mean: Option<f64>,
    pub cpu_cores_max: Option<f64>,
    /// Largest resident memory of any validator at the end of the window, MiB; empty like
    /// the CPU figures.
    pub memory_mib_max: Option<f64>,
}

/// Summarizes a window from each validator's observation.
pub fn summarize(observations: &[Observation]) -> Summary {
    let mut summary = Summary {
        validators_observed: observations.len(),
        ..Summary::default()
    };
    if observations.is_empty() {
        return summary;
    }
    let n = observations.len() as f64;
    summary.measured_s = observations.iter().map(|o| o.seconds).sum::<f64>() / n;
    if let Some(best) = observations
        .iter()
        .max_by(|a, b| a.throughput().total_cmp(&b.throughput()))
    {
        summary.throughput_tps = best.throughput();
        summary.throughput_bytes_per_s = best.rate(|s| s.committed_bytes);
        let delta = |kind: &str| best.end.leaders(kind) - best.start.leaders(kind);
        summary.direct_commits = delta("direct-commit");
        summary.indirect_commits = delta("indirect-commit");
        summary.direct_skips = delta("direct-skip");
        summary.indirect_skips = delta("indirect-skip");
    }
    let mut latency = Histogram::default();
    for o in observations {
        latency.merge(&o.end.latency.since(&o.start.latency));
    }
    summary.latency_avg_s = latency.mean();
    summary.latency_stdev_s = latency.stdev();
    summary.latency_p50_s = latency.quantile(0.50);
    summary.latency_p90_s = latency.quantile(0.90);
    summary.latency_p99_s = latency.quantile(0.99);
    summary.rounds_per_s = observations
        .iter()
        .map(|o| o.rate(|s| s.current_round))
        .fold(0.0, f64::max);
    summary.blocks_per_round = observations
        .iter()
        .map(|o| {
            let rounds = o.end.current_round - o.start.current_round;
            let blocks = (o.end.blocks_proposed + o.end.blocks_received)
                - (o.start.blocks_proposed + o.start.blocks_received);
            if rounds > 0.0 {
                blocks / rounds
            } else {
                0.0
            }
        })
        .sum::<f64>()
        / n;
    summary.submitted_tps = observations.iter().map(|o| o.rate(|s| s.submitted)).sum();
    summary.rejected_tps = observations.iter().map(|o| o.rate(|s| s.rejected)).sum();
    summary.leader_timeouts = observations
        .iter()
        .map(|o| o.end.leader_timeouts - o.start.leader_timeouts)
        .sum();
    summary.missing_block_requests = observations
        .iter()
        .map(|o| o.end.missing_block_requests - o.start.missing_block_requests)
        .sum();
    if observations.iter().all(|o| o.end.has_process) {
        summary.cpu_cores_mean =
            Some(observations.iter().map(Observation::cpu_cores).sum::<f64>() / n);
        summary.cpu_cores_max = Some(
            observations
                .iter()
                .map(Observation::cpu_cores)
                .fold(0.0, f64::max),
        );
        summary.memory_mib_max = Some(
            observations
                .iter()
                .map(|o| o.end.resident_memory_bytes / (1024.0 * 1024.0))
                .fold(0.0, f64::max),
        );
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORDED: &str = include_str!("testdata/validator-metrics.txt");

    /// The recorded scrape as the end of a window that started from zero, scaled per validator.
    fn observation(validator: usize, scale: f64, seconds: f64) -> Observation {
        let end = Snapshot::parse(RECORDED).expect("recorded");
        let mut start = end.clone();
        start.committed_transactions = end.committed_transactions * (1.0 - scale);
        start.committed_bytes = end.committed_bytes * (1.0 - scale);
        start.latency.buckets.iter_mut().for_each(|b| b.1 = 0.0);
        start.latency.count = 0.0;
        start.latency.sum = 0.0;
        start.cpu_seconds = 0.0;
        start.current_round = 391.0;
        Observation {
            validator,
            start,
            end,
            seconds,
        }
    }

    #[test]
    fn throughput_is_the_maximum_over_validators_not_the_sum() {
        let s = summarize(&[observation(0, 1.0, 60.0), observation(1, 0.5, 60.0)]);
        assert!((s.throughput_tps - 79_401.0 / 60.0).abs() < 1e-6);
        assert!((s.throughput_bytes_per_s - 79_401.0 * 512.0 / 60.0).abs() < 1e-3);
        assert_eq!(s.validators_observed, 2);
    }

    #[test]
    fn latency_comes_from_the_merged_window_histograms() {
        let one = summarize(&[observation(0, 1.0, 60.0)]);
        let two = summarize(&[observation(0, 1.0, 60.0), observation(1, 1.0, 60.0)]);
        // Same distribution twice: same percentiles.
        assert_eq!(one.latency_p50_s, two.latency_p50_s);
        let (p50, p90, p99) = (
            two.latency_p50_s.unwrap(),
            two.latency_p90_s.unwrap(),
            two.latency_p99_s.unwrap(),
        );
        assert!(p50 < p90 && p90 < p99, "{p50} {p90} {p99}");
        assert!((two.latency_avg_s.unwrap() - 5858.1865 / 79_401.0).abs() < 1e-6);
    }

    #[test]
    fn resources_and_rounds_are_per_validator() {
        let s = summarize(&[observation(0, 1.0, 10.0)]);
        assert!((s.cpu_cores_mean.expect("cpu") - 0.0218169).abs() < 1e-9);
        assert!((s.rounds_per_s - 4.2).abs() < 1e-9);
        assert!((s.memory_mib_max.expect("memory") - 13.906).abs() < 0.001);
    }

    /// Without the process collector (a simulated validator) CPU and memory are unknown,
    /// not zero.
    #[test]
    fn resources_are_empty_without_process_figures() {
        let mut o = observation(0, 1.0, 10.0);
        o.end.has_process = false;
        let s = summarize(&[o]);
        assert_eq!(
            (s.cpu_cores_mean, s.cpu_cores_max, s.memory_mib_max),
            (None, None, None)
        );
        assert!(s.throughput_tps > 0.0);
    }

    #[test]
    fn no_observation_gives_empty_figures() {
        let s = summarize(&[]);
        assert_eq!(s.throughput_tps, 0.0);
        assert_eq!(s.latency_p50_s, None);
    }
}
