//! `node run`'s network flags: a profile by name starts a validator placed on its region;
//! bad profiles, faults and placements are refused at start, naming what is at fault.

mod process;

use std::{
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use node::genesis::{private_key_file, COMMITTEE_FILE, PARAMETERS_FILE};
use process::{free_ports, node_binary};

/// `node genesis` for 4 validators on 127.0.0.1, with `regions` if given.
fn genesis(dir: &Path, regions: Option<&[&str]>) {
    let ports = free_ports(8);
    let mut command = Command::new(node_binary());
    command
        .arg("genesis")
        .arg("--ips")
        .args(["127.0.0.1"; 4])
        .arg("--working-directory")
        .arg(dir)
        .args(["--base-port", &ports.to_string()])
        .args(["--metrics-base-port", &(ports + 4).to_string()]);
    if let Some(regions) = regions {
        command.arg("--regions").args(regions);
    }
    let status = command
        .stdout(Stdio::null())
        .status()
        .expect("node genesis");
    assert!(status.success());
}

/// `node run` for validator 0 with `extra` flags.
fn run(dir: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(node_binary());
    command
        .arg("run")
        .args(["--authority", "0"])
        .arg("--committee")
        .arg(dir.join(COMMITTEE_FILE))
        .arg("--parameters")
        .arg(dir.join(PARAMETERS_FILE))
        .arg("--private")
        .arg(dir.join(private_key_file(0)))
        .arg("--storage")
        .arg(dir.join("storage-0"))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    command
}

/// Runs `node run` that must fail at start (within 60 s); returns its stderr.
fn refused(dir: &Path, extra: &[&str]) -> String {
    let log = dir.join("refused.log");
    let mut child = run(dir, extra)
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("node run");
    let status = (0..600).find_map(|_| {
        std::thread::sleep(Duration::from_millis(100));
        child.try_wait().ok().flatten()
    });
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        status.is_some_and(|s| !s.success()),
        "node run {extra:?} did not fail at start: {stderr}"
    );
    stderr
}

const AWS4: &[&str] = &["us-east-1", "us-west-2", "eu-west-1", "eu-central-1"];

#[test]
fn a_built_in_profile_starts_a_validator_on_its_region() {
    let dir = tempfile::tempdir().expect("tempdir");
    genesis(dir.path(), Some(AWS4));
    let log = dir.path().join("run.log");
    let mut child = run(
        dir.path(),
        &[
            "--network-profile",
            "aws",
            "--slow",
            "0:+50ms",
            "--fault-epoch",
            "0",
        ],
    )
    .env("RUST_LOG", "info")
    .stderr(std::fs::File::create(&log).expect("log file"))
    .spawn()
    .expect("node run");
    let started = (0..600).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("validator started"))
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        started,
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[test]
fn bad_profiles_faults_and_placements_are_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    genesis(dir.path(), Some(AWS4));
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        "{\n  \"regions\": [\"us-east-1\"],\n  \"links\": [\n    { \"from\": \"us-east-1\", \"to\": \"us-east-1\", \"delay_ms\": -1 }\n  ]\n}\n",
    )
    .expect("write");
    let bad = bad.display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--network-profile", &bad],
            "line 4: links[0] (us-east-1 -> us-east-1).delay_ms is -1",
        ),
        (
            vec!["--network-profile", "nowhere"],
            "built-in profiles: lan, aws, degraded",
        ),
        (
            vec!["--network-profile", "lan"],
            "region `us-east-1` is not in the network profile",
        ),
        (
            vec!["--partition", "0/7@1s+1s", "--fault-epoch", "0"],
            "validator 7 does not exist",
        ),
        (vec!["--partition", "0/1@1s+1s"], "--fault-epoch"),
        (vec!["--flap", "0-1:2s"], "A-B:PERIOD,DOWN%"),
        (vec!["--egress-mbps", "0"], "--egress-mbps is 0"),
    ];
    for (flags, expected) in cases {
        let err = refused(dir.path(), &flags);
        assert!(
            err.contains(expected),
            "{flags:?}: `{err}` lacks `{expected}`"
        );
    }
    let unplaced = tempfile::tempdir().expect("tempdir");
    genesis(unplaced.path(), None);
    let err = refused(unplaced.path(), &["--network-profile", "aws"]);
    assert!(err.contains("authority 0 has no region"), "{err}");
}
