//! End-to-end: benchmarks on a `static` testbed of real sshd hosts on loopback (started by
//! `scripts/test`), checked through the files they write, what they leave on the hosts, and
//! the processes still running (none).

mod common;

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
};

use xtask::{
    cli::BenchArgs,
    deployment::remote::records::HostRow,
    results::{rtt::RttRow, TimeseriesRow, ValidatorRow},
    settings::{CloudProvider, LoadedSettings, SettingsFile, StaticHost},
};

/// Benchmarks measure this machine: two at once would distort each other's figures and slow
/// both (the remote ones run all their validators here too). An interrupt request is seen by
/// every command of the process: tests that inject one hold this lock as well.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn bench_args(extra: &[&str]) -> BenchArgs {
    common::bench_args(5, extra)
}

/// Metrics addresses of `committee` validators spread over `hosts` (validator `i` runs on
/// host `i % hosts`).
fn metrics_urls(settings: &LoadedSettings, hosts: &[StaticHost], committee: usize) -> Vec<String> {
    (0..committee)
        .map(|i| {
            let port = settings.common.ports.metrics_base as usize + i;
            format!("http://{}:{port}/metrics", hosts[i % hosts.len()].address)
        })
        .collect()
}

/// A static testbed: `hosts` with a working directory each under `root`, results in
/// `root/results`.
fn static_settings(root: &Path, hosts: &[StaticHost]) -> LoadedSettings {
    let mut settings = SettingsFile::local_default();
    settings.testbed_id = common::unique_testbed("remote");
    settings.cloud_provider = CloudProvider::Static;
    settings.ssh_private_key_file = Some(common::client_key());
    settings.hosts = hosts.to_vec();
    settings.results_directory = Some(root.join("results"));
    let base = common::free_base_port(8);
    settings.base_port = base;
    settings.metrics_base_port = base + 1000;
    settings.validate().expect("valid static settings")
}

fn static_hosts(root: &Path) -> Vec<StaticHost> {
    common::hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            h.static_host(
                &format!("region-{}", i % 2),
                Some(&root.join(format!("host{i}"))),
            )
        })
        .collect()
}

use common::{assert_safe_under_faults, read_rows};

/// Processes running any binary under the hosts' working directories.
fn left_running(hosts: &[StaticHost]) -> Vec<(u32, PathBuf)> {
    hosts
        .iter()
        .filter_map(|h| h.working_directory.as_deref())
        .flat_map(|dir| common::processes_under(Path::new(dir)))
        .collect()
}

/// Removes the testbed's pinned host keys when dropped (the test hosts get new keys every
/// time), also when the test fails.
struct ForgetTestbed(String);

impl Drop for ForgetTestbed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(xtask::workspace::testbed_state_dir(&self.0));
    }
}

fn forget_on_exit(settings: &LoadedSettings) -> ForgetTestbed {
    ForgetTestbed(settings.common.testbed_id.clone())
}

/// A host of its own: one more sshd on loopback (`scripts/sshd-hosts` in `dir`, on a free
/// port of 127.0.0.2), accepting the key the other hosts accept, its sessions' PATH set to
/// `path` when given. Stopped when dropped.
struct OwnSshd {
    dir: PathBuf,
    port: u16,
}

impl OwnSshd {
    const ADDRESS: &'static str = "127.0.0.2";

    fn start(dir: PathBuf, path: Option<&str>) -> Self {
        let port = {
            let probe = TcpListener::bind((Self::ADDRESS, 0)).expect("bind");
            probe.local_addr().expect("addr").port()
        };
        let mut command = std::process::Command::new(Self::script());
        command
            .env("SSHD_PORT", port.to_string())
            .arg("start")
            .arg(&dir)
            .arg("1");
        if let Some(path) = path {
            command.env("SSHD_HOSTS_PATH", path);
        }
        let status = command.status().expect("sshd-hosts");
        let sshd = Self { dir, port };
        assert!(status.success(), "a dedicated sshd starts");
        let public = std::fs::read_to_string(common::client_key().with_extension("pub"))
            .expect("client public key");
        let mut authorized = std::fs::OpenOptions::new()
            .append(true)
            .open(sshd.dir.join("authorized_keys"))
            .expect("authorized_keys");
        std::io::Write::write_all(&mut authorized, public.as_bytes()).expect("authorize");
        sshd
    }

    fn script() -> PathBuf {
        xtask::workspace::root()
            .expect("the tests run inside the workspace")
            .join("scripts/sshd-hosts")
    }

    fn pid(&self) -> u32 {
        std::fs::read_to_string(self.dir.join("host1/sshd.pid"))
            .expect("sshd pid")
            .trim()
            .parse()
            .expect("pid")
    }

    fn static_host(&self, region: &str, working_directory: &Path) -> StaticHost {
        StaticHost {
            address: Self::ADDRESS.into(),
            port: self.port,
            user: Some(common::hosts()[0].user.clone()),
            region: region.into(),
            private_address: None,
            working_directory: Some(working_directory.display().to_string()),
        }
    }
}

impl Drop for OwnSshd {
    fn drop(&mut self) {
        let _ = std::process::Command::new(Self::script())
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

/// The Rust targets rustup says are installed.
fn installed_targets() -> Vec<String> {
    let output = std::process::Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .expect("rustup lists the installed targets");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn remote_bench_uploads_once_runs_recovers_collects_and_cleans_up() {
    let _serial = serial();
    let root = tempfile::tempdir().expect("tmp");
    let hosts = static_hosts(root.path());
    let mut settings = static_settings(root.path(), &hosts);
    let _forget = forget_on_exit(&settings);
    let results = root.path().join("results");

    // First run: the binary goes to every host; one validator crashes and recovers.
    let args = bench_args(&[
        "--committee",
        "4",
        "--loads",
        "1000",
        "--faults",
        "1",
        "--crash-recovery",
        "--crash-interval",
        "3",
        "--run-id",
        "first",
    ]);
    let rows = xtask::commands::bench::rows(&settings, &args).expect("remote bench runs");
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.provenance.provider, "static");
    assert!(
        row.provenance.regions.contains("region-0") && row.provenance.regions.contains("region-1")
    );
    assert!(
        row.measured.throughput_tps > 400.0,
        "throughput {} tx/s for 1000 offered (750 while one validator is down)",
        row.measured.throughput_tps
    );
    assert!(row
        .measured
        .latency_p50_s
        .is_some_and(|p| p > 0.0 && p < 10.0));
    assert!(!row.checks.interrupted);
    assert!(
        left_running(&hosts).is_empty(),
        "validators left: {:?}",
        left_running(&hosts)
    );

    let run = results.join("first");
    let host_rows: Vec<HostRow> = read_rows(&run.join("hosts.csv"));
    assert_eq!(host_rows.len(), hosts.len());
    // The round trips between the hosts, measured before the first point.
    let pairs: Vec<RttRow> = read_rows(&run.join("rtt.csv"));
    assert_eq!(pairs.len(), hosts.len() * (hosts.len() - 1));
    assert!(pairs.iter().all(|p| p.answered == p.probes && p.probes > 0));
    assert_eq!(row.round_trips.rtt_file, "rtt.csv");
    assert!(row.round_trips.rtt_median_ms.is_some_and(|m| m > 0.0));
    assert!(row.round_trips.rtt_max_ms >= row.round_trips.rtt_median_ms);
    assert_eq!(row.round_trips.rtt_vs_matrix, "real network, no matrix");
    let binary_size = host_rows[0].binary_bytes_sent;
    assert!(
        binary_size > 100_000,
        "compressed binary of {binary_size} bytes"
    );
    for (h, host) in host_rows.iter().zip(&hosts) {
        assert_eq!(h.host, host.address);
        assert_eq!(
            &h.working_directory,
            host.working_directory.as_ref().expect("dir")
        );
        assert_eq!(h.binary_bytes_sent, binary_size, "{h:?}");
        assert_eq!(h.node_hash, row.provenance.node_hash);
        assert_eq!(
            h.metrics_route, "direct",
            "loopback metrics answer directly"
        );
        assert!(h.config_bytes_sent > 0 && h.log_bytes_received > 0, "{h:?}");
        let offset = h.clock_offset_ms.expect("clock measured");
        assert!(offset.abs() < 1000.0, "same machine, offset {offset} ms");
        assert_eq!(h.log_panics, 0, "{h:?}");
        // The testbed set-up ran there (its session file raises the validators' limits).
        assert!(Path::new(&h.working_directory).join("session.sh").is_file());
        // The binary is installed under its hash.
        let installed = Path::new(&h.working_directory)
            .join("bin")
            .join(format!("node-{}", &row.provenance.node_hash[..16]));
        assert_eq!(
            xtask::builder::file_sha256(&installed).expect("installed binary"),
            row.provenance.node_hash
        );
    }
    // Validators 0 and 3 on the first host, 3 crashing and coming back: 3 starts there.
    assert_eq!(
        host_rows
            .iter()
            .map(|h| h.validator_starts)
            .collect::<Vec<_>>(),
        vec![3, 1, 1]
    );
    common::crashed_and_recovered(&run.join("faults.csv"));
    let point = run.join("n4-f1-load1000-r0");
    for i in 0..4 {
        let log = std::fs::read_to_string(point.join(format!("logs/validator-{i}.log")))
            .unwrap_or_else(|e| panic!("log of validator {i}: {e}"));
        assert!(log.contains("validator started"), "validator {i}: {log}");
    }
    let recovered = std::fs::read_to_string(point.join("logs/validator-3.log")).expect("log");
    assert_eq!(
        recovered.matches("validator started").count(),
        2,
        "validator 3 started twice: {recovered}"
    );
    // The commit logs came back with the logs, and the restarted validator continued the
    // same committed sequence.
    for i in 0..4 {
        assert!(
            point.join(format!("logs/commits-{i}.csv")).is_file(),
            "commits-{i}.csv"
        );
    }
    assert_safe_under_faults(row);
    let validators: Vec<ValidatorRow> = read_rows(&run.join("validators.csv"));
    assert!(validators.iter().any(|r| r.validator == 1
        && r.host == hosts[1].address
        && r.region == "region-1"
        && r.instance_type == "static"));
    let timeseries: Vec<TimeseriesRow> = read_rows(&run.join("timeseries.csv"));
    assert!(timeseries
        .iter()
        .any(|r| r.host == hosts[1].address && r.region == "region-1" && r.throughput_tps > 0.0));
    for host in &hosts {
        let runs = Path::new(host.working_directory.as_ref().expect("dir")).join("runs/first");
        let left: Vec<_> = std::fs::read_dir(&runs)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "point files left on the host: {left:?}");
    }

    // Second run, same binary, metrics through SSH, hosts not set up again: nothing is sent.
    settings.common.scrape_through_ssh = true;
    let args = bench_args(&[
        "--committee",
        "3",
        "--loads",
        "600",
        "--skip-configure",
        "--run-id",
        "second",
    ]);
    let rows = xtask::commands::bench::rows(&settings, &args).expect("second remote bench");
    assert!(
        rows[0].measured.throughput_tps > 300.0,
        "{}",
        rows[0].measured.throughput_tps
    );
    let host_rows: Vec<HostRow> = read_rows(&results.join("second/hosts.csv"));
    for h in &host_rows {
        assert_eq!(h.binary_bytes_sent, 0, "{h:?}");
        assert_eq!(h.metrics_route, "ssh", "{h:?}");
    }
    assert!(left_running(&hosts).is_empty());

    // --skip-update on a host that lost the binary stops before starting anything.
    let lost = Path::new(&host_rows[1].working_directory)
        .join("bin")
        .join(format!("node-{}", &rows[0].provenance.node_hash[..16]));
    std::fs::remove_file(&lost).expect("remove the binary of host 1");
    let err = xtask::commands::bench::rows(
        &settings,
        &bench_args(&["--skip-update", "--run-id", "third"]),
    )
    .expect_err("host 1 has no binary");
    let message = format!("{err:#}");
    assert!(
        message.contains(&format!("{}:{}", hosts[1].address, hosts[1].port))
            && message.contains("--skip-update"),
        "{message}"
    );
    assert!(
        !message.contains(&format!("@{}:", hosts[0].address)),
        "{message}"
    );
    assert!(left_running(&hosts).is_empty());
}

#[test]
fn an_interrupted_remote_bench_stops_every_host_and_keeps_its_row_logs_and_clean_hosts() {
    let _serial = serial();
    let root = tempfile::tempdir().expect("tmp");
    let hosts = static_hosts(root.path());
    let settings = static_settings(root.path(), &hosts);
    let _forget = forget_on_exit(&settings);
    let results = root.path().join("results");
    // Every host runs at least one validator.
    let committee = hosts.len().max(4);
    let args = common::bench_args(
        120,
        &[
            "--committee",
            &committee.to_string(),
            "--loads",
            "1000",
            "--run-id",
            "cut",
        ],
    );
    let urls = metrics_urls(&settings, &hosts, committee);
    // Built before, so that the wait below covers the run only.
    let target = xtask::commands::build::hosts_target(&settings).expect("hosts answer");
    xtask::builder::build_node(
        &xtask::workspace::root().expect("the tests run inside the workspace"),
        target.as_deref(),
    )
    .expect("node builds");
    // Ctrl-C once every validator is 2 s into the 120 s window (after the 2 s warm-up).
    common::interrupt_bench(std::time::Duration::from_secs(180), &urls, || {
        xtask::commands::bench::rows(&settings, &args)
    });

    // The row of the cut point, marked and with what was measured.
    let run = results.join("cut");
    let row = common::interrupted_row(&results, "cut", 120.0);
    assert_eq!(row.measured.validators_observed, committee);

    // Nothing runs on any host.
    assert!(
        left_running(&hosts).is_empty(),
        "validators left: {:?}",
        left_running(&hosts)
    );
    // Every validator's log and commit log came back, from every host.
    let point = run.join(format!("n{committee}-f0-load1000-r0"));
    for i in 0..committee {
        let log = std::fs::read_to_string(point.join(format!("logs/validator-{i}.log")))
            .unwrap_or_else(|e| panic!("log of validator {i}: {e}"));
        assert!(log.contains("validator started"), "validator {i}: {log}");
        assert!(
            point.join(format!("logs/commits-{i}.csv")).is_file(),
            "commits-{i}.csv"
        );
    }
    let host_rows: Vec<HostRow> = read_rows(&run.join("hosts.csv"));
    assert_eq!(host_rows.len(), hosts.len());
    for h in &host_rows {
        assert!(h.log_bytes_received > 0, "no log fetched from {h:?}");
    }
    // The hosts keep no file of the run, as after a run that ends normally.
    for host in &hosts {
        let runs = Path::new(host.working_directory.as_ref().expect("dir")).join("runs/cut");
        let left: Vec<_> = std::fs::read_dir(&runs)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "point files left on the host: {left:?}");
    }
}

#[test]
fn an_unreachable_host_is_named_and_nothing_is_left_running() {
    let _serial = serial();
    let root = tempfile::tempdir().expect("tmp");
    let mut hosts = static_hosts(root.path());
    // A loopback address and port where no sshd listens.
    let down = TcpListener::bind(("127.0.0.250", 0)).expect("bind");
    let down_port = down.local_addr().expect("addr").port();
    drop(down);
    hosts.push(StaticHost {
        address: "127.0.0.250".into(),
        port: down_port,
        user: hosts[0].user.clone(),
        region: "region-down".into(),
        private_address: None,
        working_directory: Some(root.path().join("down").display().to_string()),
    });
    let settings = static_settings(root.path(), &hosts);
    let _forget = forget_on_exit(&settings);
    let err = xtask::commands::bench::rows(&settings, &bench_args(&["--run-id", "down"]))
        .expect_err("one host is down");
    let message = format!("{err:#}");
    assert!(
        message.contains(&format!("127.0.0.250:{down_port}")),
        "{message}"
    );
    assert!(message.contains("1 of 4 hosts unreachable"), "{message}");
    assert!(message.contains("before anything was started"), "{message}");
    // The reachable hosts were not touched: no directory, no binary, no process.
    for host in &hosts {
        let dir = Path::new(host.working_directory.as_ref().expect("dir"));
        assert!(!dir.exists(), "{} was changed", dir.display());
    }
    assert!(left_running(&hosts).is_empty());
    assert!(!root.path().join("results/down").exists());
}

#[test]
fn the_build_target_is_asked_from_the_hosts() {
    let _serial = serial();
    let root = tempfile::tempdir().expect("tmp");
    let hosts = static_hosts(root.path());
    let settings = static_settings(root.path(), &hosts);
    let _forget = forget_on_exit(&settings);
    let target = xtask::commands::build::hosts_target(&settings).expect("hosts answer");
    // The hosts are this machine: its architecture, and musl when rustup says that target
    // is installed (the code under test looks for the standard library in the sysroot).
    let arch = std::env::consts::ARCH;
    let musl = format!("{arch}-unknown-linux-musl");
    let expected = if installed_targets().contains(&musl) {
        musl
    } else {
        format!("{arch}-unknown-linux-gnu")
    };
    assert_eq!(target, Some(expected));

    // A host whose `uname -m` names another architecture than this machine's.
    let other = if arch == "aarch64" {
        "x86_64"
    } else {
        "aarch64"
    };
    let bin = root.path().join("other-arch-bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    let uname = bin.join("uname");
    std::fs::write(
        &uname,
        format!(
            "#!/bin/sh\n[ \"$1\" = -m ] && echo {other} && exit 0\nexec /usr/bin/uname \"$@\"\n"
        ),
    )
    .expect("uname");
    std::fs::set_permissions(&uname, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod uname");
    let sshd = OwnSshd::start(
        root.path().join("other-sshd"),
        Some(&format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display())),
    );
    let other_host = sshd.static_host("region-other", &root.path().join("other"));
    let alone = static_settings(root.path(), std::slice::from_ref(&other_host));
    let _forget_alone = forget_on_exit(&alone);
    let answer = xtask::commands::build::hosts_target(&alone);
    let installed = installed_targets();
    let (musl, gnu) = (
        format!("{other}-unknown-linux-musl"),
        format!("{other}-unknown-linux-gnu"),
    );
    if installed.contains(&musl) {
        assert_eq!(answer.expect("a target"), Some(musl));
    } else if installed.contains(&gnu) {
        assert_eq!(answer.expect("a target"), Some(gnu));
    } else {
        let message = format!("{:#}", answer.expect_err("no target for that architecture"));
        assert!(
            message.contains(&format!("no Rust target for {other} hosts")),
            "{message}"
        );
    }
    // With the other hosts: two architectures, one binary cannot serve both.
    let mut mixed_hosts = hosts.clone();
    mixed_hosts.push(other_host);
    let mixed = static_settings(root.path(), &mixed_hosts);
    let _forget_mixed = forget_on_exit(&mixed);
    let message = format!(
        "{:#}",
        xtask::commands::build::hosts_target(&mixed).expect_err("two architectures")
    );
    assert!(
        message.contains("different architectures")
            && message.contains(arch)
            && message.contains(other),
        "{message}"
    );
}

/// Processes descending from `root` (itself included).
fn process_tree(root: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        if let Some(ppid) = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split(' ').nth(1)?.parse::<u32>().ok())
        {
            parents.push((pid, ppid));
        }
    }
    let mut tree = vec![root];
    let mut grew = true;
    while grew {
        grew = false;
        for (pid, ppid) in &parents {
            if tree.contains(ppid) && !tree.contains(pid) {
                tree.push(*pid);
                grew = true;
            }
        }
    }
    tree
}

#[test]
fn a_host_lost_during_the_run_is_named_and_the_others_are_stopped() {
    let _serial = serial();
    let root = tempfile::tempdir().expect("tmp");
    let mut hosts = static_hosts(root.path());
    // One more host with its own sshd, to be lost mid-run: the machine "dies" (its sshd and
    // its validators are killed).
    let sshd = OwnSshd::start(root.path().join("doomed-sshd"), None);
    let port = sshd.port;
    let doomed_dir = root.path().join("doomed");
    hosts.push(sshd.static_host("region-doomed", &doomed_dir));
    let settings = static_settings(root.path(), &hosts);
    let _forget = forget_on_exit(&settings);
    let committee = hosts.len();

    let killer = std::thread::spawn({
        let sshd_pid = sshd.pid();
        let urls = metrics_urls(&settings, &hosts, committee);
        let doomed_dir = doomed_dir.clone();
        move || {
            // Once every validator is a second into the measured window (after the 2 s
            // warm-up), the host goes away; a bounded wait.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
            let mut measuring = false;
            while !measuring && std::time::Instant::now() < deadline {
                measuring = common::running_for(&urls, 3.0);
                if !measuring {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
            }
            let mut victims = process_tree(sshd_pid);
            victims.extend(
                common::processes_under(&doomed_dir)
                    .into_iter()
                    .map(|(pid, _)| pid),
            );
            for pid in victims {
                // SAFETY: kill(2) on processes this test started (the sshd and the lost
                // host's validators).
                unsafe {
                    libc::kill(pid as i32, libc::SIGKILL);
                }
            }
            measuring
        }
    });
    let err = xtask::commands::bench::rows(
        &settings,
        &bench_args(&[
            "--committee",
            &committee.to_string(),
            "--loads",
            "800",
            "--run-id",
            "lost",
        ]),
    )
    .expect_err("a host was lost");
    assert!(
        killer.join().expect("killer thread"),
        "the validators were never all measuring: the host was not lost during the run"
    );
    let message = format!("{err:#}");
    assert!(message.contains(&format!("127.0.0.2:{port}")), "{message}");
    // The reachable hosts are left with nothing running, and the run's records exist.
    assert!(
        left_running(&hosts).is_empty(),
        "left: {:?}",
        left_running(&hosts)
    );
    let host_rows: Vec<HostRow> = read_rows(&root.path().join("results/lost/hosts.csv"));
    assert_eq!(host_rows.len(), hosts.len());
}

#[test]
fn a_busy_port_is_named_with_its_host_and_nothing_starts() {
    let _serial = serial();
    let root = tempfile::tempdir().expect("tmp");
    let hosts = static_hosts(root.path());
    let settings = static_settings(root.path(), &hosts);
    let _forget = forget_on_exit(&settings);
    // Validator 1 runs on the second host: something already holds its metrics port there.
    let port = settings.common.ports.metrics_base + 1;
    let holder = TcpListener::bind((hosts[1].address.as_str(), port)).expect("hold the port");
    let err = xtask::commands::bench::rows(&settings, &bench_args(&["--run-id", "busy"]))
        .expect_err("port in use");
    drop(holder);
    let message = format!("{err:#}");
    assert!(
        message.contains(&format!(
            "@{}:{} has port(s) {port} in use",
            hosts[1].address, hosts[1].port
        )),
        "{message}"
    );
    assert!(
        !message.contains(&format!("@{}:", hosts[0].address)),
        "{message}"
    );
    assert!(left_running(&hosts).is_empty());
}

/// Network emulation on remote hosts: a profile file is uploaded with the committee and
/// passed by path, and every validator, whichever host it runs on, counts the partition from
/// the same epoch, the end of the warm-up.
#[test]
fn a_remote_bench_stages_the_profile_and_counts_a_partition_from_the_measured_window() {
    let _serial = serial();
    let root = tempfile::tempdir().expect("tmp");
    let hosts = static_hosts(root.path());
    let settings = static_settings(root.path(), &hosts);
    let _forget = forget_on_exit(&settings);
    let profile = root.path().join("two-sites.json");
    let text = r#"{"description": "two sites 5 ms apart", "regions": ["a", "b"], "links": [
        {"from": "a", "to": "a", "delay_ms": 0.5}, {"from": "a", "to": "b", "delay_ms": 5},
        {"from": "b", "to": "a", "delay_ms": 5}, {"from": "b", "to": "b", "delay_ms": 0.5}]}"#;
    std::fs::write(&profile, text).expect("profile");
    // Warm-up 2 s, 8 s measured; validator 3 cut off from 1 s to 6 s of the window, that is
    // from 3 s to 8 s after the recording's start.
    let args = common::bench_args(
        8,
        &[
            "--committee",
            "4",
            "--loads",
            "1000",
            "--run-id",
            "wan",
            "--network",
            profile.to_str().expect("utf-8"),
            "--partition",
            "0,1,2/3@1s+5s",
        ],
    );
    let rows = xtask::commands::bench::rows(&settings, &args).expect("remote bench runs");
    let row = &rows[0];
    assert_eq!(row.network.network, "two-sites");
    assert_eq!(row.network.network_faults, "partition 0,1,2/3@1s+5s");
    assert!(
        row.checks.safety.to_string().starts_with("ok ("),
        "safety {}",
        row.checks.safety
    );
    let point = root.path().join("results/wan/n4-f0-load1000-r0");
    assert_eq!(
        std::fs::read_to_string(point.join("network-profile.json")).expect("profile kept"),
        text
    );
    assert!(left_running(&hosts).is_empty());
    // Well inside the window validator 3 (on the first host) commits nothing while the
    // others go on.
    let series: Vec<TimeseriesRow> = read_rows(&root.path().join("results/wan/timeseries.csv"));
    let committed = |v: usize| -> Vec<f64> {
        series
            .iter()
            .filter(|r| r.validator == v && (4.0..=7.9).contains(&r.elapsed_s))
            .map(|r| r.committed_transactions)
            .collect()
    };
    let (cut_off, other) = (committed(3), committed(1));
    assert!(cut_off.len() >= 2, "{cut_off:?}");
    assert_eq!(cut_off.first(), cut_off.last(), "validator 3: {cut_off:?}");
    assert!(other.last() > other.first(), "validator 1: {other:?}");
}
