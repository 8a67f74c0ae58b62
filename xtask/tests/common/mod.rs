//! Helpers for tests against the real sshd hosts started by `scripts/test`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde::Deserialize;
use xtask::testbed::{Instance, InstanceState};

/// One emulated host, as `scripts/sshd-hosts` describes it in `hosts.json`.
#[derive(Clone, Debug, Deserialize)]
pub struct TestHost {
    pub address: String,
    pub port: u16,
    pub user: String,
    pub host_key: PathBuf,
}

/// The hosts of `TEST_SSH_HOSTS`. Outside `scripts/test` (which starts them) the test fails:
/// a test that cannot reach its sshd hosts has not passed.
pub fn hosts() -> Vec<TestHost> {
    let path = std::env::var_os("TEST_SSH_HOSTS").expect(
        "TEST_SSH_HOSTS is not set: run the tests with scripts/test, which starts the sshd hosts",
    );
    let text = std::fs::read_to_string(&path).expect("hosts.json readable");
    serde_json::from_str(&text).expect("hosts.json well formed")
}

/// The client key authorized on every emulated host (next to hosts.json).
pub fn client_key() -> PathBuf {
    let path = PathBuf::from(std::env::var_os("TEST_SSH_HOSTS").expect("TEST_SSH_HOSTS"));
    path.parent().expect("dir").join("client_key")
}

/// An instance for a test host.
pub fn instance(host: &TestHost) -> Instance {
    Instance {
        id: format!("{}:{}", host.address, host.port),
        region: format!("region-{}", host.address.rsplit('.').next().unwrap_or("x")),
        public_ip: Some(host.address.clone()),
        private_ip: None,
        specs: "static".into(),
        state: InstanceState::Running,
        ssh_port: host.port,
        ssh_user: host.user.clone(),
    }
}

/// A testbed id no other test uses.
pub fn unique_testbed(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand::random::<u32>())
}

/// Processes whose executable lies under `dir`.
pub fn processes_under(dir: &Path) -> Vec<(u32, PathBuf)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(exe) = std::fs::read_link(entry.path().join("exe")) {
            if exe.starts_with(dir) {
                found.push((pid, exe));
            }
        }
    }
    found
}
