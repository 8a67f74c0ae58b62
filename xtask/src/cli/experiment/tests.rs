//! Validating `bench`'s arguments into an experiment: the refused combinations, the points,
//! the load split, latency matrices and where the Byzantine validators sit.

use crate::{
    cli::test_args::{assets, bench_args as args},
    protocol::Behaviour,
};

fn experiment_error(extra: &[&str]) -> String {
    args(extra)
        .experiment(&assets())
        .expect_err("invalid experiment")
        .to_string()
}

#[test]
fn zero_load_is_refused() {
    assert!(experiment_error(&["--loads", "1000,0"]).contains("load of 0"));
}

#[test]
fn committee_must_tolerate_the_faults() {
    let err = experiment_error(&["--committee", "4", "--faults", "2"]);
    assert!(err.contains("3f+1 = 7"), "{err}");
    assert!(args(&["--committee", "7", "--faults", "2"])
        .experiment(&assets())
        .is_ok());
}

#[test]
fn crash_recovery_needs_faults() {
    assert!(experiment_error(&["--crash-recovery"]).contains("--faults"));
}

#[test]
fn sweep_has_one_point_per_load_and_repeat() {
    let experiment = args(&["--loads", "10,20", "--repeat", "2"])
        .experiment(&assets())
        .expect("experiment");
    let points: Vec<(u64, usize)> = experiment
        .points()
        .iter()
        .map(|p| (p.load, p.repeat))
        .collect();
    assert_eq!(points, vec![(10, 0), (10, 1), (20, 0), (20, 1)]);
}

#[test]
fn load_is_split_over_the_started_validators() {
    let experiment = args(&["--committee", "4", "--faults", "1"])
        .experiment(&assets())
        .expect("experiment");
    assert_eq!(experiment.started_validators(), vec![0, 1, 2]);
    let loads = experiment.load_per_validator(10_000);
    assert_eq!(loads, vec![3334, 3333, 3333, 0]);
    assert_eq!(loads.iter().sum::<u64>(), 10_000);

    let recovery = args(&["--committee", "4", "--faults", "1", "--crash-recovery"])
        .experiment(&assets())
        .expect("experiment");
    assert_eq!(recovery.started_validators(), vec![0, 1, 2, 3]);
    assert_eq!(recovery.load_per_validator(100), vec![25, 25, 25, 25]);
}

#[test]
fn latency_preset_resolves_with_its_regions() {
    let experiment = args(&["--latency-matrix", "aws"])
        .experiment(&assets())
        .expect("experiment");
    let matrix = experiment.network.latency_matrix.expect("matrix");
    let regions = matrix.regions();
    assert!(regions.contains(&"us-east-1".to_string()));
    assert_eq!(matrix.region_of(0), regions[0]);
    assert_eq!(matrix.region_of(regions.len()), regions[0]);
}

#[test]
fn malformed_latency_matrix_is_refused_with_its_path() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("m.csv");
    std::fs::write(&path, "region,a,b\na,0,10\nb,10\n").expect("write");
    let err = format!(
        "{:#}",
        args(&["--latency-matrix", path.to_str().expect("utf8")])
            .experiment(&assets())
            .expect_err("malformed")
    );
    assert!(err.contains("m.csv"), "{err}");
    let err = experiment_error(&["--latency-matrix", "no-such-preset"]);
    assert!(err.contains("no-such-preset"), "{err}");
}

#[test]
fn byzantine_validators_sit_below_the_crashed_ones_and_stay_within_f() {
    let experiment = args(&[
        "--committee",
        "7",
        "--faults",
        "1",
        "--byzantine",
        "1",
        "--behaviour",
        "equivocate",
    ])
    .experiment(&assets())
    .expect("1 crashed + 1 Byzantine of 7");
    assert_eq!(experiment.byzantine_validators(), "5");
    assert!(experiment.is_faulty(6) && !experiment.is_byzantine(6));
    assert_eq!(experiment.behaviour_of(5), Some(Behaviour::Equivocate));
    assert_eq!(experiment.behaviour_of(4), None);
    // The Byzantine validator's share of the load goes to the honest started ones.
    let loads = experiment.load_per_validator(5000);
    assert_eq!((loads[5], loads[6]), (0, 0));
    assert_eq!(loads.iter().sum::<u64>(), 5000);
    assert_eq!(
        experiment.points()[0].name(&experiment),
        "n7-f1-b1-equivocate-load10000-r0"
    );

    let err = experiment_error(&["--faults", "1", "--byzantine", "1", "--behaviour", "spam"]);
    assert!(err.contains("3f+1 = 7"), "{err}");
    assert!(experiment_error(&["--byzantine", "1"]).contains("--behaviour"));
    assert!(experiment_error(&["--behaviour", "withhold"]).contains("--byzantine"));
}
