//! End-to-end: short benchmarks on the local testbed with the real node, checked through the
//! files they write and the processes they leave (none).

mod common;

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
};

use xtask::{cli::BenchArgs, results::SummaryRow, settings::SettingsFile};

/// Benchmarks measure this machine: two at once would distort each other's figures.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Bench arguments for a 2 s warm-up and a 6 s window plus `extra` (split at spaces).
fn bench_args(extra: &str) -> BenchArgs {
    let extra: Vec<&str> = extra.split_whitespace().collect();
    common::bench_args(6, &extra)
}

/// The serial lock, a results directory and local settings writing there.
fn local_testbed() -> (
    std::sync::MutexGuard<'static, ()>,
    tempfile::TempDir,
    xtask::settings::LoadedSettings,
) {
    let serial = serial();
    let dir = tempfile::tempdir().expect("tmp");
    let settings = settings_with_results(dir.path());
    (serial, dir, settings)
}

fn settings_with_results(results: &Path) -> xtask::settings::LoadedSettings {
    let mut settings = SettingsFile::local_default();
    let base = common::free_base_port(16);
    settings.base_port = base;
    settings.metrics_base_port = base + 1000;
    settings.results_directory = Some(results.to_path_buf());
    settings.validate().expect("valid local settings")
}

use common::{assert_safe_under_faults, read_rows};

/// Asserts that no process runs `binary` (the node of this workspace's release build).
fn assert_no_node_left(binary: &Path) {
    assert!(
        node_processes(binary).is_empty(),
        "node processes left behind"
    );
}

/// Asserts that `row` committed more than `tps` transactions per second.
fn assert_throughput_above(row: &SummaryRow, tps: f64) {
    assert!(
        row.measured.throughput_tps > tps,
        "throughput {}",
        row.measured.throughput_tps
    );
}

/// Processes still running the node binary of this workspace's release build.
fn node_processes(binary: &Path) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if std::fs::read_link(entry.path().join("exe")).ok().as_deref() == Some(binary) {
            pids.push(pid);
        }
    }
    pids
}

fn node_binary() -> PathBuf {
    let root = xtask::workspace::root().expect("the tests run inside the workspace");
    xtask::builder::build_node(&root, None)
        .expect("node builds")
        .path
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.chars().all(|c| c.is_ascii_hexdigit())
}

/// Every provenance column of a row of a local run with `bench_args` (warm-up 2 s, 6 s
/// measured), run between `started` and `finished`, is filled with what really ran.
fn assert_provenance(
    row: &SummaryRow,
    started: chrono::DateTime<chrono::Utc>,
    finished: chrono::DateTime<chrono::Utc>,
) {
    assert_eq!(row.provenance.run_id, "e2e");
    let date = chrono::DateTime::parse_from_rfc3339(&row.provenance.date)
        .expect("RFC 3339 date")
        .with_timezone(&chrono::Utc);
    // The date is written in whole seconds.
    let started = started - chrono::Duration::seconds(1);
    assert!(
        started <= date && date <= finished,
        "date {} is not between the start {started} and the end {finished} of the run",
        row.provenance.date
    );
    let root = xtask::workspace::root().expect("the tests run inside the workspace");
    let (commit, dirty) = xtask::builder::source::git_state(&root);
    assert!(
        is_hex(&row.provenance.git_commit, 40),
        "git commit {}",
        row.provenance.git_commit
    );
    assert_eq!(
        (row.provenance.git_commit.as_str(), row.provenance.git_dirty),
        (commit.as_str(), dirty)
    );
    let binary = xtask::builder::file_sha256(&node_binary()).expect("hash the node");
    assert_eq!(
        row.provenance.node_hash, binary,
        "the hash of the binary that ran"
    );
    assert!(
        is_hex(&row.provenance.settings_hash, 16),
        "{}",
        row.provenance.settings_hash
    );
    assert!(
        is_hex(&row.provenance.parameters_hash, 16),
        "{}",
        row.provenance.parameters_hash
    );
    assert_eq!(row.provenance.provider, "local");
    assert_eq!(row.provenance.regions, "local");
    assert_eq!(row.provenance.instance_type, "local");
    assert_eq!(
        (row.point.committee, row.point.faults, row.point.load),
        (4, 0, 2000)
    );
    assert_eq!(row.point.transaction_size, 512);
    assert_eq!((row.point.warmup_s, row.point.duration_s), (2, 6));
    assert_eq!(
        (
            row.point.wave_length,
            row.point.leaders,
            row.point.leader_wait
        ),
        (3, 1, true)
    );
}

#[test]
fn local_bench_writes_plausible_results_and_leaves_no_process() {
    let (_serial, dir, settings) = local_testbed();
    let args = bench_args("--committee 4 --loads 2000 --run-id e2e");
    let started = chrono::Utc::now();
    let rows = xtask::commands::bench::rows(&settings, &args).expect("bench runs");
    let finished = chrono::Utc::now();
    assert_eq!(rows.len(), 1);

    let run = dir.path().join("e2e");
    let summary: Vec<SummaryRow> = read_rows(&run.join("summary.csv"));
    assert_eq!(summary, rows);
    let row = &summary[0];
    assert_eq!(row.measured.validators_observed, 4);
    // 2000 tx/s offered: the committed rate must be of that order, not zero or a multiple.
    assert!(
        row.measured.throughput_tps > 1000.0 && row.measured.throughput_tps < 3000.0,
        "throughput {}",
        row.measured.throughput_tps
    );
    let p50 = row.measured.latency_p50_s.expect("p50");
    let p99 = row.measured.latency_p99_s.expect("p99");
    assert!(p50 > 0.0 && p50 <= p99 && p99 < 10.0, "p50 {p50} p99 {p99}");
    assert!(row.measured.cpu_cores_mean > Some(0.0) && row.measured.memory_mib_max > Some(1.0));
    assert!(row.measured.rounds_per_s > 0.0 && row.measured.direct_commits > 0.0);
    assert!(
        row.measured.measured_s > 4.0,
        "measured {}",
        row.measured.measured_s
    );
    assert!(!row.checks.interrupted);
    assert_provenance(row, started, finished);
    assert_eq!(row.point.fault_mode.to_string(), "none");
    assert_eq!(row.point.fault_schedule, "");
    // The real run reads back through the schema check `compare` and `plot` use, and plots.
    assert_eq!(
        xtask::results::run_dir::summary_rows(&run).expect("schema check"),
        rows
    );
    let figures =
        xtask::results::plot::plot(std::slice::from_ref(&run), &run.join("plots")).expect("plot");
    assert_eq!(figures.len(), 6, "{figures:?}");
    assert!(figures.iter().all(|f| std::fs::metadata(f)
        .map(|m| m.len() > 5_000)
        .unwrap_or(false)));

    let timeseries: Vec<xtask::results::TimeseriesRow> = read_rows(&run.join("timeseries.csv"));
    assert!(timeseries.len() >= 4 * 6, "{} scrapes", timeseries.len());
    assert!(timeseries.iter().any(|r| r.phase == "warmup"));
    assert!(timeseries
        .iter()
        .any(|r| r.phase == "measure" && r.throughput_tps > 0.0));
    let point = run.join("n4-f0-load2000-r0");
    assert!(point.join("committee.json").is_file());
    assert!(point.join("parameters.json").is_file());
    for i in 0..4 {
        let log = point.join(format!("logs/validator-{i}.log"));
        assert!(log.is_file(), "{}", log.display());
        let commits = point.join(format!("logs/commits-{i}.csv"));
        assert!(commits.is_file(), "{}", commits.display());
    }
    // The audit compared the four committed sequences; liveness counts the window's commits.
    assert!(
        row.checks.safety.to_string().starts_with("ok ("),
        "safety {}",
        row.checks.safety
    );
    let xtask::results::Safety::Ok { checked } = row.checks.safety else {
        panic!("safety {}", row.checks.safety)
    };
    assert!(checked >= 10, "safety {}", row.checks.safety);
    assert!(
        row.checks.liveness.ends_with(" s") && !row.checks.liveness.starts_with("0 "),
        "liveness {}",
        row.checks.liveness
    );
    assert!(
        std::fs::read_dir(&point)
            .expect("point dir")
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().contains("private")),
        "private keys must not be kept with the results"
    );
    let runs: Vec<SummaryRow> = read_rows(&dir.path().join("runs.csv"));
    assert_eq!(runs, rows);
    assert_no_node_left(&node_binary());
}

#[test]
fn an_interrupted_local_bench_keeps_its_partial_row_and_leaves_no_process() {
    let (_serial, dir, settings) = local_testbed();
    let args = common::bench_args(
        120,
        &["--committee", "4", "--loads", "2000", "--run-id", "cut"],
    );
    let metrics_base = settings.common.ports.metrics_base;
    let urls: Vec<String> = (0..4)
        .map(|i| format!("http://127.0.0.1:{}/metrics", metrics_base + i))
        .collect();
    // Built before, so that the wait below covers the run only.
    let binary = node_binary();
    // Ctrl-C once every validator is 2 s into the 120 s window (after the 2 s warm-up).
    common::interrupt_bench(std::time::Duration::from_secs(120), &urls, || {
        xtask::commands::bench::rows(&settings, &args)
    });
    common::interrupted_row(dir.path(), "cut", 120.0);
    for i in 0..4 {
        let log = dir
            .path()
            .join(format!("cut/n4-f0-load2000-r0/logs/validator-{i}.log"));
        assert!(log.is_file(), "{}", log.display());
    }
    assert_no_node_left(&binary);
}

#[test]
fn local_bench_commits_with_crashed_and_recovering_validators() {
    let (_serial, dir, settings) = local_testbed();
    let args = bench_args("--committee 4 --faults 1 --loads 1000 --run-id faults");
    let rows =
        xtask::commands::bench::rows(&settings, &args).expect("bench with a crashed validator");
    assert_eq!(rows[0].measured.validators_observed, 3);
    assert_throughput_above(&rows[0], 500.0);
    assert_eq!(rows[0].point.fault_mode.to_string(), "permanent");

    let args = bench_args(
        "--committee 4 --faults 1 --crash-recovery --crash-interval 3 --loads 1000 \
         --run-id recovery",
    );
    let rows = xtask::commands::bench::rows(&settings, &args).expect("bench with crash-recovery");
    // The restarted validator continued the same committed sequence.
    assert_safe_under_faults(&rows[0]);
    assert!(
        !rows[0].checks.liveness.starts_with("0 "),
        "{}",
        rows[0].checks.liveness
    );
    assert_throughput_above(&rows[0], 500.0);
    let faults = common::crashed_and_recovered(&dir.path().join("recovery/faults.csv"));
    let schedule: Vec<String> = faults
        .iter()
        .map(|f| format!("{}@{}s:{}", f.event, f.at_s, f.validator))
        .collect();
    assert_eq!(rows[0].point.fault_schedule, schedule.join(";"));
    assert_eq!(rows[0].point.fault_mode.to_string(), "crash-recovery");
    assert_no_node_left(&node_binary());
}

/// One Byzantine validator of 4 (equivocating): the honest validators commit, the summary
/// names the behaviour and the validator, and the figures are the honest validators'.
#[test]
fn local_bench_with_an_equivocating_validator() {
    let (_serial, dir, settings) = local_testbed();
    let args = bench_args(
        "--committee 4 --byzantine 1 --behaviour equivocate --loads 1000 --run-id byzantine",
    );
    let rows =
        xtask::commands::bench::rows(&settings, &args).expect("bench with a Byzantine validator");
    let row = &rows[0];
    assert_eq!(
        (
            row.point.byzantine,
            row.point
                .behaviour
                .map(|b| b.to_string())
                .unwrap_or_default(),
            row.point.byzantine_validators.as_str()
        ),
        (1, "equivocate".to_string(), "3")
    );
    assert_eq!(
        row.measured.validators_observed, 3,
        "the Byzantine validator is not counted"
    );
    assert_throughput_above(row, 500.0);
    let validators: Vec<xtask::results::ValidatorRow> =
        read_rows(&dir.path().join("byzantine/validators.csv"));
    let byzantine: Vec<usize> = validators
        .iter()
        .filter(|v| v.byzantine)
        .map(|v| v.validator)
        .collect();
    assert_eq!(byzantine, vec![3]);
    let log = std::fs::read_to_string(
        dir.path()
            .join("byzantine/n4-f0-b1-equivocate-load1000-r0/logs/validator-3.log"),
    )
    .expect("the Byzantine validator's log");
    assert!(log.contains("BYZANTINE VALIDATOR"), "not started Byzantine");
    assert_no_node_left(&node_binary());
}

#[test]
fn a_planted_fork_is_reported_fails_the_bench_and_is_refused_by_compare() {
    let (_serial, dir, settings) = local_testbed();
    let args = bench_args("--committee 4 --loads 1000 --plant-fork 3 --run-id forked");
    let err = xtask::commands::bench::rows(&settings, &args).expect_err("a fork fails the bench");
    let message = format!("{err:#}");
    assert!(message.contains("safety broken"), "{message}");
    // The results are written, the row says where the sequences parted.
    let run = dir.path().join("forked");
    let rows: Vec<SummaryRow> = read_rows(&run.join("summary.csv"));
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0]
            .checks
            .safety
            .to_string()
            .starts_with("fork at index 20: validators 0 and 3 (last agreed at index 10)"),
        "safety {}",
        rows[0].checks.safety
    );
    assert!(
        message.contains(&rows[0].checks.safety.to_string()),
        "{message}"
    );
    // `compare` does not use the row.
    let options = xtask::results::compare::Options::default();
    let err = xtask::results::compare::compare_paths(&run, &run, &options)
        .expect_err("nothing usable to compare");
    let message = format!("{err:#}");
    assert!(
        message.contains("left out, its safety audit found a fork at index 20"),
        "{message}"
    );
    assert_no_node_left(&node_binary());
}

#[test]
fn bad_inputs_fail_before_anything_starts() {
    let (_serial, dir, settings) = local_testbed();
    let err =
        xtask::commands::bench::rows(&settings, &bench_args("--loads 0")).expect_err("zero load");
    assert!(err.to_string().contains("load of 0"), "{err}");
    let err = xtask::commands::bench::rows(&settings, &bench_args("--committee 3 --faults 1"))
        .expect_err("committee too small");
    assert!(err.to_string().contains("3f+1"), "{err}");
    // A port of the range in use.
    let holder = TcpListener::bind(("127.0.0.1", settings.common.ports.base + 1)).expect("bind");
    let err = xtask::commands::bench::rows(&settings, &bench_args("--run-id busy"))
        .expect_err("port in use");
    assert!(
        format!("{err:#}").contains(&format!("port {}", settings.common.ports.base + 1)),
        "{err:#}"
    );
    drop(holder);
    assert!(
        !dir.path().join("runs.csv").exists(),
        "nothing measured, nothing written"
    );
}

#[test]
fn latency_matrix_delays_commits_by_the_emulated_distance() {
    let (_serial, dir, settings) = local_testbed();
    // Two regions 150 ms apart (one way); validators alternate between them, so every quorum
    // spans both and a commit needs several crossings.
    let matrix = dir.path().join("two-regions.csv");
    std::fs::write(&matrix, "region,near,far\nnear,1,150\nfar,150,1\n").expect("matrix");
    let matrix = matrix.to_str().expect("utf-8 path");
    let args = common::bench_args(
        6,
        &[
            "--loads",
            "1000",
            "--run-id",
            "geo",
            "--latency-matrix",
            matrix,
        ],
    );
    let rows = xtask::commands::bench::rows(&settings, &args).expect("bench with a latency matrix");
    let row = &rows[0];
    assert_throughput_above(row, 500.0);
    let p50 = row.measured.latency_p50_s.expect("p50");
    assert!(p50 > 0.3, "p50 {p50} s: the 150 ms links are not emulated");
    assert_eq!(row.point.latency_matrix, "two-regions");
    assert_eq!(row.provenance.regions, "near;far");
    let committee =
        std::fs::read_to_string(dir.path().join("geo/n4-f0-load1000-r0/committee.json"))
            .expect("committee");
    assert!(committee.contains("\"far\""), "{committee}");
}

#[test]
fn compare_with_head_runs_both_sides_interleaved_and_exits_zero() {
    use clap::Parser;
    let (_serial, dir, settings) = local_testbed();
    // The same code on both sides: thresholds wide enough that machine noise cannot make it
    // inconclusive (the verdict's arithmetic has its own tests).
    let cli = xtask::cli::Cli::try_parse_from([
        "xtask",
        "compare",
        "--base",
        "HEAD~0",
        "--loads",
        "2000",
        "--repeat",
        "2",
        "--warmup",
        "2",
        "--duration",
        "4",
        "--max-latency-rise",
        "1000%",
        "--max-throughput-drop",
        "90%",
        "--accept-disturbed",
        "--run-id",
        "ab",
    ])
    .expect("compare arguments");
    let xtask::cli::Command::Compare(args) = cli.command else {
        panic!("not compare")
    };
    xtask::commands::compare::run(&settings, args).expect("exit status 0");

    let run = dir.path().join("ab");
    let base: Vec<SummaryRow> = read_rows(&run.join("base/summary.csv"));
    let head: Vec<SummaryRow> = read_rows(&run.join("head/summary.csv"));
    assert_eq!((base.len(), head.len()), (2, 2));
    assert_eq!(base[0].provenance.run_id, "ab/base");
    assert_eq!(
        base[0].provenance.git_commit, head[0].provenance.git_commit,
        "both sides are HEAD"
    );
    let order: Vec<(String, usize)> =
        read_rows::<(usize, String, u64, usize, String)>(&run.join("plan.csv"))
            .into_iter()
            .map(|(_, side, _, repeat, _)| (side, repeat))
            .collect();
    let expected: Vec<(String, usize)> = [("base", 0), ("head", 0), ("head", 1), ("base", 1)]
        .into_iter()
        .map(|(s, r)| (s.to_string(), r))
        .collect();
    assert_eq!(order, expected);
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.join("comparison.json")).expect("comparison.json"),
    )
    .expect("JSON");
    assert_eq!(report["exit_code"], 0, "{report}");
    assert!(run.join("comparison.md").is_file());
    assert_no_node_left(&node_binary());
}
