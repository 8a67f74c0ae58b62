//! The monitoring files as written: Prometheus' configuration and targets (with the hosts' job
//! when there are hosts), Grafana's provisioning and the dashboard's panels.

use std::collections::BTreeMap;

use super::*;

/// A file written as YAML, read back (its documents are JSON after a comment line).
fn read_yaml(text: &str) -> serde_json::Value {
    assert!(text.starts_with("# "), "a comment first: {text}");
    let body: String = text.lines().skip(1).collect::<Vec<_>>().join("\n");
    serde_json::from_str(&body).expect("the document is JSON, hence YAML")
}

/// The panels and how they query (their metric names are checked against a running node in
/// `tests/monitoring.rs`).
#[test]
fn the_dashboard_has_its_panels_on_the_validators_job() {
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).expect("dashboard JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    let titles: Vec<&str> = panels.iter().filter_map(|p| p["title"].as_str()).collect();
    for wanted in [
        "Committed throughput",
        "Latency (submit to commit)",
        "Rounds",
        "Leader slots by decision",
        "Rejected load",
        "CPU per validator",
        "Memory per validator",
    ] {
        assert!(
            titles.contains(&wanted),
            "no panel {wanted:?} in {titles:?}"
        );
    }
    for panel in panels {
        assert_eq!(
            panel["datasource"]["uid"], DATASOURCE_UID,
            "{}",
            panel["title"]
        );
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            if expr.contains("job=\"hosts\"") {
                continue; // node exporter's metrics
            }
            assert!(expr.contains("job=\"validators\""), "{expr}");
        }
    }
    let latency = panels
        .iter()
        .find(|p| p["title"] == "Latency (submit to commit)")
        .expect("latency panel");
    let exprs = latency["targets"].to_string();
    assert!(exprs.contains("histogram_quantile(0.5"), "{exprs}");
    assert!(exprs.contains("histogram_quantile(0.99"), "{exprs}");
}

#[test]
fn writes_the_config_targets_and_grafana_provisioning() {
    let dir = tempfile::tempdir().expect("tmp");
    let target = |address: &str, validator: &str| Target {
        targets: vec![address.into()],
        labels: BTreeMap::from([("validator".to_string(), validator.to_string())]),
    };
    let validators = [
        target("127.0.0.1:27000", "0"),
        target("127.0.0.1:27001", "1"),
    ];
    let written = write(
        dir.path(),
        "bench-1",
        &validators,
        &[],
        "http://localhost:9090",
        None,
    )
    .expect("write");
    assert_eq!(written.files.len(), 6);
    assert_eq!((written.validators, written.hosts), (2, 0));

    let config =
        read_yaml(&std::fs::read_to_string(dir.path().join(PROMETHEUS_FILE)).expect("config"));
    let jobs = config["scrape_configs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 1, "no hosts on the local testbed: {config}");
    assert_eq!(jobs[0]["job_name"], "validators");
    assert_eq!(
        jobs[0]["file_sd_configs"][0]["files"][0],
        "targets/validators.json"
    );
    assert_eq!(config["global"]["scrape_timeout"], "2s");

    let text = std::fs::read_to_string(dir.path().join(VALIDATORS_TARGETS)).expect("targets");
    let parsed: Vec<serde_json::Value> = serde_json::from_str(&text).expect("targets JSON");
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[1]["targets"][0], "127.0.0.1:27001");
    assert_eq!(parsed[1]["labels"]["validator"], "1");

    let provider =
        read_yaml(&std::fs::read_to_string(dir.path().join(DASHBOARDS_FILE)).expect("provider"));
    let dashboards = dir.path().join("grafana/dashboards");
    assert_eq!(
        provider["providers"][0]["options"]["path"],
        dashboards.display().to_string()
    );
    let copied = std::fs::read_to_string(dir.path().join(DASHBOARD_FILE)).expect("dashboard");
    assert_eq!(copied, DASHBOARD);
    let source =
        read_yaml(&std::fs::read_to_string(dir.path().join(DATASOURCE_FILE)).expect("source"));
    assert_eq!(source["datasources"][0]["url"], "http://localhost:9090");
    assert_eq!(source["datasources"][0]["uid"], DATASOURCE_UID);
}

#[test]
fn a_testbed_with_hosts_gets_the_hosts_job() {
    let config = read_yaml(&prometheus_config("bench-1", true));
    let hosts = &config["scrape_configs"][1];
    assert_eq!(hosts["job_name"], "hosts");
    assert_eq!(
        hosts["file_sd_configs"][0]["files"][0],
        "targets/hosts.json"
    );
}
