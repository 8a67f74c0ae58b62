//! Figures of recorded runs: the files written, how rows group into curves, and refused
//! inputs.

use super::*;

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/results/testdata")
        .join(name)
}

/// Files a plot wrote: each exists and is not trivially small, and PNGs are PNGs.
fn check_files(files: &[PathBuf]) {
    for file in files {
        let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            bytes.len() > 5_000,
            "{} has {} bytes",
            file.display(),
            bytes.len()
        );
        match file.extension().and_then(|e| e.to_str()) {
            Some("png") => assert!(bytes.starts_with(b"\x89PNG"), "{}", file.display()),
            Some("svg") => {
                let text = String::from_utf8_lossy(&bytes);
                assert!(text.contains("<svg"), "{}", file.display());
                assert!(text.contains("(tx/s)"), "axis label in {}", file.display());
            }
            other => panic!("unexpected file {} ({other:?})", file.display()),
        }
    }
}

#[test]
fn a_recorded_run_with_crash_recovery_gives_every_figure() {
    let out = tempfile::tempdir().expect("tmp");
    let files = plot(&[testdata("run-n4-f1cr")], out.path()).expect("plot");
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    for stem in [
        "latency-throughput",
        "throughput-load",
        "timeseries-n4-f1-load2000-r0",
        "timeseries-n4-f1-load8000-r0",
        "timeseries-n4-f1-load20000-r0",
    ] {
        for ext in ["svg", "png"] {
            let name = format!("{stem}.{ext}");
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
    }
    assert_eq!(files.len(), 10);
    check_files(&files);
    let timeline = std::fs::read_to_string(out.path().join("timeseries-n4-f1-load2000-r0.svg"))
        .expect("timeline svg");
    assert!(timeline.contains("crash v3"), "fault events are marked");
    assert!(timeline.contains("recover v3"), "fault events are marked");
    assert!(timeline.contains("warm-up"), "warm-up is shown");
}

#[test]
fn several_runs_share_the_curves() {
    let dir = tempfile::tempdir().expect("tmp");
    let run = dir.path().join("sweep-n4");
    std::fs::create_dir(&run).expect("run");
    std::fs::copy(testdata("summary-n4.csv"), run.join("summary.csv")).expect("copy");
    let out = dir.path().join("plots");
    let files = plot(&[run, testdata("run-n4-f1cr")], &out).expect("plot");
    check_files(&files);
    let svg = std::fs::read_to_string(out.join("latency-throughput.svg")).expect("svg");
    assert!(svg.contains("\nn=4 f=0\n"), "one line per fault setting");
    assert!(
        svg.contains("\nn=4 f=1 crash-recovery\n"),
        "one line per fault setting"
    );
    assert!(
        out.join("timeseries-run-n4-f1cr-n4-f1-load2000-r0.png")
            .is_file(),
        "time series named by run when several"
    );
}

#[test]
fn curves_take_the_median_of_repeats_per_load() {
    let rows = run_dir::summary_rows(&testdata("summary-n4.csv")).expect("rows");
    let lines = curves(&rows);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].label, "n=4 f=0");
    let loads: Vec<u64> = lines[0].points.iter().map(|p| p.load).collect();
    assert_eq!(loads, vec![2000, 8000, 20000]);
    let at_8000: Vec<f64> = rows
        .iter()
        .filter(|r| r.point.load == 8000)
        .map(|r| r.measured.throughput_tps)
        .collect();
    let expected = (at_8000[0] + at_8000[1]) / 2.0;
    assert!((lines[0].points[1].throughput - expected).abs() < 1e-9);
}

#[test]
fn an_old_timeseries_file_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let run = dir.path().join("old");
    std::fs::create_dir(&run).expect("run");
    std::fs::copy(testdata("summary-n4.csv"), run.join("summary.csv")).expect("copy");
    std::fs::write(run.join("timeseries.csv"), "elapsed,tps\n1,2\n").expect("old");
    let err = plot(&[run], &dir.path().join("plots")).expect_err("old schema");
    assert!(format!("{err:#}").contains("missing columns"), "{err:#}");
}

/// The curve labels of the recorded n=4 rows plus a copy of each changed by `change`.
fn labels_with_a_changed_copy(change: impl Fn(SummaryRow) -> SummaryRow) -> Vec<String> {
    let mut rows = run_dir::summary_rows(&testdata("summary-n4.csv")).expect("rows");
    let changed: Vec<_> = rows.iter().cloned().map(change).collect();
    rows.extend(changed);
    curves(&rows).into_iter().map(|c| c.label).collect()
}

#[test]
fn byzantine_runs_are_their_own_curve() {
    let labels = labels_with_a_changed_copy(|mut r| {
        r.point.byzantine = 1;
        r.point.behaviour = Some(crate::protocol::Behaviour::Withhold);
        r
    });
    assert_eq!(labels, vec!["n=4 f=0", "n=4 f=0 byzantine=1 withhold"]);
}

#[test]
fn runs_that_differ_only_in_the_leader_timeout_are_two_curves() {
    let labels = labels_with_a_changed_copy(|mut r| {
        r.point.leader_timeout_ms = 500;
        r
    });
    assert_eq!(labels, vec!["n=4 f=0, w3 l1 t500ms", "n=4 f=0, w3 l1"]);
}

/// Simulated rows of a point are a curve apart from the measured rows of the same point.
#[test]
fn simulated_rows_make_their_own_curve() {
    let measured: Vec<SummaryRow> =
        run_dir::summary_rows(&testdata("summary-n4.csv")).expect("rows");
    let mut rows = measured.clone();
    rows.extend(measured.into_iter().map(|mut r| {
        r.simulation.seed = Some(1);
        r
    }));
    let lines = curves(&rows);
    let labels: Vec<&str> = lines.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(lines.len(), 2, "{labels:?}");
    assert!(
        labels[1].ends_with(" (sim)") && !labels[0].contains("sim"),
        "{labels:?}"
    );
    assert_eq!(lines[0].points, lines[1].points);
}
