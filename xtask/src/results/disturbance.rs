//! Whether a measured window was disturbed by something other than the code under test: a
//! stall, a trend, or a busy host. A disturbed point's figures describe the machine as much as
//! the code, so the benchmark says so and `compare` does not trust it.
//!
//! The levels, applied to the per-second figures of the measured window
//! ([`super::seconds`]):
//! - **stall**: the committed rate stays below [`STALL_FRACTION`] of the offered load for
//!   [`STALL_SECONDS`] or more, outside a fault (a crash event is an instant, a network
//!   partition lasts its window) and the [`FAULT_GRACE_S`] seconds after it;
//! - **trend**: the mean committed rate or p50 latency of the window's second half differs
//!   from the first half's by more than [`TREND_RELATIVE`] and by more than [`TREND_ERRORS`]
//!   standard errors of that difference (not checked when a fault event falls in the window);
//! - **host pressure**: over the window, some task waited for a CPU or for I/O more than
//!   [`PRESSURE_LEVEL`] of the time (`/proc/pressure`), or the hypervisor took more than
//!   [`STEAL_LEVEL`] of the CPU time (steal), or the CPUs idled with I/O outstanding more than
//!   [`IOWAIT_LEVEL`] of it.

use super::seconds::Second;

/// A stall: committed rate below this fraction of the offered load...
pub const STALL_FRACTION: f64 = 0.5;
/// ...for at least this long.
pub const STALL_SECONDS: f64 = 2.0;
/// Seconds after a fault event during which a low rate is the fault's, not a stall.
pub const FAULT_GRACE_S: f64 = 5.0;
/// A trend: the halves' means differ by more than this fraction...
pub const TREND_RELATIVE: f64 = 0.10;
/// ...and by more than this many standard errors of the difference.
pub const TREND_ERRORS: f64 = 3.0;
/// Host pressure: fraction of the window some task waited for a CPU, or for I/O.
pub const PRESSURE_LEVEL: f64 = 0.30;
/// Host pressure: fraction of CPU time stolen by the hypervisor.
pub const STEAL_LEVEL: f64 = 0.10;
/// Host pressure: fraction of CPU time idle with I/O outstanding.
pub const IOWAIT_LEVEL: f64 = 0.20;

/// What disturbed a window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Disturbance {
    /// One sentence per finding; empty when the window looks clean.
    pub reasons: Vec<String>,
    /// Per second of the input: whether it lies in a stall.
    pub stalled: Vec<bool>,
}

impl Disturbance {
    /// The reasons as one cell (`; ` between them).
    pub fn summary(&self) -> String {
        self.reasons.join("; ")
    }
}

/// How long each second lasted: the time since the previous one (the first as the second).
fn durations(seconds: &[Second]) -> Vec<f64> {
    let mut out: Vec<f64> = seconds
        .windows(2)
        .map(|w| (w[1].at_s - w[0].at_s).max(0.0))
        .collect();
    out.insert(0, out.first().copied().unwrap_or(1.0));
    out
}

fn stalls(seconds: &[Second], offered_tps: f64, faults: &[(f64, f64)]) -> (Vec<bool>, Vec<String>) {
    let lengths = durations(seconds);
    let mut stalled = vec![false; seconds.len()];
    let mut reasons = Vec::new();
    let excused = |i: usize| {
        let start = seconds[i].at_s - lengths[i];
        faults
            .iter()
            .any(|&(from, to)| from <= seconds[i].at_s && to + FAULT_GRACE_S >= start)
    };
    let low = |i: usize| seconds[i].throughput_tps < STALL_FRACTION * offered_tps && !excused(i);
    let mut i = 0;
    while i < seconds.len() {
        if !low(i) {
            i += 1;
            continue;
        }
        let start = i;
        while i < seconds.len() && low(i) {
            i += 1;
        }
        let length: f64 = lengths[start..i].iter().sum();
        if length >= STALL_SECONDS {
            stalled[start..i].iter_mut().for_each(|s| *s = true);
            reasons.push(format!(
                "stall: committed below {:.0}% of the offered load for {length:.1} s from {:.1} s",
                STALL_FRACTION * 100.0,
                seconds[start].at_s - lengths[start]
            ));
        }
    }
    (stalled, reasons)
}

fn mean_and_variance(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, variance)
}

/// The trend of one figure between the window's halves, if beyond the levels.
fn trend(values: &[f64], what: &str, show: impl Fn(f64) -> String) -> Option<String> {
    if values.len() < 6 {
        return None;
    }
    let (first, second) = values.split_at(values.len() / 2);
    let (m1, v1) = mean_and_variance(first);
    let (m2, v2) = mean_and_variance(second);
    let difference = (m2 - m1).abs();
    let error = (v1 / first.len() as f64 + v2 / second.len() as f64).sqrt();
    (difference > TREND_RELATIVE * m1.abs().max(m2.abs()) && difference > TREND_ERRORS * error)
        .then(|| {
            format!(
                "trend: {what} {} in the first half of the window, {} in the second",
                show(m1),
                show(m2)
            )
        })
}

fn host_pressure(seconds: &[Second]) -> Vec<String> {
    let samples: Vec<_> = seconds.iter().filter_map(|s| s.host).collect();
    if samples.is_empty() {
        return Vec::new();
    }
    let mean = |values: Vec<f64>| {
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };
    let checks = [
        (
            "CPU pressure (some task waiting for a CPU)",
            mean(samples.iter().filter_map(|p| p.cpu_pressure).collect()),
            PRESSURE_LEVEL,
        ),
        (
            "I/O pressure (some task waiting for I/O)",
            mean(samples.iter().filter_map(|p| p.io_pressure).collect()),
            PRESSURE_LEVEL,
        ),
        (
            "CPU steal",
            mean(samples.iter().map(|p| p.steal).collect()),
            STEAL_LEVEL,
        ),
        (
            "iowait",
            mean(samples.iter().map(|p| p.iowait).collect()),
            IOWAIT_LEVEL,
        ),
    ];
    checks
        .into_iter()
        .filter_map(|(what, value, level)| {
            let value = value?;
            (value > level).then(|| {
                format!(
                    "host pressure: {what} {:.0}% of the window (level {:.0}%)",
                    value * 100.0,
                    level * 100.0
                )
            })
        })
        .collect()
}

/// Looks for disturbances in the measured window's `seconds` of a run offered `offered_tps`,
/// whose faults were in effect over `faults` (from, to: seconds since start; a fault event
/// applied at t is `(t, t)`).
pub fn detect(seconds: &[Second], offered_tps: f64, faults: &[(f64, f64)]) -> Disturbance {
    let (stalled, mut reasons) = stalls(seconds, offered_tps, faults);
    let (start, end) = match (seconds.first(), seconds.last()) {
        (Some(first), Some(last)) => (first.at_s, last.at_s),
        _ => (0.0, 0.0),
    };
    let faults_inside = faults
        .iter()
        .any(|&(from, to)| to >= start - 1.0 && from <= end);
    if !faults_inside {
        let throughput: Vec<f64> = seconds.iter().map(|s| s.throughput_tps).collect();
        reasons.extend(trend(&throughput, "committed rate", |v| {
            format!("{v:.0} tx/s")
        }));
        let p50: Vec<f64> = seconds.iter().filter_map(|s| s.latency_p50_s).collect();
        reasons.extend(trend(&p50, "p50 latency", |v| {
            format!("{:.0} ms", v * 1000.0)
        }));
    }
    reasons.extend(host_pressure(seconds));
    Disturbance { reasons, stalled }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::{
        metrics::host::HostPressure,
        results::{csv_file, seconds, FaultRow, TimeseriesRow},
    };

    /// The measured seconds and applied fault times of a recorded crash-recovery point: 4
    /// validators, 2000 tx/s, validator 3 killed at 4 s and 12 s, restarted at 8 s.
    fn recorded() -> (Vec<Second>, Vec<(f64, f64)>) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/results/testdata/run-n4-f1cr");
        let point = "n4-f1-load2000-r0";
        let rows: Vec<TimeseriesRow> =
            csv_file::read_rows(&dir.join("timeseries.csv")).expect("recorded series");
        let rows: Vec<TimeseriesRow> = rows.into_iter().filter(|r| r.point == point).collect();
        let faults: Vec<FaultRow> = csv_file::read_rows(&dir.join("faults.csv")).expect("faults");
        let times = faults
            .iter()
            .filter(|f| f.point == point)
            .filter_map(|f| f.applied_at_s)
            .map(|t| (t, t))
            .collect();
        let window = seconds::seconds(&rows)
            .into_values()
            .next()
            .expect("a window");
        (window, times)
    }

    /// A steady series: `n` seconds at `tps` and 100 ms p50, with a ±5% wiggle.
    fn steady(n: usize, tps: f64) -> Vec<Second> {
        (0..n)
            .map(|i| {
                let wiggle = 1.0 + 0.05 * (((i * 7) % 5) as f64 / 2.0 - 1.0);
                Second {
                    at_s: 10.0 + i as f64,
                    throughput_tps: tps * wiggle,
                    latency_p50_s: Some(0.1 * wiggle),
                    ..Second::default()
                }
            })
            .collect()
    }

    #[test]
    fn dips_right_after_scheduled_faults_are_not_stalls() {
        let (window, faults) = recorded();
        assert!(window.iter().any(|s| s.throughput_tps < 1000.0), "a dip");
        let d = detect(&window, 2000.0, &faults);
        assert!(d.reasons.is_empty(), "{:?}", d.reasons);
    }

    #[test]
    fn a_recorded_series_with_seconds_of_nothing_committed_is_a_stall() {
        let (mut window, _) = recorded();
        for s in window.iter_mut().skip(3).take(3) {
            s.throughput_tps = 150.0;
        }
        // Without its fault events, those seconds and the recorded dip at 5 s before them
        // stall the system.
        let d = detect(&window, 2000.0, &[]);
        let stalls: Vec<&String> = d
            .reasons
            .iter()
            .filter(|r| r.starts_with("stall"))
            .collect();
        assert_eq!(stalls.len(), 1, "{:?}", d.reasons);
        assert!(stalls[0].contains("for 4.0 s from 4.0 s"), "{}", stalls[0]);
        assert_eq!(d.stalled.iter().filter(|s| **s).count(), 4);
        assert!(!d.stalled[1] && d.stalled[2] && d.stalled[5] && !d.stalled[6]);
        // With them, every low second lies within the grace after a fault event.
        let (_, faults) = recorded();
        assert!(detect(&window, 2000.0, &faults).reasons.is_empty());
        // One low second is not a stall.
        let mut window = steady(10, 2000.0);
        window[4].throughput_tps = 0.0;
        assert!(detect(&window, 2000.0, &[]).reasons.is_empty());
    }

    #[test]
    fn halves_that_differ_beyond_their_noise_are_a_trend() {
        assert!(detect(&steady(20, 5000.0), 5000.0, &[]).reasons.is_empty());
        let mut rising = steady(20, 5000.0);
        for s in rising.iter_mut().skip(10) {
            s.latency_p50_s = s.latency_p50_s.map(|p| p * 1.5);
        }
        let d = detect(&rising, 5000.0, &[]);
        assert_eq!(
            d.reasons,
            vec!["trend: p50 latency 100 ms in the first half of the window, 150 ms in the second"]
        );
        // A fault event inside the window explains a change: no trend is looked for.
        assert!(detect(&rising, 5000.0, &[(15.0, 15.0)]).reasons.is_empty());
    }

    /// Nothing committed while a partition lasts, and in the grace after its heal, is the
    /// fault's; a stall that outlasts the grace is still one.
    #[test]
    fn a_partition_excuses_the_seconds_it_lasts_and_its_grace() {
        let mut window = steady(30, 2000.0);
        // The window's seconds end at 10..39 s; the partition lasts from 14 s to 24 s.
        for s in window.iter_mut().skip(4).take(12) {
            s.throughput_tps = 0.0;
        }
        let partition = [(14.0, 24.0)];
        let d = detect(&window, 2000.0, &partition);
        assert!(d.reasons.is_empty(), "{:?}", d.reasons);
        // As an instant at its start, the later seconds stall.
        let d = detect(&window, 2000.0, &[(14.0, 14.0)]);
        assert!(
            d.reasons.iter().any(|r| r.starts_with("stall")),
            "{:?}",
            d.reasons
        );
        // Past the grace after the heal, a low rate is a stall again.
        for s in window.iter_mut().skip(16).take(12) {
            s.throughput_tps = 0.0;
        }
        let d = detect(&window, 2000.0, &partition);
        assert!(
            d.reasons.iter().any(|r| r.contains("from 30.0 s")),
            "{:?}",
            d.reasons
        );
    }

    #[test]
    fn a_busy_host_is_named_with_its_level() {
        let with = |cpu_pressure: f64| {
            let mut window = steady(10, 1000.0);
            for s in window.iter_mut() {
                s.host = Some(HostPressure {
                    cpu_busy: 0.9,
                    cpu_pressure: Some(cpu_pressure),
                    ..HostPressure::default()
                });
            }
            detect(&window, 1000.0, &[]).reasons
        };
        assert!(with(0.1).is_empty());
        assert_eq!(
            with(0.5),
            vec!["host pressure: CPU pressure (some task waiting for a CPU) 50% of the window (level 30%)"]
        );
    }
}
