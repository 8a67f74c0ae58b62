//! Installing the monitoring on a cloud or static testbed over SSH: Prometheus and Grafana
//! on one instance, prometheus-node-exporter on every host. Packages are installed only when
//! missing (Ubuntu or Debian hosts; Grafana from Grafana's own APT repository).

use std::{path::Path, time::Duration};

use anyhow::{bail, Context, Result};

use super::files::{
    DASHBOARDS_FILE, DASHBOARD_FILE, DATASOURCE_FILE, HOSTS_TARGETS, PROMETHEUS_FILE,
    VALIDATORS_TARGETS,
};
use crate::{
    ssh::{self, shell, SshClient},
    testbed::Instance,
};

/// Directory (in the login directory) the files are uploaded to before installation.
pub const STAGING: &str = "consensus-bench-monitoring";

/// Where Grafana finds the dashboard on the monitoring instance.
pub const REMOTE_DASHBOARDS: &str = "/var/lib/grafana/dashboards/consensus-bench";

/// Every file of a monitoring set-up, relative to its directory.
pub const FILES: [&str; 6] = [
    PROMETHEUS_FILE,
    VALIDATORS_TARGETS,
    HOSTS_TARGETS,
    DATASOURCE_FILE,
    DASHBOARDS_FILE,
    DASHBOARD_FILE,
];

const UPLOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// Lines every script starts with: strict mode and `sudo` unless already root.
const PRELUDE: &str = "set -euo pipefail\n\
    SUDO=\"\"; [ \"$(id -u)\" -eq 0 ] || SUDO=\"sudo -n\"\n\
    export DEBIAN_FRONTEND=noninteractive\n";

/// The script run on the monitoring instance once the files are in `staging` (relative to
/// the login directory, or absolute).
pub fn monitoring_script(staging: &str) -> String {
    format!(
        "{PRELUDE}\
         cd\n\
         S={staging}\n\
         if ! command -v prometheus >/dev/null 2>&1; then\n\
         \x20 $SUDO apt-get update -q\n\
         \x20 $SUDO apt-get install -y -q prometheus\n\
         fi\n\
         if [ ! -x /usr/sbin/grafana-server ] && ! command -v grafana >/dev/null 2>&1; then\n\
         \x20 $SUDO apt-get install -y -q gpg wget\n\
         \x20 $SUDO install -d -m 755 /etc/apt/keyrings\n\
         \x20 wget -q -O - https://apt.grafana.com/gpg.key | gpg --dearmor | $SUDO tee /etc/apt/keyrings/grafana.gpg >/dev/null\n\
         \x20 echo 'deb [signed-by=/etc/apt/keyrings/grafana.gpg] https://apt.grafana.com stable main' | $SUDO tee /etc/apt/sources.list.d/grafana.list >/dev/null\n\
         \x20 $SUDO apt-get update -q\n\
         \x20 $SUDO apt-get install -y -q grafana\n\
         fi\n\
         [ -f /etc/prometheus/prometheus.yml.orig ] || $SUDO cp /etc/prometheus/prometheus.yml /etc/prometheus/prometheus.yml.orig 2>/dev/null || true\n\
         $SUDO install -d /etc/prometheus/targets {dashboards}\n\
         $SUDO install -m 644 \"$S/{PROMETHEUS_FILE}\" /etc/prometheus/prometheus.yml\n\
         $SUDO install -m 644 \"$S/{VALIDATORS_TARGETS}\" \"$S/{HOSTS_TARGETS}\" /etc/prometheus/targets/\n\
         $SUDO install -m 644 \"$S/{DASHBOARD_FILE}\" {dashboards}/\n\
         $SUDO install -m 644 \"$S/{DATASOURCE_FILE}\" /etc/grafana/provisioning/datasources/\n\
         $SUDO install -m 644 \"$S/{DASHBOARDS_FILE}\" /etc/grafana/provisioning/dashboards/\n\
         $SUDO systemctl enable prometheus grafana-server\n\
         $SUDO systemctl restart prometheus grafana-server\n",
        dashboards = shell::quote(REMOTE_DASHBOARDS),
        staging = shell::quote(staging),
    )
}

/// The script run on every testbed host: prometheus-node-exporter listening on `port`.
pub fn node_exporter_script(port: u16) -> String {
    format!(
        "{PRELUDE}\
         if ! dpkg -s prometheus-node-exporter >/dev/null 2>&1; then\n\
         \x20 $SUDO apt-get update -q\n\
         \x20 $SUDO apt-get install -y -q prometheus-node-exporter\n\
         fi\n\
         echo 'ARGS=\"--web.listen-address=:{port}\"' | $SUDO tee /etc/default/prometheus-node-exporter >/dev/null\n\
         $SUDO systemctl restart prometheus-node-exporter\n"
    )
}

/// Uploads the files of `local` (as written by [`super::write`]) to the directory `staging`
/// on `host` (relative to the login directory, or absolute).
pub fn upload(ssh: &SshClient, host: &Instance, local: &Path, staging: &str) -> Result<()> {
    let mut dirs: Vec<String> = FILES
        .iter()
        .filter_map(|f| Path::new(f).parent())
        .map(|p| format!("{staging}/{}", p.display()))
        .collect();
    dirs.push(staging.to_string());
    dirs.sort();
    dirs.dedup();
    ssh.run(host, &format!("mkdir -p {}", shell::join(&dirs)))
        .context("cannot create the staging directory")?;
    for file in FILES {
        let source = local.join(file);
        if !source.is_file() {
            bail!("{} is missing: write the files first", source.display());
        }
        ssh.upload(host, &source, &format!("{staging}/{file}"), UPLOAD_TIMEOUT)?;
    }
    Ok(())
}

/// Runs `script` on `host` through bash.
pub fn run_script(ssh: &SshClient, host: &Instance, script: &str) -> Result<()> {
    ssh.run_with_input(host, "bash -s", script.as_bytes().to_vec())
        .with_context(|| format!("set-up failed on {}", ssh::describe(host)))
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bash_syntax_ok(script: &str) -> bool {
        std::process::Command::new("bash")
            .args(["-n", "-c", script])
            .status()
            .expect("bash")
            .success()
    }

    #[test]
    fn scripts_are_valid_shell_and_install_only_what_is_missing() {
        let script = monitoring_script(STAGING);
        assert!(bash_syntax_ok(&script), "{script}");
        assert!(script.contains("if ! command -v prometheus"), "{script}");
        assert!(script.contains("/etc/prometheus/targets/"), "{script}");
        assert!(script.contains("systemctl restart prometheus grafana-server"));
        let exporter = node_exporter_script(27999);
        assert!(bash_syntax_ok(&exporter), "{exporter}");
        assert!(exporter.contains("if ! dpkg -s prometheus-node-exporter"));
        assert!(
            exporter.contains("--web.listen-address=:27999"),
            "{exporter}"
        );
    }
}
