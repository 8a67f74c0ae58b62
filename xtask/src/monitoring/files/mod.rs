//! The files of a monitoring set-up: Prometheus' configuration and target files, Grafana's
//! provisioning and the dashboard.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::json;

use super::Target;

/// The dashboard, as kept in `assets/dashboards/`.
pub const DASHBOARD: &str = include_str!("../../../../assets/dashboards/consensus-bench.json");

/// Uid of the Prometheus data source the dashboard's panels use.
pub const DATASOURCE_UID: &str = "consensus-bench-prometheus";

/// Seconds between scrapes (the benchmark scrapes every second; dashboards need less).
pub const SCRAPE_INTERVAL_S: u32 = 2;

/// Relative paths of the files inside the output directory.
pub const PROMETHEUS_FILE: &str = "prometheus.yml";
pub const VALIDATORS_TARGETS: &str = "targets/validators.json";
pub const HOSTS_TARGETS: &str = "targets/hosts.json";
pub const DATASOURCE_FILE: &str = "grafana/provisioning/datasources/consensus-bench.yaml";
pub const DASHBOARDS_FILE: &str = "grafana/provisioning/dashboards/consensus-bench.yaml";
pub const DASHBOARD_FILE: &str = "grafana/dashboards/consensus-bench.json";

/// A YAML document: the value serialized as JSON (YAML 1.2 is a superset of JSON, and
/// Prometheus and Grafana read their files with YAML parsers that accept it), after a comment.
fn yaml(comment: &str, value: &serde_json::Value) -> String {
    let body = serde_json::to_string_pretty(value).unwrap_or_default();
    format!("# {comment}\n{body}\n")
}

/// A Prometheus scrape job of `/metrics` on the targets listed in `targets_file`.
fn scrape_job(name: &str, targets_file: &str) -> serde_json::Value {
    json!({
        "job_name": name,
        "metrics_path": "/metrics",
        "file_sd_configs": [{ "files": [targets_file] }],
    })
}

/// `prometheus.yml`: the validators job and, when the testbed has hosts, the hosts job, both
/// reading their targets from files next to the configuration.
pub fn prometheus_config(testbed_id: &str, with_hosts: bool) -> String {
    let interval = format!("{SCRAPE_INTERVAL_S}s");
    let mut jobs = vec![scrape_job("validators", VALIDATORS_TARGETS)];
    if with_hosts {
        jobs.push(scrape_job("hosts", HOSTS_TARGETS));
    }
    let config = json!({
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
        },
        "scrape_configs": jobs,
    });
    yaml(
        &format!("Written by `cargo xtask monitoring` for the testbed {testbed_id}."),
        &config,
    )
}

/// Grafana's data source provisioning: Prometheus at `url`.
pub fn datasource(url: &str) -> String {
    let provisioning = json!({
        "apiVersion": 1,
        "datasources": [{
            "name": "consensus-bench",
            "uid": DATASOURCE_UID,
            "type": "prometheus",
            "access": "proxy",
            "url": url,
            "isDefault": true,
        }],
    });
    yaml("Written by `cargo xtask monitoring`.", &provisioning)
}

/// Grafana's dashboard provisioning: the dashboards in directory `path`.
pub fn dashboard_provider(path: &str) -> String {
    let provisioning = json!({
        "apiVersion": 1,
        "providers": [{
            "name": "consensus-bench",
            "type": "file",
            "allowUiUpdates": true,
            "options": { "path": path },
        }],
    });
    yaml("Written by `cargo xtask monitoring`.", &provisioning)
}

/// What [`write()`] produced.
#[derive(Debug)]
pub struct Written {
    pub files: Vec<PathBuf>,
    pub validators: usize,
    pub hosts: usize,
}

/// Writes the monitoring files into `dir`. Grafana is pointed at Prometheus on
/// `prometheus_url` and at `dashboards_dir` for the dashboard (default: where it is written).
pub fn write(
    dir: &Path,
    testbed_id: &str,
    validators: &[Target],
    hosts: &[Target],
    prometheus_url: &str,
    dashboards_dir: Option<&str>,
) -> Result<Written> {
    let dashboard_dir = dir.join(DASHBOARD_FILE);
    let local_dashboards = dashboard_dir
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let files: Vec<(&str, String)> = vec![
        (
            PROMETHEUS_FILE,
            prometheus_config(testbed_id, !hosts.is_empty()),
        ),
        (
            VALIDATORS_TARGETS,
            serde_json::to_string_pretty(validators)? + "\n",
        ),
        (HOSTS_TARGETS, serde_json::to_string_pretty(hosts)? + "\n"),
        (DATASOURCE_FILE, datasource(prometheus_url)),
        (
            DASHBOARDS_FILE,
            dashboard_provider(dashboards_dir.unwrap_or(&local_dashboards)),
        ),
        (DASHBOARD_FILE, DASHBOARD.to_string()),
    ];
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(Written {
        files: written,
        validators: validators.len(),
        hosts: hosts.len(),
    })
}

#[cfg(test)]
mod tests;
