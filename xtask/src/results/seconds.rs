//! The per-second system figures of each run, from `timeseries.csv`: at every scrape of the
//! measured window, the committed rate seen by the fastest validator (as the window's
//! throughput is) and the mean over validators of their latency percentiles.

use std::collections::BTreeMap;

use crate::{metrics::host::HostPressure, results::TimeseriesRow};

/// Which run of a result set: run id, offered load, repeat.
pub type RunKey = (String, u64, usize);

/// The system's figures over one scrape interval.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Second {
    /// Seconds since the validators started, at the end of the interval.
    pub at_s: f64,
    pub throughput_tps: f64,
    pub latency_p50_s: Option<f64>,
    pub latency_p99_s: Option<f64>,
    /// The host's load over the interval (local testbed).
    pub host: Option<HostPressure>,
}

/// The host load a time-series row carries.
pub fn host_pressure(row: &TimeseriesRow) -> Option<HostPressure> {
    Some(HostPressure {
        cpu_busy: row.host_cpu_busy?,
        iowait: row.host_iowait.unwrap_or(0.0),
        steal: row.host_steal.unwrap_or(0.0),
        cpu_pressure: row.host_cpu_pressure,
        io_pressure: row.host_io_pressure,
    })
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The measured window's seconds of every run in `rows`, in time order.
pub fn seconds(rows: &[TimeseriesRow]) -> BTreeMap<RunKey, Vec<Second>> {
    // Every validator of one scrape carries the same elapsed time; milliseconds group them.
    let mut ticks: BTreeMap<(RunKey, i64), Vec<&TimeseriesRow>> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.is_measured()) {
        let key = (row.run_id.clone(), row.load, row.repeat);
        let at = (row.elapsed_s * 1000.0).round() as i64;
        ticks.entry((key, at)).or_default().push(row);
    }
    let mut out: BTreeMap<RunKey, Vec<Second>> = BTreeMap::new();
    for ((key, _), scrapes) in ticks {
        let p50: Vec<f64> = scrapes.iter().filter_map(|r| r.latency_p50_s).collect();
        let p99: Vec<f64> = scrapes.iter().filter_map(|r| r.latency_p99_s).collect();
        out.entry(key).or_default().push(Second {
            at_s: scrapes[0].elapsed_s,
            host: scrapes.iter().find_map(|r| host_pressure(r)),
            throughput_tps: scrapes.iter().map(|r| r.throughput_tps).fold(0.0, f64::max),
            latency_p50_s: mean(&p50),
            latency_p99_s: mean(&p99),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(repeat: usize, elapsed_s: f64, tps: f64, p50: Option<f64>) -> TimeseriesRow {
        TimeseriesRow {
            run_id: "r".into(),
            load: 1000,
            repeat,
            elapsed_s,
            phase: TimeseriesRow::phase_at(elapsed_s, 2.0).into(),
            throughput_tps: tps,
            latency_p50_s: p50,
            ..TimeseriesRow::default()
        }
    }

    #[test]
    fn one_second_per_scrape_of_the_window_per_run() {
        let rows = vec![
            row(0, 1.0, 5.0, Some(9.0)),
            row(0, 2.0, 900.0, Some(0.1)),
            row(0, 2.0, 1000.0, Some(0.3)),
            row(0, 3.0, 1100.0, None),
            row(1, 2.5, 800.0, Some(0.2)),
        ];
        let s = seconds(&rows);
        let run0 = &s[&("r".to_string(), 1000, 0)];
        assert_eq!(run0.len(), 2, "the warm-up is left out");
        assert_eq!(run0[0].throughput_tps, 1000.0);
        assert!((run0[0].latency_p50_s.expect("p50") - 0.2).abs() < 1e-12);
        assert_eq!(run0[1].latency_p50_s, None);
        assert_eq!(s[&("r".to_string(), 1000, 1)].len(), 1);
    }
}
