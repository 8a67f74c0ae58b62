//! Comparisons of a recorded and of synthetic result sets: the verdicts and their intervals,
//! the rows left out, mismatched points, refused files and the renderings.

use std::path::{Path, PathBuf};

use super::*;
use crate::{
    metrics::Summary,
    protocol::Behaviour,
    results::{append_rows, run_dir, PointParameters, Provenance},
};

/// `summary.csv` of a real local sweep: 4 validators, loads 2000, 8000 and 20000 tx/s, two
/// repeats each.
fn recorded() -> Vec<SummaryRow> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/results/testdata/summary-n4.csv");
    run_dir::summary_rows(&path).expect("recorded summary")
}

/// `row` with `change` applied to its point parameters.
fn with_point(mut row: SummaryRow, change: impl FnOnce(&mut PointParameters)) -> SummaryRow {
    change(&mut row.point);
    row
}

/// The recorded rows with `change` applied to the rows of one load.
fn changed(load: u64, change: impl Fn(&mut SummaryRow)) -> Vec<SummaryRow> {
    let mut rows = recorded();
    for row in rows.iter_mut().filter(|r| r.point.load == load) {
        change(row);
    }
    rows
}

fn write(dir: &Path, name: &str, rows: &[SummaryRow]) -> PathBuf {
    let path = dir.join(name);
    append_rows(&path, rows).expect("write rows");
    path
}

fn options() -> Options {
    Options::default()
}

fn rows_only(rows: Vec<SummaryRow>) -> ResultSet {
    ResultSet::of_rows(rows)
}

#[test]
fn the_recorded_set_has_repeats_at_three_loads() {
    let rows = rows_only(recorded());
    let c = compare(&rows, &rows, &options());
    let loads: Vec<u64> = c.points.iter().map(|p| p.key.load).collect();
    assert_eq!(loads, vec![2000, 8000, 20000]);
    assert!(c.points.iter().all(|p| p.base_repeats == 2));
    assert!(c.regressed().is_empty());
    assert!(c.only_in_base.is_empty() && c.only_in_head.is_empty());
    assert_eq!(c.per_second, (false, false));
}

/// A synthetic point: `repeats` runs of 4 validators at 10 000 tx/s whose figures are
/// `scale` times a base of 10 000 tx/s, 100 ms p50 and 200 ms p99 (throughput divided by
/// `scale`), each with 20 per-second samples spread by ±`noise` (relative), drawn from `seed`.
fn synthetic(repeats: usize, scale: f64, noise: f64, seed: u64, run_id: &str) -> ResultSet {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut set = ResultSet::default();
    for repeat in 0..repeats {
        let mut jitter = || 1.0 + noise * (rng.gen::<f64>() * 2.0 - 1.0);
        let run_scale = jitter();
        let seconds: Vec<Second> = (0..20)
            .map(|_| Second {
                throughput_tps: 10_000.0 / scale * run_scale * jitter(),
                latency_p50_s: Some(0.1 * scale * run_scale * jitter()),
                latency_p99_s: Some(0.2 * scale * run_scale * jitter()),
                ..Default::default()
            })
            .collect();
        let mean =
            |f: fn(&Second) -> f64| seconds.iter().map(f).sum::<f64>() / seconds.len() as f64;
        set.rows.push(SummaryRow {
            provenance: Provenance {
                run_id: run_id.into(),
                ..Provenance::default()
            },
            point: PointParameters {
                committee: 4,
                load: 10_000,
                repeat,
                transaction_size: 512,
                wave_length: 3,
                leaders: 1,
                leader_wait: true,
                leader_timeout_ms: 1000,
                ..PointParameters::default()
            },
            measured: Summary {
                throughput_tps: mean(|s| s.throughput_tps),
                latency_p50_s: Some(mean(|s| s.latency_p50_s.unwrap_or(0.0))),
                latency_p99_s: Some(mean(|s| s.latency_p99_s.unwrap_or(0.0))),
                ..Summary::default()
            },
            ..SummaryRow::default()
        });
        set.seconds.insert((run_id.into(), 10_000, repeat), seconds);
    }
    set
}

/// Three repeats a side with ±`noise`, the head's figures `scale` times the base's,
/// compared with the default options.
fn compare_scaled(scale: f64, noise: f64) -> Comparison {
    let base = synthetic(3, 1.0, noise, 1, "base");
    let head = synthetic(3, scale, noise, 2, "head");
    compare(&base, &head, &options())
}

/// Asserts that each of the three figures of the first point has `verdict`.
fn assert_every_figure(c: &Comparison, verdict: Verdict) {
    let verdicts: Vec<_> = c.points[0].metrics.iter().map(|m| m.verdict).collect();
    assert_eq!(verdicts, vec![verdict; 3], "{}", render(c, Format::Text));
}

#[test]
fn a_known_slowdown_regresses_every_figure() {
    let c = compare_scaled(1.3, 0.02);
    assert_every_figure(&c, Verdict::Regressed);
    let p50 = c.points[0]
        .metric(Metric::P50)
        .expect("p50")
        .change
        .expect("interval");
    assert!(p50.low > 0.2 && p50.high < 0.4, "{p50}");
    assert_eq!(c.verdict, Verdict::Regressed);
    assert_eq!(c.exit_code(), 1);
    assert_eq!(c.per_second, (true, true));
}

#[test]
fn a_known_speed_up_improves_every_figure() {
    let c = compare_scaled(0.7, 0.02);
    assert_every_figure(&c, Verdict::Improved);
    assert_eq!(c.exit_code(), 0);
}

#[test]
fn the_same_code_with_little_noise_is_unchanged() {
    let c = compare_scaled(1.0, 0.02);
    assert_every_figure(&c, Verdict::Unchanged);
    assert_eq!(c.verdict, Verdict::Unchanged);
    assert_eq!(c.exit_code(), 0);
}

#[test]
fn a_small_change_in_much_noise_is_inconclusive_with_the_repeats_it_would_need() {
    let c = compare_scaled(1.05, 0.15);
    let p50 = c.points[0].metric(Metric::P50).expect("p50");
    assert_eq!(
        p50.verdict,
        Verdict::Inconclusive,
        "{}",
        render(&c, Format::Text)
    );
    let needed = p50.repeats_needed.expect("a number of repeats");
    assert!(needed > 3, "{needed}");
    assert_eq!(c.verdict, Verdict::Inconclusive);
    assert_eq!(c.exit_code(), 2);
    assert!(
        render(&c, Format::Text).contains(&format!("inconclusive (~{needed} repeats/side")),
        "{}",
        render(&c, Format::Text)
    );
}

#[test]
fn the_seed_makes_the_interval_reproducible() {
    let base = synthetic(3, 1.0, 0.1, 1, "base");
    let head = synthetic(3, 1.1, 0.1, 2, "head");
    let interval = |seed| {
        let mut o = options();
        o.bootstrap.seed = seed;
        compare(&base, &head, &o).points[0].metrics[1].change
    };
    assert_eq!(interval(7), interval(7));
    assert_ne!(interval(7), interval(8));
}

#[test]
fn a_problem_makes_the_comparison_undecided_whatever_the_figures() {
    let base = synthetic(3, 1.0, 0.02, 1, "base");
    let mut c = compare(&base, &synthetic(3, 1.0, 0.02, 2, "head"), &options());
    assert_eq!(c.exit_code(), 0);
    c.add_problem("a run failed".into());
    assert_eq!((c.verdict, c.exit_code()), (Verdict::Inconclusive, 2));
    assert!(render(&c, Format::Text).contains("cannot decide: a run failed"));
}

#[test]
fn markdown_and_json_carry_the_intervals_and_the_verdict() {
    let c = compare_scaled(1.3, 0.02);
    let md = render(&c, Format::Markdown);
    assert!(
        md.starts_with("### ❌ Performance check: regressed"),
        "{md}"
    );
    assert!(
        md.contains("| point | reps b/h | figure | base | head | change [CI] | verdict |"),
        "{md}"
    );
    let p99 = c.points[0].metric(Metric::P99).expect("p99");
    let row = format!(
        "| n4 f0 10000 tx/s, 512 B, w3 l1 | 3/3 | p99 | {} | {} | {} | **regressed** |",
        Metric::P99.show(p99.base.expect("base").median),
        Metric::P99.show(p99.head.expect("head").median),
        p99.change.expect("interval")
    );
    assert!(md.contains(&row), "{row}\n{md}");
    let json: serde_json::Value =
        serde_json::from_str(&render(&c, Format::Json)).expect("valid JSON");
    assert_eq!(json["exit_code"], 1);
    assert_eq!(json["verdict"], "regressed");
    let metric = &json["points"][0]["metrics"][2];
    assert_eq!(metric["metric"], "p99");
    assert_eq!(metric["verdict"], "regressed");
    let low = metric["change"]["low"].as_f64().expect("low");
    assert_eq!(low, p99.change.expect("interval").low);
}

#[test]
fn interrupted_rows_are_left_out() {
    let base = recorded();
    let head = changed(2000, |r| {
        r.checks.interrupted = true;
        r.measured.throughput_tps = 0.0;
    });
    let c = compare(&rows_only(base), &rows_only(head), &options());
    assert!(c.regressed().is_empty());
    assert_eq!(c.interrupted, (0, 2));
    assert_eq!(
        c.only_in_base.len(),
        1,
        "the 2000 tx/s point has no usable head row"
    );
}

#[test]
fn rows_whose_audit_found_a_fork_are_left_out_and_leave_the_comparison_undecided() {
    let base = recorded();
    let fork = "fork at index 20: validators 0 and 3 (last agreed at index 10)";
    let mut head = recorded();
    // One repeat of the 8000 tx/s point forked; its figures would look like an improvement.
    let forked = head
        .iter_mut()
        .find(|r| r.point.load == 8000)
        .expect("an 8000 tx/s row");
    forked.checks.safety = fork.parse().expect("a fork verdict");
    forked.measured.throughput_tps *= 2.0;
    let repeat = forked.point.repeat;
    let c = compare(&rows_only(base.clone()), &rows_only(head), &options());
    assert_eq!(
        c.problems,
        vec![format!(
            "head run sweep-n4 (n4 f0, load 8000 tx/s, 512 B tx, w3 l1, repeat {repeat}) is left \
             out, its safety audit found a {fork}"
        )]
    );
    assert_eq!((c.verdict, c.exit_code()), (Verdict::Inconclusive, 2));
    let point = c.points.iter().find(|p| p.key.load == 8000).expect("point");
    assert_eq!(point.head_repeats, 1, "the forked repeat is not used");
    assert!(render(&c, Format::Text).contains(fork));
    // Rows whose audit could not be done are compared.
    let head = changed(8000, |r| {
        r.checks.safety = "unchecked: no commit log from validator 2"
            .parse()
            .expect("an unchecked verdict")
    });
    let c = compare(&rows_only(base), &rows_only(head), &options());
    assert!(c.problems.is_empty());
}

#[test]
fn mismatched_points_are_reported() {
    let base = recorded();
    let mut head: Vec<SummaryRow> = base
        .iter()
        .filter(|r| r.point.load != 20000)
        .cloned()
        .collect();
    head.extend(
        base.iter()
            .filter(|r| r.point.load == 2000)
            .map(|r| with_point(r.clone(), |p| p.committee = 7)),
    );
    head.extend(
        base.iter()
            .filter(|r| r.point.load == 8000)
            .map(|r| with_point(r.clone(), |p| p.transaction_size = 128)),
    );
    let c = compare(&rows_only(base), &rows_only(head), &options());
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
    let text = render(&c, Format::Text);
    assert!(text.contains("only in base"), "{text}");
    assert!(text.contains("only in head"), "{text}");
}

#[test]
fn files_with_no_common_point_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let base = write(dir.path(), "base.csv", &recorded());
    let head_rows: Vec<SummaryRow> = recorded()
        .into_iter()
        .map(|r| with_point(r, |p| p.faults = 1))
        .collect();
    let head = write(dir.path(), "head.csv", &head_rows);
    let err = compare_paths(&base, &head, &options()).expect_err("nothing common");
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
    let err = compare_paths(&base, &old, &options()).expect_err("old schema");
    let text = format!("{err:#}");
    assert!(
        text.contains("missing columns parameters_hash, latency_p99_s"),
        "{text}"
    );
    assert!(text.contains("old.csv"), "{text}");

    let foreign = dir.path().join("other-tool.csv");
    std::fs::write(&foreign, "time,tps,latency_ms\n1,1000,250\n").expect("foreign");
    let err = compare_paths(&foreign, &base, &options()).expect_err("foreign");
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
        &changed(2000, |r| r.measured.throughput_tps *= 0.5),
    );
    let c = compare_paths(&run, &head, &options()).expect("compare");
    assert_eq!(c.regressed().len(), 1, "{}", render(&c, Format::Text));
    assert_eq!(c.regressed()[0].key.load, 2000);
}

#[test]
fn a_disturbed_run_makes_its_point_inconclusive_unless_accepted() {
    let base = synthetic(3, 1.0, 0.02, 1, "base");
    let mut head = synthetic(3, 1.3, 0.02, 2, "head");
    head.rows[1].checks.disturbed =
        "stall: committed below 50% of the offered load for 3.0 s".into();
    let c = compare(&base, &head, &options());
    assert_eq!((c.verdict, c.exit_code()), (Verdict::Inconclusive, 2));
    let text = render(&c, Format::Text);
    assert!(
        text.contains("head repeat 1: stall: committed below 50%"),
        "{text}"
    );
    let accepted = Options {
        accept_disturbed: true,
        ..options()
    };
    let c = compare(&base, &head, &accepted);
    assert_eq!((c.verdict, c.exit_code()), (Verdict::Regressed, 1));
    assert_eq!(c.points[0].disturbed.len(), 1, "still listed");
}

/// A run with a Byzantine behaviour is another point than the fault-free run or another
/// behaviour: it is never compared with them.
#[test]
fn byzantine_behaviours_are_different_points() {
    let dir = tempfile::tempdir().expect("tmp");
    let base = write(dir.path(), "base.csv", &recorded());
    let byzantine = |behaviour: Behaviour| -> Vec<SummaryRow> {
        recorded()
            .into_iter()
            .map(|r| {
                with_point(r, |p| {
                    p.byzantine = 1;
                    p.behaviour = Some(behaviour);
                    p.byzantine_validators = "3".into();
                })
            })
            .collect()
    };
    let head = write(dir.path(), "head.csv", &byzantine(Behaviour::Equivocate));
    let err = compare_paths(&base, &head, &options()).expect_err("nothing common");
    let text = format!("{err:#}");
    assert!(text.contains("n4 f0 b1 equivocate"), "{text}");
    let other = write(dir.path(), "other.csv", &byzantine(Behaviour::Spam));
    assert!(compare_paths(&head, &other, &options()).is_err());
    assert!(compare_paths(&head, &head, &options()).is_ok());
}

#[test]
fn networks_and_their_faults_are_different_points() {
    let dir = tempfile::tempdir().expect("tmp");
    let base = write(dir.path(), "base.csv", &recorded());
    let under = |network: &str, faults: &str| -> Vec<SummaryRow> {
        recorded()
            .into_iter()
            .map(|mut r| {
                r.network.network = network.into();
                r.network.network_faults = faults.into();
                r
            })
            .collect()
    };
    let aws = write(dir.path(), "aws.csv", &under("aws", ""));
    let err = compare_paths(&base, &aws, &options()).expect_err("nothing common");
    let text = format!("{err:#}");
    assert!(text.contains("w3 l1 aws"), "{text}");
    let partition = write(
        dir.path(),
        "partition.csv",
        &under("aws", "partition 0,1,2/3@5s+15s"),
    );
    let err = compare_paths(&aws, &partition, &options()).expect_err("nothing common");
    assert!(
        format!("{err:#}").contains("[partition 0,1,2/3@5s+15s]"),
        "{err:#}"
    );
    assert!(compare_paths(&aws, &aws, &options()).is_ok());
}
