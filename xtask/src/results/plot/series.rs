//! The data behind the plots: summary rows grouped into curves, time series into panels.

use std::collections::BTreeMap;

use crate::results::{compare::Spread, FaultRow, PointKey, SummaryRow, TimeseriesRow};

/// (x, y) points of one line.
pub(super) type Line = Vec<(f64, f64)>;

/// One measured point of a curve: the medians of its repeats.
#[derive(Clone, Debug, PartialEq)]
pub struct CurvePoint {
    /// Offered load, tx/s.
    pub load: u64,
    /// Committed throughput, tx/s.
    pub throughput: f64,
    /// Latency percentiles, ms.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// A line of the L-graph and of the throughput plot: one committee size, fault setting,
/// transaction size and protocol, over its loads.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    pub label: String,
    /// Points in increasing load.
    pub points: Vec<CurvePoint>,
}

/// Groups rows into curves (interrupted rows left out). Labels name the committee and faults,
/// plus the transaction size or protocol when the rows have several; simulated rows make
/// curves of their own, labelled `(sim)`.
pub fn curves(rows: &[SummaryRow]) -> Vec<Curve> {
    let mut groups: BTreeMap<(PointKey, bool), BTreeMap<u64, Vec<&SummaryRow>>> = BTreeMap::new();
    for row in rows.iter().filter(|r| !r.checks.interrupted) {
        groups
            .entry((PointKey::of(row).curve(), row.is_simulated()))
            .or_default()
            .entry(row.point.load)
            .or_default()
            .push(row);
    }
    let several = |f: fn(&PointKey) -> String| {
        let mut values: Vec<String> = groups.keys().map(|(k, _)| f(k)).collect();
        values.sort();
        values.dedup();
        values.len() > 1
    };
    let show_size = several(|k| k.transaction_size.to_string());
    let show_protocol = several(|k| k.protocol());
    groups
        .iter()
        .map(|((key, simulated), loads)| {
            let mut label = key.curve_label(show_size, show_protocol);
            if *simulated {
                label.push_str(" (sim)");
            }
            let points = loads
                .iter()
                .filter_map(|(&load, rows)| {
                    let median = |f: fn(&SummaryRow) -> Option<f64>| {
                        let values: Vec<f64> = rows.iter().filter_map(|r| f(r)).collect();
                        Spread::of(&values).map(|s| s.median)
                    };
                    Some(CurvePoint {
                        load,
                        throughput: median(|r| Some(r.measured.throughput_tps))?,
                        p50_ms: median(|r| r.measured.latency_p50_s).map(|s| s * 1000.0),
                        p99_ms: median(|r| r.measured.latency_p99_s).map(|s| s * 1000.0),
                    })
                })
                .collect();
            Curve { label, points }
        })
        .collect()
}

/// One point's time series, ready to draw.
#[derive(Clone, Debug, PartialEq)]
pub struct PointSeries {
    pub point: String,
    /// Committed tx/s of each validator: (seconds since start, tx/s), in segments broken where
    /// the validator was not scraped (down).
    pub throughput: BTreeMap<usize, Vec<Vec<(f64, f64)>>>,
    /// Per scrape round: median p50 over validators, ms.
    pub p50_ms: Vec<(f64, f64)>,
    /// Per scrape round: worst p99 over validators, ms.
    pub p99_ms: Vec<(f64, f64)>,
    /// End of the warm-up (first measured scrape), seconds.
    pub warmup_end: Option<f64>,
    /// Fault events as applied: (seconds, label).
    pub faults: Vec<(f64, String)>,
    /// Scrape intervals flagged as disturbed (a stall): (from, to) seconds.
    pub disturbed: Vec<(f64, f64)>,
}

/// The scrape interval: the median gap between one validator's consecutive scrapes.
fn scrape_interval(rows: &[&TimeseriesRow]) -> f64 {
    let mut by_validator: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for r in rows {
        by_validator
            .entry(r.validator)
            .or_default()
            .push(r.elapsed_s);
    }
    let mut gaps: Vec<f64> = Vec::new();
    for times in by_validator.values_mut() {
        times.sort_by(f64::total_cmp);
        gaps.extend(times.windows(2).map(|w| w[1] - w[0]));
    }
    Spread::of(&gaps).map_or(1.0, |s| s.median).max(1e-3)
}

/// Each validator's throughput in segments. A rate covers the time since the validator's
/// previous scrape, so the first scrape of a segment (the start, or the return after a gap of
/// more than 1.5 scrape intervals) has none and is left out.
fn throughput_segments(
    rows: &[&TimeseriesRow],
    interval: f64,
) -> BTreeMap<usize, Vec<Vec<(f64, f64)>>> {
    let mut by_validator: BTreeMap<usize, Vec<&TimeseriesRow>> = BTreeMap::new();
    for r in rows {
        by_validator.entry(r.validator).or_default().push(r);
    }
    by_validator
        .into_iter()
        .map(|(validator, mut rows)| {
            rows.sort_by(|a, b| a.elapsed_s.total_cmp(&b.elapsed_s));
            let mut segments: Vec<Vec<(f64, f64)>> = Vec::new();
            let mut previous: Option<f64> = None;
            for r in rows {
                match previous {
                    Some(p) if r.elapsed_s - p <= 1.5 * interval => {
                        if let Some(segment) = segments.last_mut() {
                            segment.push((r.elapsed_s, r.throughput_tps));
                        }
                    }
                    _ => segments.push(Vec::new()),
                }
                previous = Some(r.elapsed_s);
            }
            segments.retain(|s| !s.is_empty());
            (validator, segments)
        })
        .collect()
}

/// Splits a run's time series by point, with the fault events of each.
pub fn point_series(rows: &[TimeseriesRow], faults: &[FaultRow]) -> Vec<PointSeries> {
    let mut by_point: BTreeMap<&str, Vec<&TimeseriesRow>> = BTreeMap::new();
    for row in rows {
        by_point.entry(&row.point).or_default().push(row);
    }
    by_point
        .into_iter()
        .map(|(point, rows)| {
            let interval = scrape_interval(&rows);
            let (p50_ms, p99_ms) = latency_rounds(&rows, interval);
            PointSeries {
                point: point.to_string(),
                throughput: throughput_segments(&rows, interval),
                p50_ms,
                p99_ms,
                warmup_end: rows
                    .iter()
                    .filter(|r| r.is_measured())
                    .map(|r| r.elapsed_s)
                    .min_by(f64::total_cmp),
                faults: faults
                    .iter()
                    .filter(|f| f.point == point)
                    .filter_map(|f| {
                        f.applied_at_s
                            .map(|at| (at, format!("{} v{}", f.event, f.validator)))
                    })
                    .collect(),
                disturbed: rows
                    .iter()
                    .filter(|r| !r.disturbed.is_empty())
                    .map(|r| ((r.elapsed_s - interval).max(0.0), r.elapsed_s))
                    .collect(),
            }
        })
        .collect()
}

/// Latency per scrape round: rows binned by the scrape interval; each bin gives the median
/// p50 and the worst p99 over validators.
fn latency_rounds(rows: &[&TimeseriesRow], interval: f64) -> (Line, Line) {
    let mut bins: BTreeMap<i64, Vec<&TimeseriesRow>> = BTreeMap::new();
    for r in rows {
        bins.entry((r.elapsed_s / interval).round() as i64)
            .or_default()
            .push(r);
    }
    let mut p50 = Vec::new();
    let mut p99 = Vec::new();
    for rows in bins.values() {
        let times: Vec<f64> = rows.iter().map(|r| r.elapsed_s).collect();
        let Some(at) = Spread::of(&times).map(|s| s.median) else {
            continue;
        };
        let p50s: Vec<f64> = rows.iter().filter_map(|r| r.latency_p50_s).collect();
        if let Some(s) = Spread::of(&p50s) {
            p50.push((at, s.median * 1000.0));
        }
        let p99s: Vec<f64> = rows.iter().filter_map(|r| r.latency_p99_s).collect();
        if let Some(s) = Spread::of(&p99s) {
            p99.push((at, s.max * 1000.0));
        }
    }
    (p50, p99)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(validator: usize, elapsed_s: f64, tps: f64) -> TimeseriesRow {
        TimeseriesRow {
            point: "p".into(),
            validator,
            elapsed_s,
            throughput_tps: tps,
            phase: TimeseriesRow::MEASURE.into(),
            ..TimeseriesRow::default()
        }
    }

    #[test]
    fn a_validator_that_was_down_has_a_gap_not_a_line_across() {
        let mut rows: Vec<TimeseriesRow> = (0..10).map(|t| row(0, t as f64, 100.0)).collect();
        // Validator 1 crashed after t=3 and came back at t=7.
        rows.extend([0.0, 1.0, 2.0, 3.0, 7.0, 8.0, 9.0].map(|t| row(1, t, 50.0)));
        let series = point_series(&rows, &[]);
        let segments = &series[0].throughput;
        assert_eq!(segments[&0].len(), 1);
        assert_eq!(segments[&0][0].len(), 9, "first scrape has no rate");
        let starts: Vec<f64> = segments[&1].iter().map(|s| s[0].0).collect();
        assert_eq!(starts, vec![1.0, 8.0]);
    }
}
