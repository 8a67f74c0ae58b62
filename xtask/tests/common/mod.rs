//! Helpers shared by the integration tests: the real sshd hosts started by `scripts/test`,
//! unique testbeds and ports, short forms of testbed commands, and a fault-injecting proxy
//! (`fault_proxy`, `faults`) for emulated cloud APIs.
#![allow(dead_code)]

pub(crate) mod ec2_dialect;
pub(crate) mod fault_proxy;
pub(crate) mod faults;

use std::path::{Path, PathBuf};

use serde::Deserialize;
use xtask::{
    settings::StaticHost,
    testbed::{Instance, InstanceState},
};

/// One emulated host, as `scripts/sshd-hosts` describes it in `hosts.json`.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct TestHost {
    pub address: String,
    pub port: u16,
    pub user: String,
    pub host_key: PathBuf,
}

/// The hosts of `TEST_SSH_HOSTS`. Outside `scripts/test` (which starts them) the test fails:
/// a test that cannot reach its sshd hosts has not passed.
pub(crate) fn hosts() -> Vec<TestHost> {
    let path = std::env::var_os("TEST_SSH_HOSTS").expect(
        "TEST_SSH_HOSTS is not set: run the tests with scripts/test, which starts the sshd hosts",
    );
    let text = std::fs::read_to_string(&path).expect("hosts.json readable");
    serde_json::from_str(&text).expect("hosts.json well formed")
}

impl TestHost {
    /// This host as a static testbed host in `region`, working in `directory` (`None`: the
    /// default under the login's home, shared by every host of this machine).
    pub(crate) fn static_host(&self, region: &str, directory: Option<&Path>) -> StaticHost {
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
pub(crate) fn free_base_port(validators: u16) -> u16 {
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
pub(crate) fn client_key() -> PathBuf {
    let path = PathBuf::from(std::env::var_os("TEST_SSH_HOSTS").expect("TEST_SSH_HOSTS"));
    path.parent().expect("dir").join("client_key")
}

/// An instance for a test host.
pub(crate) fn instance(host: &TestHost) -> Instance {
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
        created: None,
    }
}

/// A testbed id no other test uses.
pub(crate) fn unique_testbed(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand::random::<u32>())
}

/// Processes whose executable lies under `dir`.
pub(crate) fn processes_under(dir: &Path) -> Vec<(u32, PathBuf)> {
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
pub(crate) fn bench_args(duration: u64, extra: &[&str]) -> xtask::cli::BenchArgs {
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
pub(crate) fn create(
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
pub(crate) fn destroy(provider: &dyn xtask::testbed::Provider) -> anyhow::Result<Vec<Instance>> {
    xtask::commands::testbed::lifecycle::destroy(
        provider,
        xtask::commands::testbed::lifecycle::DestroyOptions {
            yes: true,
            keep_network: false,
            expired_only: false,
        },
        xtask::commands::testbed::Console::batch(),
    )
}

/// Clears an interrupt request when dropped, also when the test fails.
struct ClearInterrupt;

impl Drop for ClearInterrupt {
    fn drop(&mut self) {
        xtask::interrupt::clear();
    }
}

/// Runs `command` and, once `ready` holds (polled every 100 ms on another thread, at most
/// `limit`), interrupts it as Ctrl-C does; returns what the command returned. Every command
/// of the process sees the interrupt until it is cleared: only for tests that hold their
/// file's serial lock.
pub(crate) fn interrupt_when<T>(
    limit: std::time::Duration,
    ready: impl Fn() -> bool + Send,
    command: impl FnOnce() -> T,
) -> T {
    use std::sync::atomic::{AtomicBool, Ordering};
    let _clear = ClearInterrupt;
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let finished = &done;
        let watcher = scope.spawn(move || {
            let deadline = std::time::Instant::now() + limit;
            while !finished.load(Ordering::SeqCst) {
                if ready() {
                    xtask::interrupt::request();
                    return true;
                }
                if std::time::Instant::now() > deadline {
                    // Stop the command anyway; the test fails below.
                    xtask::interrupt::request();
                    return false;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            false
        });
        let result = command();
        done.store(true, Ordering::SeqCst);
        let interrupted = watcher.join().expect("watcher thread");
        assert!(
            interrupted,
            "the point to interrupt the command was not reached within {limit:?}, or the \
             command ended before it"
        );
        result
    })
}

/// Runs `bench` (a benchmark of 4 s warm-up or less whose validators answer at `urls`) and
/// interrupts it once every validator is 2 s into its window; asserts that it says so.
pub(crate) fn interrupt_bench<T: std::fmt::Debug>(
    limit: std::time::Duration,
    urls: &[String],
    bench: impl FnOnce() -> anyhow::Result<T>,
) {
    let result = interrupt_when(limit, || running_for(urls, 4.0), bench);
    let err = result.expect_err("an interrupted bench says so");
    assert!(format!("{err:#}").contains("interrupted"), "{err:#}");
}

/// Runs `command` with an interrupt already requested (Ctrl-C before it starts); the request
/// is cleared after. Only for tests that hold their file's serial lock.
pub(crate) fn interrupted_from_the_start<T>(command: impl FnOnce() -> T) -> T {
    let _clear = ClearInterrupt;
    xtask::interrupt::request();
    command()
}

/// Whether every validator answers at `urls` and has been running for at least `seconds`
/// (`node_benchmark_duration_seconds`).
pub(crate) fn running_for(urls: &[String], seconds: f64) -> bool {
    let agent = xtask::metrics::scrape::agent();
    urls.iter()
        .all(|url| xtask::metrics::scrape::scrape(&agent, url).is_ok_and(|s| s.uptime >= seconds))
}

/// A port of `address` (IPv4) that nothing listens on while the returned socket lives: it is
/// bound but not listening, so connections are refused and nothing else can take the port.
pub(crate) fn refused_port(address: std::net::Ipv4Addr) -> (std::os::fd::OwnedFd, u16) {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a descriptor this function owns (wrapped in OwnedFd
    // right away); the address structs are zeroed and filled before use.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let owned = std::os::fd::OwnedFd::from_raw_fd(fd);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from(address).to_be();
        let len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let rc = libc::bind(fd, &addr as *const _ as *const libc::sockaddr, len);
        assert_eq!(
            rc,
            0,
            "bind {address}:0: {}",
            std::io::Error::last_os_error()
        );
        let mut bound: libc::sockaddr_in = std::mem::zeroed();
        let mut bound_len = len;
        let rc = libc::getsockname(
            fd,
            &mut bound as *mut _ as *mut libc::sockaddr,
            &mut bound_len,
        );
        assert_eq!(rc, 0, "getsockname: {}", std::io::Error::last_os_error());
        (owned, u16::from_be(bound.sin_port))
    }
}

/// The rows of a CSV file of the results.
pub(crate) fn read_rows<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    csv::Reader::from_path(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .deserialize()
        .collect::<Result<Vec<T>, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fault rows in `faults_csv`, asserted to be a crash and a recovery that were applied
/// (and any that were not).
pub(crate) fn crashed_and_recovered(faults_csv: &Path) -> Vec<xtask::results::FaultRow> {
    let faults: Vec<xtask::results::FaultRow> = read_rows(faults_csv);
    let applied: Vec<&str> = faults
        .iter()
        .filter(|f| f.applied_at_s.is_some())
        .map(|f| f.event.as_str())
        .collect();
    assert_eq!(applied, vec!["crash", "recover"], "{faults:?}");
    faults
}

/// The one summary row of run `run_id` under `results`, interrupted during a window of
/// `window_s` seconds: marked interrupted, with what was measured kept, and the same row in
/// the results' `runs.csv`.
pub(crate) fn interrupted_row(
    results: &Path,
    run_id: &str,
    window_s: f64,
) -> xtask::results::SummaryRow {
    let rows: Vec<xtask::results::SummaryRow> =
        read_rows(&results.join(run_id).join("summary.csv"));
    assert_eq!(rows.len(), 1);
    let row = rows[0].clone();
    assert!(row.checks.interrupted, "the row is not marked interrupted");
    assert!(
        row.measured.measured_s > 0.0 && row.measured.measured_s < window_s,
        "measured {} s of {window_s}",
        row.measured.measured_s
    );
    assert!(
        row.measured.throughput_tps > 0.0,
        "what was measured is kept"
    );
    let runs: Vec<xtask::results::SummaryRow> = read_rows(&results.join("runs.csv"));
    assert_eq!(runs, rows);
    row
}

/// The audits of a row measured under faults: safety held (every honest pair checked) and
/// the liveness column counts the commits made while the faults lasted.
pub(crate) fn assert_safe_under_faults(row: &xtask::results::SummaryRow) {
    let safety = row.checks.safety.to_string();
    assert!(safety.starts_with("ok ("), "safety {safety}");
    assert!(
        row.checks.liveness.ends_with("under faults"),
        "the faults count for the liveness audit: {}",
        row.checks.liveness
    );
}
