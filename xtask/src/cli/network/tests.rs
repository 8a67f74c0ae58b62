//! `bench`'s network flags: what is refused (with the flag and value at fault), and what
//! every validator is given.

use crate::{
    cli::{
        test_args::{assets, bench_args},
        BenchArgs,
    },
    experiment::{Experiment, NetworkFaultKind, ProfileSource},
    protocol::{files::NETWORK_PROFILE_FILE, NodeArg, NodeFlag, NodeValue},
};

/// `bench` with a 30 s window (fault windows must end inside it) and `extra` flags.
fn args(extra: &[&str]) -> BenchArgs {
    let mut argv = vec!["--duration", "30"];
    argv.extend_from_slice(extra);
    bench_args(&argv)
}

fn experiment(extra: &[&str]) -> Experiment {
    args(extra).experiment(&assets()).expect("valid experiment")
}

/// The whole error chain, as `cargo xtask` prints it.
fn refusal(extra: &[&str]) -> String {
    format!(
        "{:#}",
        args(extra)
            .experiment(&assets())
            .expect_err("refused experiment")
    )
}

#[test]
fn a_fault_naming_a_validator_outside_the_committee_is_refused() {
    let err = refusal(&["--partition", "0,1/2,4@1s+2s"]);
    assert!(err.contains("--partition 0,1/2,4@1s+2s"), "{err}");
    assert!(
        err.contains("validator 4 is not in the committee of 4"),
        "{err}"
    );
    let err = refusal(&["--committee", "7", "--slow", "7:+100ms"]);
    assert!(err.contains("--slow 7:+100ms"), "{err}");
    assert!(err.contains("validator 7"), "{err}");
    let err = refusal(&["--flap", "4-0:2s,25%"]);
    assert!(err.contains("--flap 4-0:2s,25%"), "{err}");
    // The last validator is one.
    assert!(args(&["--flap", "3-0:2s,25%", "--slow", "3:+100ms"])
        .experiment(&assets())
        .is_ok());
}

#[test]
fn a_fault_window_past_the_measured_window_is_refused() {
    let err = refusal(&["--partition", "0,1,2/3@20s+15s"]);
    assert!(err.contains("--partition 0,1,2/3@20s+15s"), "{err}");
    assert!(err.contains("ends 35 s"), "{err}");
    assert!(err.contains("--duration 30"), "{err}");
    let err = refusal(&["--slow", "3:+200ms@29500ms+1s"]);
    assert!(err.contains("--slow 3:+200ms@29500ms+1s"), "{err}");
    // Ending exactly with the window is fine.
    let e = experiment(&["--partition", "0,1,2/3@15s+15s"]);
    assert_eq!(e.network.faults.len(), 1);
}

#[test]
fn malformed_faults_are_refused_with_the_flag_and_value() {
    for (flag, spec, says) in [
        ("--partition", "3@2s+3s", "two sides"),
        ("--partition", "0/1", "SIDES@START+DURATION"),
        ("--partition", "0/1@2+3s", "needs a unit"),
        ("--slow", "3:200ms", "V:+DELAY"),
        ("--slow", "x:+200ms", "`x` is not a validator index"),
        ("--flap", "0-1:2m,25%", "needs a unit"),
    ] {
        let err = refusal(&[flag, spec]);
        assert!(err.contains(&format!("{flag} {spec}")), "{err}");
        assert!(err.contains(says), "{flag} {spec}: {err}");
    }
}

#[test]
fn an_unknown_profile_name_is_refused_naming_the_built_in_ones() {
    let err = refusal(&["--network", "lna"]);
    assert!(err.contains("--network lna"), "{err}");
    assert!(err.contains("aws, degraded, lan"), "{err}");
}

#[test]
fn a_profile_file_that_does_not_parse_is_refused_with_its_path() {
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"regions\": [\"a\", }").expect("write");
    let spec = bad.to_str().expect("utf-8");
    let err = refusal(&["--network", spec]);
    assert!(err.contains(&format!("--network {spec}")), "{err}");
    assert!(err.contains("is not a network profile"), "{err}");
    assert!(err.contains("line 1"), "{err}");
    // Valid JSON without regions is no profile either.
    std::fs::write(&bad, "{\"links\": []}").expect("write");
    let err = refusal(&["--network", spec]);
    assert!(err.contains("missing field `regions`"), "{err}");
}

#[test]
fn a_profile_and_a_latency_matrix_are_refused_together() {
    let err = refusal(&["--network", "aws", "--latency-matrix", "aws"]);
    assert!(
        err.contains("--network aws and --latency-matrix aws"),
        "{err}"
    );
}

#[test]
fn a_cap_must_be_positive() {
    let err = refusal(&["--egress-mbps", "0"]);
    assert!(err.contains("--egress-mbps 0"), "{err}");
    assert!(refusal(&["--egress-mbps", "NaN"]).contains("positive"));
}

#[test]
fn built_in_profiles_pass_by_name_and_place_validators_on_their_regions() {
    let e = experiment(&[
        "--network",
        "degraded",
        "--partition",
        "0,1,2/3@2s+3s",
        "--slow",
        "1:+50ms",
    ]);
    let profile = e.network.profile.as_ref().expect("profile");
    assert_eq!(profile.source, ProfileSource::BuiltIn);
    assert_eq!(e.network.region_of(3), Some("sa-east-1"));
    assert_eq!(
        e.network.node_args,
        vec![
            NodeArg::text(NodeFlag::NetworkProfile, "degraded"),
            NodeArg::text(NodeFlag::Partition, "0,1,2/3@2s+3s"),
            NodeArg::text(NodeFlag::Slow, "1:+50ms"),
        ]
    );
    let partition = &e.network.faults[0];
    assert_eq!(partition.kind, NetworkFaultKind::Partition);
    assert_eq!(partition.validators, vec![0, 1, 2, 3]);
    assert_eq!(e.network.partition_windows(10.0), vec![(12.0, 15.0)]);
}

#[test]
fn a_profile_file_passes_by_its_copy_in_the_run_directory() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("two-sites.json");
    std::fs::write(&file, "{\"regions\": [\"x\", \"y\"], \"links\": []}").expect("write");
    let e = experiment(&[
        "--network",
        file.to_str().expect("utf-8"),
        "--egress-mbps",
        "50",
    ]);
    let profile = e.network.profile.as_ref().expect("profile");
    assert_eq!(profile.name, "two-sites");
    assert_eq!(profile.source, ProfileSource::File(file.clone()));
    assert_eq!(e.network.region_of(1), Some("y"));
    assert_eq!(
        e.network.node_args,
        vec![
            NodeArg {
                flag: NodeFlag::NetworkProfile,
                value: NodeValue::RunFile(NETWORK_PROFILE_FILE),
            },
            NodeArg::text(NodeFlag::EgressMbps, 50),
        ]
    );
    assert_eq!(e.network.name(), "two-sites, egress 50 Mbit/s");
}
