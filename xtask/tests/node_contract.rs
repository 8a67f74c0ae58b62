//! The orchestrator's copy of the node's contract (`xtask::protocol`) against the node built
//! from this workspace: every flag the orchestrator passes is accepted, the files genesis
//! writes are where the orchestrator looks, the node's defaults and Byzantine modes are the
//! orchestrator's, and a running node exposes every metric the orchestrator reads.

mod common;

use std::path::{Path, PathBuf};

use xtask::protocol::{self, defaults, files};

fn node() -> PathBuf {
    xtask::builder::build_node(
        &xtask::workspace::root().expect("the tests run inside the workspace"),
        None,
    )
    .expect("node builds")
    .path
}

fn help(node: &Path, command: &str) -> String {
    let output = std::process::Command::new(node)
        .args([command, "--help"])
        .output()
        .expect("node runs");
    assert!(output.status.success(), "node {command} --help failed");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Whether `node COMMAND` accepts `flag`: shown in its help, or (a hidden flag) parsed with a
/// value before `--help`.
fn accepts(node: &Path, command: &str, help: &str, flag: &str) -> bool {
    help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")) || {
        std::process::Command::new(node)
            .args([command, flag, "1", "--help"])
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

/// The default the help text gives for `flag` (in the lines up to the next flag).
fn default_of(help: &str, flag: &str) -> Option<String> {
    let mut lines = help
        .lines()
        .skip_while(|l| !l.trim_start().starts_with(flag));
    let first = lines.next()?;
    let section: Vec<&str> = std::iter::once(first)
        .chain(lines.take_while(|l| !l.trim_start().starts_with('-')))
        .collect();
    let value = section.join("\n");
    let value = value.split("[default: ").nth(1)?;
    Some(value.split(']').next()?.to_string())
}

#[test]
fn every_flag_the_orchestrator_passes_is_accepted_by_the_node() {
    let node = node();
    for (command, flags) in [
        (protocol::genesis::COMMAND, &protocol::genesis::FLAGS[..]),
        (protocol::run::COMMAND, &protocol::run::FLAGS[..]),
        (protocol::sim::COMMAND, &protocol::sim::FLAGS[..]),
        (protocol::explore::COMMAND, &protocol::explore::FLAGS[..]),
    ] {
        let text = help(&node, command);
        for flag in flags {
            assert!(
                accepts(&node, command, &text, flag),
                "node {command} does not accept {flag}:\n{text}"
            );
        }
    }
    // Every pass-through flag (network emulation) is one of `node run`'s: a line of its help
    // starts with it (not only a mention in another flag's text).
    let run = help(&node, protocol::run::COMMAND);
    for flag in protocol::NodeFlag::ALL {
        let option = format!("{} ", flag.name());
        assert!(
            run.lines().any(|l| l.trim_start().starts_with(&option)),
            "node run does not accept the pass-through {flag:?} ({}):\n{run}",
            flag.name()
        );
    }
    // The check can fail: a flag the node does not have is refused.
    assert!(!accepts(
        &node,
        protocol::run::COMMAND,
        &run,
        "--no-such-flag"
    ));
}

#[test]
fn the_node_defaults_are_the_orchestrators() {
    let node = node();
    let run = help(&node, protocol::run::COMMAND);
    assert_eq!(
        default_of(&run, protocol::run::TRANSACTION_SIZE),
        Some(defaults::TRANSACTION_SIZE.to_string()),
        "{run}"
    );
    // Genesis with no protocol flags: the node's own defaults.
    let dir = tempfile::tempdir().expect("tmp");
    let status = std::process::Command::new(&node)
        .args([protocol::genesis::COMMAND, protocol::genesis::IPS])
        .args(["127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.1"])
        .arg(protocol::genesis::WORKING_DIRECTORY)
        .arg(dir.path())
        .status()
        .expect("genesis runs");
    assert!(status.success());
    for i in 0..4 {
        assert!(dir.path().join(files::private_key_file(i)).is_file());
    }
    let read = |name: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(dir.path().join(name)).expect(name);
        serde_json::from_str(&text).expect(name)
    };
    let parameters = read(files::PARAMETERS_FILE);
    assert_eq!(parameters["wave_length"], defaults::WAVE_LENGTH);
    assert_eq!(parameters["leaders_per_round"], defaults::LEADERS);
    assert_eq!(parameters["leader_timeout_ms"], defaults::LEADER_TIMEOUT_MS);
    assert_eq!(parameters["leader_wait"], true);
    let committee = read(files::COMMITTEE_FILE);
    let last = &committee["authorities"][3];
    assert_eq!(
        last["address"],
        format!("127.0.0.1:{}", defaults::BASE_PORT + 3)
    );
    assert_eq!(
        last["metrics_address"],
        format!("127.0.0.1:{}", defaults::METRICS_BASE_PORT + 3)
    );
}

#[test]
fn genesis_writes_what_the_orchestrator_asks_for() {
    let node = node();
    let dir = tempfile::tempdir().expect("tmp");
    let ips = vec!["127.0.0.1".to_string(); 4];
    let chosen = protocol::Protocol {
        wave_length: 5,
        leaders: 2,
        leader_wait: false,
        leader_timeout_ms: 700,
    };
    let regions = Some(["a", "b", "a", "b"].map(String::from).to_vec());
    let args = protocol::genesis_args(
        &ips,
        &dir.path().display().to_string(),
        (31000, 32000),
        &chosen,
        regions,
    );
    let status = std::process::Command::new(&node)
        .args(&args)
        .status()
        .expect("genesis runs");
    assert!(status.success(), "{args:?}");
    let text = std::fs::read_to_string(dir.path().join(files::PARAMETERS_FILE)).expect("file");
    let parameters: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(parameters["wave_length"], 5);
    assert_eq!(parameters["leaders_per_round"], 2);
    assert_eq!(parameters["leader_wait"], false);
    assert_eq!(parameters["leader_timeout_ms"], 700);
    let text = std::fs::read_to_string(dir.path().join(files::COMMITTEE_FILE)).expect("file");
    let committee: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(committee["authorities"][1]["address"], "127.0.0.1:31001");
    assert_eq!(
        committee["authorities"][1]["metrics_address"],
        "127.0.0.1:32001"
    );
    assert_eq!(committee["authorities"][1]["region"], "b");
}

/// Every Byzantine behaviour `cargo xtask bench --behaviour` offers is one the node's
/// `run --byzantine` accepts, and the node has none the orchestrator lacks: the node names
/// its behaviours when it refuses an unknown one.
#[test]
fn the_orchestrators_byzantine_behaviours_are_the_nodes() {
    let node = node();
    let output = std::process::Command::new(&node)
        .args([protocol::run::COMMAND, protocol::run::BYZANTINE])
        .arg("no-such-behaviour")
        .output()
        .expect("node runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let listed = stderr
        .split("(one of: ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("the node does not list its behaviours:\n{stderr}"));
    let nodes: std::collections::BTreeSet<String> =
        listed.split(", ").map(str::to_string).collect();
    let ours: std::collections::BTreeSet<String> =
        <protocol::Behaviour as clap::ValueEnum>::value_variants()
            .iter()
            .map(|b| b.to_string())
            .collect();
    assert_eq!(ours, nodes, "orchestrator (left) and node (right) differ");
    // The names the orchestrator passes are the ones `--behaviour` takes on its command line.
    for b in <protocol::Behaviour as clap::ValueEnum>::value_variants() {
        let value = clap::ValueEnum::to_possible_value(b).expect("a visible value");
        assert_eq!(value.get_name(), b.to_string());
    }
}

/// Kills the validator when dropped, also when the test fails.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A one-validator committee started with the orchestrator's own command lines
/// (`protocol::genesis_args`, `protocol::run_args`) exposes every metric name the orchestrator
/// reads (`protocol::metrics::ALL`; a histogram by its `_bucket` series).
#[test]
fn a_running_node_exposes_every_metric_the_orchestrator_reads() {
    let node = node();
    let dir = tempfile::tempdir().expect("tmp");
    let work = dir.path().display().to_string();
    let base = common::free_base_port(1);
    let genesis = std::process::Command::new(&node)
        .args(protocol::genesis_args(
            &["127.0.0.1".to_string()],
            &work,
            (base, base + 1000),
            &protocol::Protocol {
                wave_length: defaults::WAVE_LENGTH,
                leaders: defaults::LEADERS,
                leader_wait: true,
                leader_timeout_ms: defaults::LEADER_TIMEOUT_MS,
            },
            None,
        ))
        .status()
        .expect("node genesis");
    assert!(genesis.success());
    let log = std::fs::File::create(dir.path().join("validator.log")).expect("log file");
    let _validator = Running(
        std::process::Command::new(&node)
            .args(protocol::run_args(
                &protocol::RunOptions {
                    validator: 0,
                    load: 100,
                    transaction_size: defaults::TRANSACTION_SIZE,
                    ..protocol::RunOptions::default()
                },
                &work,
            ))
            .stderr(log)
            .spawn()
            .expect("node run"),
    );
    // Counters appear once counted: wait (bounded) until every name is there.
    let url = format!("http://127.0.0.1:{}/metrics", base + 1000);
    let agent = xtask::metrics::scrape::agent();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let text = xtask::metrics::scrape::fetch(&agent, &url).unwrap_or_default();
        let exposed: std::collections::BTreeSet<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| l.split(['{', ' ']).next())
            .collect();
        let missing: Vec<&str> = protocol::metrics::ALL
            .into_iter()
            .filter(|name| {
                !exposed.contains(name) && !exposed.contains(format!("{name}_bucket").as_str())
            })
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the node does not expose {missing:?} within 60 s:\n{text}\n{}",
            std::fs::read_to_string(dir.path().join("validator.log")).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
