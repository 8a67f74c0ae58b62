//! Helpers shared by the integration tests: the real sshd hosts started by `scripts/test`,
//! unique testbeds and ports, short forms of testbed commands, and a fault-injecting proxy
//! (`fault_proxy`, `faults`) for emulated cloud APIs.
#![allow(dead_code)]

pub mod fault_proxy;
pub mod faults;

use std::path::{Path, PathBuf};

use serde::Deserialize;
use xtask::{
    settings::StaticHost,
    testbed::{Instance, InstanceState},
};

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

impl TestHost {
    /// This host as a static testbed host in `region`, working in `directory` (`None`: the
    /// default under the login's home, shared by every host of this machine).
    pub fn static_host(&self, region: &str, directory: Option<&Path>) -> StaticHost {
        StaticHost {
            address: self.address.clone(),
            port: self.port,
            user: Some(self.user.clone()),
            region: region.to_string(),
            private_address: None,
            working_directory: directory.map(|d| d.display().to_string()),
        }
    }
}

/// A base port, below the ephemeral range (where SSH connections take their local ports),
/// with the validator ports `base + i` and metrics ports `base + 1000 + i` of `validators`
/// validators free on every address.
pub fn free_base_port(validators: u16) -> u16 {
    for _ in 0..500 {
        let base: u16 = rand::random::<u16>() % 10_000 + 20_000;
        let wanted = (0..validators).flat_map(|i| [base + i, base + 1000 + i]);
        if wanted
            .into_iter()
            .all(|p| std::net::TcpListener::bind(("0.0.0.0", p)).is_ok())
        {
            return base;
        }
    }
    panic!("no free base port found");
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
        deadline: None,
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

/// `cargo xtask bench` arguments for a short test run: 2 s of warm-up, `duration` seconds
/// measured, then `extra`.
pub fn bench_args(duration: u64, extra: &[&str]) -> xtask::cli::BenchArgs {
    use clap::Parser;
    let duration = duration.to_string();
    let mut argv = vec!["xtask", "bench", "--warmup", "2", "--duration", &duration];
    argv.extend_from_slice(extra);
    match xtask::cli::Cli::try_parse_from(argv)
        .expect("bench arguments")
        .command
    {
        xtask::cli::Command::Bench(args) => args,
        _ => unreachable!("a bench command line parses as bench"),
    }
}

/// Creates `count` instances in `region` in a deploy attempt of its own, powering off in 3 h.
pub fn create(
    provider: &dyn xtask::testbed::Provider,
    region: &str,
    count: usize,
) -> anyhow::Result<Vec<Instance>> {
    let attempt = format!("{:016x}", rand::random::<u64>());
    provider.create_instances(&xtask::testbed::CreateRequest {
        region,
        count,
        deadline: chrono::Utc::now() + chrono::Duration::hours(3),
        attempt: &attempt,
    })
}

/// `testbed destroy --yes` (network included).
pub fn destroy(provider: &dyn xtask::testbed::Provider) -> anyhow::Result<Vec<Instance>> {
    xtask::commands::testbed::lifecycle::destroy(
        provider,
        xtask::commands::testbed::lifecycle::DestroyOptions {
            yes: true,
            keep_network: false,
        },
        xtask::commands::testbed::Console::batch(),
    )
}
