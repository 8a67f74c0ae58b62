//! Turns a run's recording into result rows: the window summary, per-validator figures and
//! the time series.

use std::collections::BTreeMap;

use super::recording::{Recording, ScrapeRecord};
use crate::metrics::{summarize, Observation, Summary};

/// Each validator's scrapes in time order.
fn by_validator(recording: &Recording) -> BTreeMap<usize, Vec<&ScrapeRecord>> {
    let mut map: BTreeMap<usize, Vec<&ScrapeRecord>> = BTreeMap::new();
    for record in &recording.scrapes {
        map.entry(record.validator).or_default().push(record);
    }
    map
}

/// The observation of each validator that was up for the whole measured window (from the
/// first scrape at or after the warm-up to its last scrape) without restarting in between.
pub(crate) fn observations(recording: &Recording, warmup_s: f64) -> Vec<Observation> {
    by_validator(recording)
        .into_iter()
        .filter_map(|(validator, records)| {
            let window: Vec<&&ScrapeRecord> =
                records.iter().filter(|r| r.elapsed_s >= warmup_s).collect();
            let (first, last) = (window.first()?, window.last()?);
            let restarted = window
                .windows(2)
                .any(|w| w[1].snapshot.uptime < w[0].snapshot.uptime);
            (!restarted && last.elapsed_s > first.elapsed_s).then(|| Observation {
                validator,
                start: first.snapshot.clone(),
                end: last.snapshot.clone(),
                seconds: last.elapsed_s - first.elapsed_s,
            })
        })
        .collect()
}

/// Summary of the measured window.
pub(crate) fn window_summary(
    recording: &Recording,
    warmup_s: f64,
    counted: impl Fn(usize) -> bool,
) -> Summary {
    let observations: Vec<Observation> = observations(recording, warmup_s)
        .into_iter()
        .filter(|o| counted(o.validator))
        .collect();
    summarize(&observations)
}

/// Figures between two consecutive scrapes of one validator (for the time series).
pub(crate) struct Interval<'a> {
    pub(crate) record: &'a ScrapeRecord,
    pub(crate) throughput_tps: f64,
    pub(crate) latency_p50_s: Option<f64>,
    pub(crate) latency_p99_s: Option<f64>,
    pub(crate) cpu_cores: f64,
}

/// Every scrape with the rates since the same validator's previous one (zero for the first
/// scrape and after a restart).
pub(crate) fn intervals(recording: &Recording) -> Vec<Interval<'_>> {
    let mut out = Vec::new();
    for (_, records) in by_validator(recording) {
        let mut previous: Option<&ScrapeRecord> = None;
        for record in records {
            let interval = match previous {
                Some(p)
                    if record.snapshot.uptime >= p.snapshot.uptime
                        && record.elapsed_s > p.elapsed_s =>
                {
                    let seconds = record.elapsed_s - p.elapsed_s;
                    let latency = record.snapshot.latency.since(&p.snapshot.latency);
                    Interval {
                        record,
                        throughput_tps: (record.snapshot.committed_transactions
                            - p.snapshot.committed_transactions)
                            / seconds,
                        latency_p50_s: latency.quantile(0.5),
                        latency_p99_s: latency.quantile(0.99),
                        cpu_cores: (record.snapshot.cpu_seconds - p.snapshot.cpu_seconds) / seconds,
                    }
                }
                _ => Interval {
                    record,
                    throughput_tps: 0.0,
                    latency_p50_s: None,
                    latency_p99_s: None,
                    cpu_cores: 0.0,
                },
            };
            out.push(interval);
            previous = Some(record);
        }
    }
    out.sort_by(|a, b| {
        a.record
            .elapsed_s
            .total_cmp(&b.record.elapsed_s)
            .then(a.record.validator.cmp(&b.record.validator))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Snapshot;

    fn record(validator: usize, elapsed_s: f64, committed: f64, uptime: f64) -> ScrapeRecord {
        ScrapeRecord {
            validator,
            elapsed_s,
            snapshot: Snapshot {
                committed_transactions: committed,
                uptime,
                ..Snapshot::default()
            },
        }
    }

    #[test]
    fn window_starts_after_warmup_and_skips_restarted_validators() {
        let recording = Recording {
            scrapes: vec![
                record(0, 1.0, 100.0, 1.0),
                record(0, 5.0, 500.0, 5.0),
                record(0, 15.0, 1500.0, 15.0),
                record(1, 5.0, 500.0, 5.0),
                record(1, 10.0, 10.0, 1.0), // restarted
                record(1, 15.0, 600.0, 6.0),
            ],
            ..Recording::default()
        };
        let obs = observations(&recording, 5.0);
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].validator, 0);
        assert_eq!(obs[0].seconds, 10.0);
        assert_eq!(
            window_summary(&recording, 5.0, |_| true).throughput_tps,
            100.0
        );
    }

    /// A Byzantine validator's own figures are left out of the window summary.
    #[test]
    fn the_summary_counts_only_the_validators_asked_for() {
        let recording = Recording {
            scrapes: vec![
                record(0, 5.0, 500.0, 5.0),
                record(0, 15.0, 1500.0, 15.0),
                record(1, 5.0, 500.0, 5.0),
                record(1, 15.0, 5500.0, 15.0),
            ],
            ..Recording::default()
        };
        assert_eq!(
            window_summary(&recording, 5.0, |_| true).throughput_tps,
            500.0
        );
        let honest = window_summary(&recording, 5.0, |v| v != 1);
        assert_eq!(honest.throughput_tps, 100.0);
        assert_eq!(honest.validators_observed, 1);
    }

    #[test]
    fn intervals_reset_after_a_restart() {
        let recording = Recording {
            scrapes: vec![
                record(0, 0.0, 0.0, 1.0),
                record(0, 2.0, 200.0, 3.0),
                record(0, 4.0, 10.0, 1.0),
            ],
            ..Recording::default()
        };
        let rates: Vec<f64> = intervals(&recording)
            .iter()
            .map(|i| i.throughput_tps)
            .collect();
        assert_eq!(rates, vec![0.0, 100.0, 0.0]);
    }
}
