//! The saturation search end to end on the local testbed: a ceiling planted with node
//! parameters (each block's payload capped at `max_block_bytes`, at most one own block per
//! `min_round_delay_ms`) is found within the search's interval, every load tried is an
//! ordinary row, and `compare` of two saturation runs calls a lowered ceiling a regression.

mod common;

use std::path::Path;

use clap::Parser;
use xtask::{
    cli::{Cli, Command},
    results::{rtt::RoundTrips, saturation::SaturationRecord, SummaryRow},
    settings::SettingsFile,
};

/// Benchmarks measure this machine, and an interrupt is seen by every command of the
/// process: the tests that run one hold this lock.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn local_settings(results: &Path) -> xtask::settings::LoadedSettings {
    let mut settings = SettingsFile::local_default();
    let base = common::free_base_port(4);
    settings.base_port = base;
    settings.metrics_base_port = base + 1000;
    settings.results_directory = Some(results.to_path_buf());
    settings.validate().expect("valid local settings")
}

const BLOCK_BYTES: usize = 16_384;
const ROUND_DELAY_MS: u64 = 100;
const TX_SIZE: usize = 512;

#[test]
fn the_search_finds_a_planted_ceiling_within_its_interval() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tmp");
    let settings = local_settings(dir.path());
    let (block, delay, size) = (
        BLOCK_BYTES.to_string(),
        ROUND_DELAY_MS.to_string(),
        TX_SIZE.to_string(),
    );
    let args = common::bench_args(
        4,
        &[
            "--find-saturation",
            "--start-load",
            "500",
            "--resolution",
            "0.1",
            "--knee-repeats",
            "1",
            "--max-runs",
            "8",
            "--transaction-size",
            &size,
            "--plant-max-block-bytes",
            &block,
            "--plant-min-round-delay-ms",
            &delay,
            "--run-id",
            "search",
        ],
    );
    let rows = xtask::commands::bench::rows(&settings, &args).expect("the search runs");
    let run = dir.path().join("search");
    let record = SaturationRecord::find(&run)
        .expect("readable")
        .expect("saturation.json in the run directory");

    // Every load tried is an ordinary row, in order, and the record says which held.
    let summary: Vec<SummaryRow> = common::read_rows(&run.join("summary.csv"));
    assert_eq!(summary.len(), rows.len());
    assert_eq!(record.runs, rows.len());
    assert!(rows.len() <= 8, "--max-runs 8: {} runs", rows.len());
    for (point, row) in record.points.iter().zip(&summary) {
        assert_eq!(
            (point.load, point.repeat),
            (row.point.load, row.point.repeat)
        );
        let holds = row.measured.throughput_tps >= 0.95 * row.point.load as f64;
        assert_eq!(point.held, holds, "{point:?}");
    }
    assert!(run.join("timeseries.csv").is_file());
    // The local testbed has no network between hosts: no round trip is claimed.
    assert!(summary
        .iter()
        .all(|r| r.round_trips == RoundTrips::default()));
    assert!(!run.join("rtt.csv").exists());

    // The interval brackets the ceiling the knob plants: a load above it cannot be committed
    // (each validator proposes at most BLOCK_BYTES of transactions a round), and the search
    // held up to most of it.
    let (low, high) = (
        record.interval_low_tps.expect("a load held in every run"),
        record
            .interval_high_tps
            .expect("a load failed in every run"),
    );
    let answer = record.saturation_tps.expect("an answer");
    assert!(low <= answer && answer < high, "{record:?}");
    let rounds = summary
        .iter()
        .map(|r| r.measured.rounds_per_s)
        .fold(0.0, f64::max);
    let cap = 4.0 * (BLOCK_BYTES / TX_SIZE) as f64 * rounds;
    assert!(
        (high as f64) <= cap / 0.95 * 1.1,
        "failed above the planted cap {cap:.0}: [{low}, {high}]"
    );
    assert!(
        low as f64 >= cap * 0.5,
        "held far below the planted cap {cap:.0}: [{low}, {high}]"
    );
    assert!(
        high as f64 <= low as f64 * 2.0,
        "a narrow interval: [{low}, {high}]"
    );
}

fn compare(base: &Path, head: &Path) -> i32 {
    let argv = [
        "xtask",
        "compare",
        base.to_str().expect("utf-8"),
        head.to_str().expect("utf-8"),
    ];
    let Command::Compare(args) = Cli::try_parse_from(argv).expect("parse").command else {
        panic!("not compare")
    };
    let common = SettingsFile::local_default()
        .validate()
        .expect("local settings")
        .common;
    match xtask::commands::compare::run_results(&common, args) {
        Ok(()) => 0,
        Err(e) => xtask::commands::exit_code(&e),
    }
}

fn saturation_run(
    parent: &Path,
    name: &str,
    answer: u64,
    low: u64,
    high: u64,
) -> std::path::PathBuf {
    let run = parent.join(name);
    std::fs::create_dir_all(&run).expect("run dir");
    let text = serde_json::json!({
        "run_id": name, "committee": 4, "saturation_tps": answer, "failed_tps": high,
        "interval_low_tps": low, "interval_high_tps": high, "committed_tps": answer as f64,
        "stop": "converged", "converged": true, "runs": 9, "elapsed_s": 300.0, "slo": "",
        "tolerance": 0.05, "start_tps": 10000, "max_load_tps": 10000000, "growth": 2.0,
        "resolution": 0.05, "knee_repeats": 3, "max_runs": null, "max_time_s": null,
        "points": [],
    });
    std::fs::write(run.join("saturation.json"), text.to_string()).expect("write");
    run
}

#[test]
fn compare_of_two_saturation_runs_compares_their_ceilings() {
    let dir = tempfile::tempdir().expect("tmp");
    let base = saturation_run(dir.path(), "base", 400_000, 390_000, 420_000);
    let same = saturation_run(dir.path(), "same", 405_000, 395_000, 425_000);
    let lower = saturation_run(dir.path(), "lower", 300_000, 290_000, 310_000);
    assert_eq!(
        compare(&base, &same),
        0,
        "overlapping intervals: no regression"
    );
    assert_eq!(compare(&base, &lower), 1, "a lower ceiling: a regression");
    assert_eq!(compare(&lower, &base), 0, "a higher ceiling: no regression");
}

#[test]
fn an_interrupted_search_keeps_what_it_measured() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tmp");
    let settings = local_settings(dir.path());
    let args = common::bench_args(
        60,
        &[
            "--find-saturation",
            "--start-load",
            "1000",
            "--run-id",
            "cut",
        ],
    );
    let metrics_base = settings.common.ports.metrics_base;
    let urls: Vec<String> = (0..4)
        .map(|i| format!("http://127.0.0.1:{}/metrics", metrics_base + i))
        .collect();
    // Ctrl-C once every validator of the first load is 2 s into its 60 s window.
    common::interrupt_bench(std::time::Duration::from_secs(120), &urls, || {
        xtask::commands::bench::rows(&settings, &args)
    });
    let row = common::interrupted_row(dir.path(), "cut", 60.0);
    assert_eq!(row.point.load, 1000);
    let record = SaturationRecord::find(&dir.path().join("cut"))
        .expect("readable")
        .expect("saturation.json written after the interrupt");
    assert_eq!(record.stop, "interrupted");
    assert_eq!((record.runs, record.points.len()), (1, 1));
    assert!(!record.points[0].held, "a run cut short does not hold");
    assert_eq!(record.saturation_tps, None);
}

#[test]
fn compare_base_refuses_the_search_and_says_what_to_run() {
    let dir = tempfile::tempdir().expect("tmp");
    let settings = local_settings(dir.path());
    let argv = ["xtask", "compare", "--base", "HEAD", "--find-saturation"];
    let Command::Compare(args) = Cli::try_parse_from(argv).expect("parse").command else {
        panic!("not compare")
    };
    let err = xtask::commands::compare::run(&settings, args).expect_err("refused");
    let text = format!("{err:#}");
    assert!(
        text.contains("--find-saturation is a flag of `bench`")
            && text.contains("cargo xtask compare BASE HEAD"),
        "{text}"
    );
    assert_eq!(xtask::commands::exit_code(&err), 2);
}
