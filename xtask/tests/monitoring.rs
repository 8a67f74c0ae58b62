//! `cargo xtask monitoring` on a static testbed of real sshd hosts on loopback: the targets
//! of every validator and host, and the upload to the monitoring instance. (Installing
//! Prometheus and Grafana would install packages on this machine: not done in tests.)

mod common;

use std::path::Path;

use xtask::{
    monitoring::{apply, files, install},
    settings::{CloudProvider, LoadedSettings, SettingsFile},
    ssh::{SshClient, SshOptions},
    testbed::{self, Instance},
};

fn static_settings(results: &Path) -> LoadedSettings {
    let hosts = common::hosts();
    let mut settings = SettingsFile::local_default();
    settings.testbed_id = common::unique_testbed("monitoring");
    settings.cloud_provider = CloudProvider::Static;
    settings.ssh_private_key_file = Some(common::client_key());
    settings.results_directory = Some(results.to_path_buf());
    settings.hosts = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| h.static_host(&format!("region-{i}"), None))
        .collect();
    settings.validate().expect("valid static settings")
}

fn read_targets(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("targets JSON")
}

#[test]
fn every_validator_and_host_of_a_static_testbed_is_scraped_and_the_files_upload() {
    let dir = tempfile::tempdir().expect("tmp");
    let settings = static_settings(dir.path());
    let hosts = common::hosts();
    let output = dir.path().join("monitoring");
    let committee = hosts.len() + 2;
    let files_written = apply::run(
        &settings,
        &apply::Request {
            committee: Some(committee),
            output: output.clone(),
            install: None,
        },
    )
    .expect("monitoring files");
    assert_eq!(files_written.len(), install::FILES.len());

    let validators = read_targets(&output.join(files::VALIDATORS_TARGETS));
    assert_eq!(validators.len(), committee);
    for (i, target) in validators.iter().enumerate() {
        let host = &hosts[i % hosts.len()];
        let expected = format!("{}:{}", host.address, 27000 + i);
        assert_eq!(target["targets"][0], expected.as_str(), "validator {i}");
        assert_eq!(target["labels"]["validator"], i.to_string().as_str());
        assert_eq!(
            target["labels"]["host"],
            format!("{}:{}", host.address, host.port).as_str()
        );
    }
    let host_targets = read_targets(&output.join(files::HOSTS_TARGETS));
    let addresses: Vec<String> = host_targets
        .iter()
        .map(|t| t["targets"][0].as_str().expect("address").to_string())
        .collect();
    let expected: Vec<String> = hosts
        .iter()
        .map(|h| format!("{}:27999", h.address))
        .collect();
    assert_eq!(addresses, expected);
    let config = std::fs::read_to_string(output.join(files::PROMETHEUS_FILE)).expect("config");
    // The file is a JSON document after one comment line (JSON is YAML).
    let body: String = config.lines().skip(1).collect::<Vec<_>>().join("\n");
    let document: serde_json::Value = serde_json::from_str(&body).expect("prometheus document");
    let jobs: Vec<&str> = document["scrape_configs"]
        .as_array()
        .expect("scrape_configs")
        .iter()
        .filter_map(|job| job["job_name"].as_str())
        .collect();
    assert_eq!(jobs, ["validators", "hosts"], "{config}");

    // The upload to the monitoring instance: every file arrives unchanged.
    let instances: Vec<Instance> = testbed::provider(&settings)
        .expect("provider")
        .list_instances()
        .expect("instances");
    let monitor = &instances[0];
    let state = tempfile::tempdir().expect("state");
    let options = SshOptions::new(
        Some(common::client_key()),
        state.path(),
        "monitoring-upload",
    );
    let ssh = SshClient::new(options).expect("ssh client");
    let staging = dir.path().join("remote-staging");
    let staging = staging.to_str().expect("utf-8 path");
    install::upload(&ssh, monitor, &output, staging).expect("upload");
    for file in install::FILES {
        let remote = ssh
            .run(monitor, &format!("cat {staging}/{file}"))
            .expect("read back");
        let local = std::fs::read_to_string(output.join(file)).expect("local");
        assert_eq!(remote.stdout, local, "{file}");
    }
    ssh.disconnect_all(&instances);
}

#[test]
fn install_names_an_unknown_instance_and_refuses_the_local_testbed() {
    let dir = tempfile::tempdir().expect("tmp");
    let settings = static_settings(dir.path());
    let err = apply::run(
        &settings,
        &apply::Request {
            committee: None,
            output: dir.path().join("m"),
            install: Some("no-such-host".into()),
        },
    )
    .expect_err("unknown instance");
    let message = format!("{err:#}");
    assert!(message.contains("--install no-such-host"), "{message}");
    assert!(message.contains(&common::hosts()[0].address), "{message}");

    let mut local = SettingsFile::local_default();
    local.results_directory = Some(dir.path().to_path_buf());
    let local = local.validate().expect("local");
    let err = apply::run(
        &local,
        &apply::Request {
            committee: Some(3),
            output: dir.path().join("local"),
            install: Some("localhost".into()),
        },
    )
    .expect_err("local install");
    assert!(
        format!("{err:#}").contains("cloud or static testbed"),
        "{err:#}"
    );
    let targets = read_targets(&dir.path().join("local").join(files::VALIDATORS_TARGETS));
    let addresses: Vec<&str> = targets
        .iter()
        .filter_map(|t| t["targets"][0].as_str())
        .collect();
    assert_eq!(
        addresses,
        vec!["127.0.0.1:27000", "127.0.0.1:27001", "127.0.0.1:27002"]
    );
}

/// Metric names in a PromQL expression (identifiers starting `node_` or `process_`).
fn metric_names(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|t| t.starts_with("node_") || t.starts_with("process_"))
        .map(str::to_string)
        .collect()
}

/// Kills the validator when dropped, also when the test fails.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_dashboard_queries_metrics_a_running_node_exposes() {
    let dir = tempfile::tempdir().expect("tmp");
    let node = xtask::builder::build_node(
        &xtask::workspace::root().expect("the tests run inside the workspace"),
        None,
    )
    .expect("node builds")
    .path;
    let base = common::free_base_port(1);
    let genesis = std::process::Command::new(&node)
        .args(["genesis", "--ips", "127.0.0.1", "--working-directory"])
        .arg(dir.path())
        .args(["--base-port", &base.to_string()])
        .args(["--metrics-base-port", &(base + 1000).to_string()])
        .status()
        .expect("node genesis");
    assert!(genesis.success());
    // One validator is a committee of its own: it commits alone.
    let log = std::fs::File::create(dir.path().join("validator.log")).expect("log file");
    let _validator = Running(
        std::process::Command::new(&node)
            .args(["run", "--authority", "0", "--load", "100"])
            .arg("--committee")
            .arg(dir.path().join("committee.json"))
            .arg("--parameters")
            .arg(dir.path().join("parameters.json"))
            .arg("--private")
            .arg(dir.path().join("private-0.key"))
            .arg("--storage")
            .arg(dir.path().join("storage"))
            .stderr(log)
            .spawn()
            .expect("node run"),
    );
    // Labelled counters appear once counted: wait until a leader was committed (bounded).
    let url = format!("http://127.0.0.1:{}/metrics", base + 1000);
    let agent = xtask::metrics::scrape::agent();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let text = loop {
        let text = xtask::metrics::scrape::fetch(&agent, &url).unwrap_or_default();
        if text.contains("node_committed_leaders_total{") {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no commit within 60 s: {}",
            std::fs::read_to_string(dir.path().join("validator.log")).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let exposed: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();

    let dashboard: serde_json::Value =
        serde_json::from_str(files::DASHBOARD).expect("dashboard JSON");
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            if expr.contains("job=\"hosts\"") {
                continue; // node exporter's metrics
            }
            for name in metric_names(expr) {
                assert!(
                    exposed.contains(name.as_str()),
                    "{name} (in {expr}) is not in the node's /metrics:\n{text}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 15, "only {checked} metric references checked");
}
