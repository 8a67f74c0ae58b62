//! End-to-end on the simulated testbed: `bench` runs `node sim` (release build) and its
//! outputs become ordinary rows; one seed gives the same figures and commit logs; bad input
//! is refused before anything runs; `explore` finds a planted unsafe commit rule and replays
//! it, and passes the real one; `compare` refuses simulated against measured rows. Virtual
//! windows are short and committees small (the node's own tests cover the engine).

use std::path::{Path, PathBuf};

use clap::Parser;
use xtask::{
    cli::{BenchArgs, Cli, Command, ExploreArgs},
    results::Safety,
    settings::{CloudProvider, LoadedSettings, SettingsFile},
};

/// Settings of the sim testbed writing into `results`, seed `seed`.
fn sim_settings(results: &Path, seed: u64) -> LoadedSettings {
    let mut settings = SettingsFile::local_default();
    settings.cloud_provider = CloudProvider::Sim;
    settings.sim_seed = seed;
    settings.results_directory = Some(results.to_path_buf());
    settings.validate().expect("valid sim settings")
}

fn bench_args(line: &str) -> BenchArgs {
    let argv = ["xtask", "bench"]
        .into_iter()
        .chain(line.split_whitespace());
    match Cli::try_parse_from(argv).expect("bench arguments").command {
        Command::Bench(args) => args,
        _ => unreachable!("a bench command line parses as bench"),
    }
}

fn explore_args(line: &str) -> ExploreArgs {
    let argv = ["xtask", "explore"]
        .into_iter()
        .chain(line.split_whitespace());
    match Cli::try_parse_from(argv)
        .expect("explore arguments")
        .command
    {
        Command::Explore(args) => args,
        _ => unreachable!("an explore command line parses as explore"),
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The commit logs of a point, by validator.
fn commit_logs(point: &Path) -> Vec<Vec<u8>> {
    (0..4)
        .map(|i| read(&point.join(format!("logs/commits-{i}.csv"))))
        .collect()
}

#[test]
fn a_sim_bench_row_is_an_ordinary_row_with_its_seed_and_one_seed_gives_one_result() {
    let dir = tempfile::tempdir().expect("tmp");
    let settings = sim_settings(dir.path(), 7);
    let line = "--committee 4 --loads 2000 --warmup 1 --duration 3 --latency-matrix aws";
    let rows = xtask::commands::bench::rows(
        &settings,
        &bench_args(&format!("{line} --repeat 2 --run-id first")),
    )
    .expect("sim bench");
    assert_eq!(rows.len(), 2);
    let row = &rows[0];
    assert_eq!(row.provenance.provider, "sim");
    assert_eq!(row.provenance.instance_type, "sim");
    assert_eq!(
        rows.iter().map(|r| r.simulation.seed).collect::<Vec<_>>(),
        vec![Some(7), Some(8)],
        "repeat r runs seed S + r"
    );
    assert!(row.simulation.modelled.contains("virtual clock"));
    // Plausible: the honest validators committed what was offered, at the matrix's delays.
    assert!(
        (1900.0..2100.0).contains(&row.measured.throughput_tps),
        "committed {} of 2000 tx/s",
        row.measured.throughput_tps
    );
    let p50 = row.measured.latency_p50_s.expect("p50");
    assert!((0.05..2.0).contains(&p50), "p50 {p50} s");
    assert_eq!(row.measured.validators_observed, 4);
    assert!(matches!(row.checks.safety, Safety::Ok { checked } if checked > 0));
    // No process ran: CPU and memory are unknown, not zero.
    assert_eq!(
        (
            row.measured.cpu_cores_mean,
            row.measured.memory_mib_max,
            row.measured.cpu_cores_max
        ),
        (None, None, None)
    );
    let first = dir.path().join("first");
    // The row reads back, with empty CPU and memory columns and the seed.
    let text = String::from_utf8(read(&first.join("summary.csv"))).expect("utf-8");
    assert!(
        text.lines().nth(1).expect("a row").contains(",,,ok ("),
        "{text}"
    );
    let timeseries: Vec<xtask::results::TimeseriesRow> =
        xtask::results::csv_file::read_rows(&first.join("timeseries.csv")).expect("timeseries");
    assert!(timeseries
        .iter()
        .any(|r| r.phase == "measure" && r.throughput_tps > 0.0));
    assert!(timeseries.iter().any(|r| r.region == "us-east-1"));
    let figures = xtask::results::plot::plot(std::slice::from_ref(&first), &first.join("plots"))
        .expect("plot");
    assert!(!figures.is_empty());

    // The same seed again: the same figures and the same committed sequences.
    let again = xtask::commands::bench::rows(
        &settings,
        &bench_args(&format!("{line} --run-id second --sim-seed 7")),
    )
    .expect("sim bench again");
    assert_eq!(again[0].measured, row.measured);
    assert_eq!(again[0].checks, row.checks);
    let point = "n4-f0-load2000-r0";
    assert_eq!(
        commit_logs(&dir.path().join("second").join(point)),
        commit_logs(&first.join(point))
    );
    // Another seed is another run.
    assert_ne!(rows[1].measured, row.measured);

    // Simulated rows are not compared with measured ones.
    let measured =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/results/testdata/summary-n4.csv");
    let options = xtask::results::compare::Options::default();
    let error = xtask::results::compare::compare_paths(&measured, &first, &options)
        .expect_err("sim against measured");
    assert!(
        format!("{error:#}").contains("cannot compare simulated rows with measured rows"),
        "{error:#}"
    );
    xtask::results::compare::compare_paths(&first, &dir.path().join("second"), &options)
        .expect("sim against sim");
}

#[test]
fn a_preset_runs_its_committees_and_plots_its_published_points() {
    let dir = tempfile::tempdir().expect("tmp");
    let preset = dir.path().join("preset.json");
    std::fs::write(
        &preset,
        r#"{
  "description": "a test preset",
  "committees": [4, 5],
  "loads": [1000],
  "warmup_s": 1,
  "duration_s": 2,
  "published": {
    "source": "a test paper",
    "points": [
      { "label": "Test paper, 4 validators", "committee": 4, "offered_tps": 1000,
        "committed_tps": 1000, "latency_p50_s": 0.2, "latency_p99_s": 0.4 }
    ]
  }
}"#,
    )
    .expect("preset");
    // On the settings' local testbed, a preset still runs on the simulator by default.
    let mut settings = SettingsFile::local_default();
    settings.results_directory = Some(dir.path().to_path_buf());
    let settings = settings.validate().expect("local settings");
    let rows = xtask::commands::bench::rows(
        &settings,
        &bench_args(&format!("--preset {} --run-id preset", preset.display())),
    )
    .expect("preset bench");
    let committees: Vec<(usize, String)> = rows
        .iter()
        .map(|r| (r.point.committee, r.provenance.provider.clone()))
        .collect();
    assert_eq!(committees, vec![(4, "sim".into()), (5, "sim".into())]);
    let run = dir.path().join("preset");
    let figures =
        xtask::results::plot::plot(std::slice::from_ref(&run), &run.join("plots")).expect("plot");
    let lgraph = figures
        .iter()
        .find(|f| f.to_string_lossy().ends_with("latency-throughput.svg"))
        .expect("an L-graph");
    let svg = String::from_utf8(read(lgraph)).expect("utf-8");
    assert!(
        svg.contains("published: Test paper, 4 validators"),
        "no published label"
    );
}

#[test]
fn bad_input_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().expect("tmp");
    let settings = sim_settings(dir.path(), 1);
    let refused = |line: &str| -> String {
        let error = xtask::commands::bench::rows(&settings, &bench_args(line)).expect_err(line);
        format!("{error:#}")
    };
    let e = refused("--latency-matrix no-such-matrix");
    assert!(
        e.contains("--latency-matrix no-such-matrix: neither a preset"),
        "{e}"
    );
    let e = refused("--committee 4 --faults 1 --byzantine 1 --behaviour split-vote");
    assert!(
        e.contains("cannot tolerate --faults 1 plus --byzantine 1"),
        "{e}"
    );
    let e = refused("--committee 201");
    assert!(
        e.contains("the sim testbed runs at most 200 validators"),
        "{e}"
    );
    let e = refused("--wave-length 4");
    assert!(e.contains("default protocol parameters only"), "{e}");
    let e = refused("--testbed local --sim-seed 3");
    assert!(e.contains("--sim-seed 3 needs the sim testbed"), "{e}");
    let e = refused("--preset no-such-preset");
    assert!(
        e.contains("--preset no-such-preset: neither a preset"),
        "{e}"
    );
    // Nothing was started: no run directory.
    assert_eq!(std::fs::read_dir(dir.path()).expect("results").count(), 0);
}

/// The replay command a failed exploration prints.
fn replay_of(error: &anyhow::Error) -> String {
    let text = format!("{error:#}");
    text.lines()
        .find_map(|l| l.trim().strip_prefix("cargo xtask explore "))
        .unwrap_or_else(|| panic!("no replay command in: {text}"))
        .to_string()
}

#[test]
fn explore_finds_a_planted_unsafe_rule_replays_it_and_passes_the_real_rule() {
    let dir = tempfile::tempdir().expect("tmp");
    let common = sim_settings(dir.path(), 1).common;
    let line =
        "--runs 12 --committee 4 --byzantine 1 --behaviour split-vote --seed 1 --duration 10";
    let error = xtask::commands::explore::run(
        &common,
        explore_args(&format!("{line} --plant-unsafe-rule --run-id planted")),
    )
    .expect_err("the planted unsafe rule is found in 12 runs");
    assert_eq!(xtask::commands::exit_code(&error), 1);
    let replay = replay_of(&error);
    assert!(replay.contains("--plant-unsafe-rule --replay "), "{replay}");
    let seed = replay.rsplit(' ').next().expect("a seed").to_string();
    let found = dir
        .path()
        .join(format!("explore-planted/violation-{seed}.txt"));
    let description = read(&found);

    let again =
        xtask::commands::explore::run(&common, explore_args(&format!("{replay} --run-id replay")))
            .expect_err("the replay reproduces the violation");
    assert_eq!(replay_of(&again), replay);
    let replayed = read(
        &dir.path()
            .join(format!("explore-replay/violation-{seed}.txt")),
    );
    assert_eq!(
        String::from_utf8_lossy(&replayed).lines().nth(1),
        String::from_utf8_lossy(&description).lines().nth(1),
        "the replay found another violation"
    );

    xtask::commands::explore::run(&common, explore_args(&format!("{line} --run-id real")))
        .expect("the real rule passes the same exploration");
    assert!(!dir.path().join("explore-real").exists());
}
