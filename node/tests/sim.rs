//! The simulated testbed (`node sim`, `node explore`): one seed gives one run, a small
//! committee commits its load safely, partitions heal, crashed validators recover from
//! their WALs, split voters are survived, the explorer finds a planted unsafe rule and its
//! replay reproduces it, and bad input is refused with a clear error.

use std::path::Path;

use clap::Parser;
use node::sim::{
    self,
    cli::SimArgs,
    explore::{self, ExploreArgs},
    report::Outcome,
};

/// `node sim` flags for a short run writing to `out`.
fn args(out: &Path, extra: &[&str]) -> SimArgs {
    let mut argv = vec![
        "sim",
        "--committee",
        "4",
        "--load",
        "1000",
        "--warmup",
        "1",
        "--duration",
        "4",
        "--out",
    ];
    let out = out.display().to_string();
    argv.push(&out);
    argv.extend_from_slice(extra);
    SimArgs::try_parse_from(argv).expect("valid flags")
}

fn run(out: &Path, extra: &[&str]) -> Outcome {
    sim::run(args(out, extra).config().expect("valid run")).expect("simulation")
}

/// Every file under `dir` with its bytes, metrics snapshots excepted.
fn commit_logs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    (0..4)
        .map(|v| {
            let path = dir.join(format!("validator-{v}/commits.csv"));
            (
                path.display().to_string(),
                std::fs::read(&path).expect("commit log"),
            )
        })
        .collect()
}

#[test]
fn one_seed_gives_one_run_and_another_seed_another() {
    let dir = tempfile::tempdir().expect("tmp");
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    run(&a, &["--seed", "7"]);
    run(&b, &["--seed", "7"]);
    run(&c, &["--seed", "8"]);
    let logs = |d: &Path| {
        commit_logs(d)
            .into_iter()
            .map(|(_, bytes)| bytes)
            .collect::<Vec<_>>()
    };
    assert_eq!(logs(&a), logs(&b), "one seed, different commit logs");
    let summary = |d: &Path| std::fs::read_to_string(d.join("summary.json")).expect("summary");
    assert_eq!(summary(&a), summary(&b), "one seed, different figures");
    assert_ne!(logs(&a), logs(&c), "two seeds, the same commit logs");
}

#[test]
fn four_validators_commit_the_load_safely() {
    let dir = tempfile::tempdir().expect("tmp");
    let outcome = run(dir.path(), &["--seed", "1"]);
    let s = &outcome.summary;
    assert!(
        s.committed_tx_per_s >= 950.0,
        "committed {} of 1000 tx/s",
        s.committed_tx_per_s
    );
    assert!(s.latency_p50_s.is_some_and(|p| p > 0.0), "{s:?}");
    assert!(s.commits_min >= 100, "{s:?}");
    assert!(outcome.divergence.is_none(), "{}", s.safety);
    assert_eq!(s.safety, "ok");
    // The commit logs are the real node's format.
    for (path, bytes) in commit_logs(dir.path()) {
        let text = String::from_utf8(bytes).expect("utf-8");
        assert!(text.starts_with(node::commit_log::HEADER), "{path}: {text}");
        assert!(text.lines().count() > 10, "{path}: {text}");
    }
    // Metrics snapshots carry the node's metric names, with no process figures.
    let last = dir.path().join("validator-0/metrics/00005000.prom");
    let text = std::fs::read_to_string(&last).expect("last snapshot");
    assert!(text.contains("node_committed_transactions_total"), "{text}");
    assert!(!text.contains("process_cpu_seconds_total"), "{text}");
}

#[test]
fn a_partitioned_validator_rejoins_after_the_heal() {
    let dir = tempfile::tempdir().expect("tmp");
    let outcome = run(dir.path(), &["--seed", "3", "--partition", "3@1-3"]);
    assert!(outcome.divergence.is_none(), "{}", outcome.summary.safety);
    assert_eq!(outcome.stalled.as_deref(), Some(&[][..]), "someone stalled");
    let last = |v: usize| outcome.commits[v].last().map_or(0, |c| c.chain.index);
    assert!(
        last(3) + 5 >= last(0),
        "validator 3 ended at commit {} against {} for validator 0",
        last(3),
        last(0)
    );
}

#[test]
fn a_crashed_validator_recovers_from_its_wal() {
    let dir = tempfile::tempdir().expect("tmp");
    let outcome = run(dir.path(), &["--seed", "4", "--crash", "3@1+1"]);
    assert!(outcome.divergence.is_none(), "{}", outcome.summary.safety);
    assert_eq!(outcome.stalled.as_deref(), Some(&[][..]), "someone stalled");
    let commits = &outcome.commits[3];
    assert!(
        commits
            .windows(2)
            .all(|w| w[0].chain.index < w[1].chain.index),
        "validator 3's commit indices went back after its restart"
    );
    let last = |v: usize| outcome.commits[v].last().map_or(0, |c| c.chain.index);
    assert!(last(3) + 5 >= last(0), "{} against {}", last(3), last(0));
}

#[test]
fn honest_validators_survive_a_split_voter_and_see_its_two_blocks() {
    let dir = tempfile::tempdir().expect("tmp");
    let outcome = run(
        dir.path(),
        &[
            "--seed",
            "5",
            "--byzantine",
            "1",
            "--behaviour",
            "split-vote",
        ],
    );
    let s = &outcome.summary;
    assert_eq!(s.byzantine, vec![3]);
    assert!(outcome.divergence.is_none(), "{}", s.safety);
    assert!(s.committed_tx_per_s >= 900.0, "{s:?}");
    let text = std::fs::read_to_string(dir.path().join("validator-0/metrics/00005000.prom"))
        .expect("snapshot");
    let equivocations: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("node_equivocations_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("node_equivocations_total");
    assert!(
        equivocations > 0,
        "validator 0 never saw two blocks of one slot"
    );
}

fn exploration(plant: bool) -> ExploreArgs {
    let mut argv = vec![
        "explore",
        "--runs",
        "12",
        "--committee",
        "4",
        "--byzantine",
        "1",
        "--behaviour",
        "split-vote",
        "--seed",
        "1",
        "--duration",
        "10",
    ];
    if plant {
        argv.push("--plant-unsafe-rule");
    }
    ExploreArgs::try_parse_from(argv).expect("valid flags")
}

#[test]
fn explore_finds_a_planted_unsafe_rule_replays_it_and_passes_the_real_one() {
    let planted = exploration(true);
    let found = explore::explore(&planted, &|_, _| {}).expect("exploration");
    assert_eq!(found.runs, 12);
    let first = found
        .violations
        .first()
        .expect("no violation of the planted unsafe rule in 12 runs");
    let command = explore::replay_command(&planted, first.seed);
    assert!(
        command.contains(&format!("--replay {}", first.seed))
            && command.contains("--plant-unsafe-rule"),
        "{command}"
    );
    let replay =
        ExploreArgs::try_parse_from(command.split_whitespace().skip(1)).expect("replay flags");
    let again = explore::explore(&replay, &|_, _| {}).expect("replay");
    assert_eq!(again.runs, 1);
    let replayed = again.violations.first().expect("the replay found nothing");
    assert_eq!(replayed.description, first.description);

    let real = explore::explore(&exploration(false), &|_, _| {}).expect("exploration");
    assert_eq!(real.runs, 12);
    assert!(
        real.violations.is_empty(),
        "the real rule failed: seed {} {}",
        real.violations[0].seed,
        real.violations[0].description
    );
    assert!(real.checked > 0);
}

#[test]
fn bad_input_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("tmp");
    let error = |extra: &[&str]| {
        args(dir.path(), extra)
            .config()
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default()
    };
    let e = error(&["--latency-matrix", "/no/such/matrix.csv"]);
    assert!(
        e.contains("cannot read latency matrix /no/such/matrix.csv"),
        "{e}"
    );
    let e = error(&["--partition", "1,9@1-2"]);
    assert!(e.contains("--partition names validator 9"), "{e}");
    let e = error(&["--byzantine", "1", "--behaviour", "spam", "--crash", "0@1"]);
    assert!(e.contains("tolerates f = 1"), "{e}");
    let e = error(&["--byzantine", "1"]);
    assert!(e.contains("--behaviour"), "{e}");
    let e = error(&["--crash", "4@1"]);
    assert!(e.contains("--crash names validator 4"), "{e}");
}
