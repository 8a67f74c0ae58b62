//! The monitoring files as written: Prometheus' configuration and targets (with the hosts' job
//! when there are hosts), Grafana's provisioning and the dashboard's panels.

use std::collections::BTreeMap;

use super::*;

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

    let config = std::fs::read_to_string(dir.path().join(PROMETHEUS_FILE)).expect("config");
    assert!(config.contains("  - job_name: validators\n"), "{config}");
    assert!(
        config.contains("files: [\"targets/validators.json\"]"),
        "{config}"
    );
    assert!(
        !config.contains("job_name: hosts"),
        "no hosts on the local testbed: {config}"
    );
    assert!(config.contains("scrape_timeout: 2s"), "{config}");

    let text = std::fs::read_to_string(dir.path().join(VALIDATORS_TARGETS)).expect("targets");
    let parsed: Vec<serde_json::Value> = serde_json::from_str(&text).expect("targets JSON");
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[1]["targets"][0], "127.0.0.1:27001");
    assert_eq!(parsed[1]["labels"]["validator"], "1");

    let provider = std::fs::read_to_string(dir.path().join(DASHBOARDS_FILE)).expect("provider");
    let dashboards = dir.path().join("grafana/dashboards");
    assert!(
        provider.contains(&format!("path: \"{}\"", dashboards.display())),
        "{provider}"
    );
    let copied = std::fs::read_to_string(dir.path().join(DASHBOARD_FILE)).expect("dashboard");
    assert_eq!(copied, DASHBOARD);
    let source = std::fs::read_to_string(dir.path().join(DATASOURCE_FILE)).expect("source");
    assert!(
        source.contains("url: \"http://localhost:9090\""),
        "{source}"
    );
    assert!(
        source.contains(&format!("uid: \"{DATASOURCE_UID}\"")),
        "{source}"
    );
}

#[test]
fn a_testbed_with_hosts_gets_the_hosts_job() {
    let config = prometheus_config("bench-1", true);
    assert!(config.contains("  - job_name: hosts\n"), "{config}");
    assert!(
        config.contains("files: [\"targets/hosts.json\"]"),
        "{config}"
    );
}
