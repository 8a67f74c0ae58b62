use std::path::{Path, PathBuf};

use super::*;
use crate::results::{append_rows, run_dir};

/// `summary.csv` of a real local sweep: 4 validators, loads 2000, 8000 and 20000 tx/s, two
/// repeats each.
fn recorded() -> Vec<SummaryRow> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/results/testdata/summary-n4.csv");
    run_dir::summary_rows(&path).expect("recorded summary")
}

/// The recorded rows with `change` applied to the rows of one load.
fn changed(load: u64, change: impl Fn(&mut SummaryRow)) -> Vec<SummaryRow> {
    let mut rows = recorded();
    for row in rows.iter_mut().filter(|r| r.load == load) {
        change(row);
    }
    rows
}

fn scale(value: Option<f64>, factor: f64) -> Option<f64> {
    value.map(|v| v * factor)
}

fn write(dir: &Path, name: &str, rows: &[SummaryRow]) -> PathBuf {
    let path = dir.join(name);
    append_rows(&path, rows).expect("write rows");
    path
}

#[test]
fn the_recorded_set_has_repeats_at_three_loads() {
    let rows = recorded();
    let c = compare(&rows, &rows, Thresholds::default());
    let loads: Vec<u64> = c.points.iter().map(|p| p.key.load).collect();
    assert_eq!(loads, vec![2000, 8000, 20000]);
    assert!(c.points.iter().all(|p| p.base.repeats == 2));
    assert!(c.regressed().is_empty());
    assert!(c.only_in_base.is_empty() && c.only_in_head.is_empty());
}

#[test]
fn a_throughput_drop_beyond_the_threshold_is_a_regression() {
    let base = recorded();
    let head = changed(20000, |r| r.throughput_tps *= 0.85);
    let c = compare(&base, &head, Thresholds::default());
    let regressed: Vec<(u64, Vec<&str>)> = c
        .regressed()
        .iter()
        .map(|p| (p.key.load, p.regressions()))
        .collect();
    assert_eq!(regressed, vec![(20000, vec!["throughput"])]);
    let point = &c.points[2];
    let drop = point.throughput.relative.expect("relative");
    assert!((drop + 0.15).abs() < 1e-9, "{drop}");
    let text = render(&c);
    assert!(text.contains("REGRESSION: throughput"), "{text}");
    assert!(text.contains("-15.0%"), "{text}");
    assert!(text.contains("1 of 3 common point(s) regressed"), "{text}");
    let mut commit: String = base[0].git_commit.chars().take(10).collect();
    if base[0].git_dirty {
        commit.push_str("-dirty");
    }
    assert!(
        text.contains(&format!(
            "base: run sweep-n4; commit {commit}; testbed local/local"
        )),
        "{text}"
    );
}

#[test]
fn a_latency_rise_beyond_the_threshold_is_a_regression() {
    let base = recorded();
    let head = changed(8000, |r| r.latency_p99_s = scale(r.latency_p99_s, 1.5));
    let c = compare(&base, &head, Thresholds::default());
    let regressed: Vec<(u64, Vec<&str>)> = c
        .regressed()
        .iter()
        .map(|p| (p.key.load, p.regressions()))
        .collect();
    assert_eq!(regressed, vec![(8000, vec!["p99"])]);
}

#[test]
fn changes_within_the_thresholds_are_not_flagged() {
    let base = recorded();
    let mut head = base.clone();
    for row in &mut head {
        row.throughput_tps *= 0.97;
        row.latency_p50_s = scale(row.latency_p50_s, 1.08);
        row.latency_p99_s = scale(row.latency_p99_s, 1.08);
    }
    let c = compare(&base, &head, Thresholds::default());
    assert!(c.regressed().is_empty(), "{}", render(&c));
    // The same change regresses under stricter thresholds.
    let strict = Thresholds {
        throughput_drop: 0.02,
        latency_rise: 0.05,
    };
    assert_eq!(compare(&base, &head, strict).regressed().len(), 3);
}

#[test]
fn a_change_within_the_repeat_spread_is_not_flagged() {
    let row = |tps: f64, repeat: usize| SummaryRow {
        committee: 4,
        load: 10_000,
        repeat,
        throughput_tps: tps,
        latency_p50_s: Some(0.2),
        latency_p99_s: Some(0.5),
        ..SummaryRow::default()
    };
    // Base repeats range over 9000..10000; head's median is 8% lower, inside that range.
    let base = vec![row(9000.0, 0), row(10_000.0, 1), row(9600.0, 2)];
    let head = vec![row(8900.0, 0), row(8832.0, 1), row(9100.0, 2)];
    let c = compare(&base, &head, Thresholds::default());
    let p = &c.points[0];
    assert!(p.throughput.beyond_threshold && p.throughput.within_spread);
    assert!(c.regressed().is_empty());
    assert!(render(&c).contains("ok (within spread)"));
    // A single repeat per side has no spread: the same medians now regress.
    let c = compare(&[row(9600.0, 0)], &[row(8900.0, 0)], Thresholds::default());
    assert_eq!(c.regressed().len(), 1);
}

#[test]
fn interrupted_rows_are_left_out() {
    let base = recorded();
    let head = changed(2000, |r| {
        r.interrupted = true;
        r.throughput_tps = 0.0;
    });
    let c = compare(&base, &head, Thresholds::default());
    assert!(c.regressed().is_empty());
    assert_eq!(c.interrupted, (0, 2));
    assert_eq!(
        c.only_in_base.len(),
        1,
        "the 2000 tx/s point has no usable head row"
    );
}

#[test]
fn mismatched_points_are_reported() {
    let base = recorded();
    let mut head: Vec<SummaryRow> = base.iter().filter(|r| r.load != 20000).cloned().collect();
    head.extend(base.iter().filter(|r| r.load == 2000).map(|r| SummaryRow {
        committee: 7,
        ..r.clone()
    }));
    head.extend(base.iter().filter(|r| r.load == 8000).map(|r| SummaryRow {
        transaction_size: 128,
        ..r.clone()
    }));
    let c = compare(&base, &head, Thresholds::default());
    assert_eq!(c.points.len(), 2);
    let only_base: Vec<String> = c.only_in_base.iter().map(ToString::to_string).collect();
    let only_head: Vec<String> = c.only_in_head.iter().map(ToString::to_string).collect();
    assert_eq!(only_base, vec!["n4 f0, load 20000 tx/s, 512 B tx, w3 l1"]);
    assert_eq!(
        only_head,
        vec![
            "n4 f0, load 8000 tx/s, 128 B tx, w3 l1",
            "n7 f0, load 2000 tx/s, 512 B tx, w3 l1"
        ]
    );
    let text = render(&c);
    assert!(text.contains("only in base"), "{text}");
    assert!(text.contains("only in head"), "{text}");
}

#[test]
fn files_with_no_common_point_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let base = write(dir.path(), "base.csv", &recorded());
    let head_rows: Vec<SummaryRow> = recorded()
        .into_iter()
        .map(|r| SummaryRow { faults: 1, ..r })
        .collect();
    let head = write(dir.path(), "head.csv", &head_rows);
    let err = compare_paths(&base, &head, Thresholds::default()).expect_err("nothing common");
    let text = format!("{err:#}");
    assert!(text.contains("no common point"), "{text}");
    assert!(text.contains("n4 f1"), "head's points are listed: {text}");
}

#[test]
fn a_csv_of_an_older_schema_is_refused_with_the_missing_columns() {
    let dir = tempfile::tempdir().expect("tmp");
    let base = write(dir.path(), "base.csv", &recorded());
    let text = std::fs::read_to_string(&base).expect("read");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().expect("header").clone();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| !matches!(&header[i], "parameters_hash" | "latency_p99_s"))
        .collect();
    let old = dir.path().join("old.csv");
    let mut writer = csv::Writer::from_path(&old).expect("old");
    writer
        .write_record(keep.iter().map(|&i| &header[i]))
        .expect("header");
    for record in reader.records() {
        let record = record.expect("record");
        writer
            .write_record(keep.iter().map(|&i| &record[i]))
            .expect("row");
    }
    writer.flush().expect("flush");
    let err = compare_paths(&base, &old, Thresholds::default()).expect_err("old schema");
    let text = format!("{err:#}");
    assert!(
        text.contains("missing columns parameters_hash, latency_p99_s"),
        "{text}"
    );
    assert!(text.contains("old.csv"), "{text}");

    let foreign = dir.path().join("other-tool.csv");
    std::fs::write(&foreign, "time,tps,latency_ms\n1,1000,250\n").expect("foreign");
    let err = compare_paths(&foreign, &base, Thresholds::default()).expect_err("foreign");
    assert!(
        format!("{err:#}").contains("missing columns run_id, date"),
        "{err:#}"
    );
}

#[test]
fn run_directories_compare_like_their_summary_files() {
    let dir = tempfile::tempdir().expect("tmp");
    let run = dir.path().join("run-a");
    write(&run, "summary.csv", &recorded());
    let head = write(
        dir.path(),
        "head.csv",
        &changed(2000, |r| r.throughput_tps *= 0.5),
    );
    let c = compare_paths(&run, &head, Thresholds::default()).expect("compare");
    assert_eq!(c.regressed().len(), 1);
}
