//! Validators as `node` processes on 127.0.0.1: genesis, `node run` with its log in a file
//! and optionally a low open-files limit, `/metrics` scrapes. A process is SIGKILLed and
//! reaped when its handle is dropped.

#![allow(dead_code)]

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use node::{
    committee::CommitteeConfig,
    genesis::{private_key_file, COMMITTEE_FILE, PARAMETERS_FILE},
};

/// The node binary under test.
pub(crate) fn node_binary() -> &'static str {
    env!("CARGO_BIN_EXE_node")
}

#[path = "ports.rs"]
mod ports;

pub(crate) use ports::free_ports;

/// The files `node genesis` wrote for a committee on 127.0.0.1.
pub(crate) struct Genesis {
    /// Where they are.
    pub dir: PathBuf,
    /// The committee.
    pub committee: CommitteeConfig,
}

impl Genesis {
    /// Runs `node genesis` for `n` validators on free ports, then applies `parameters` (JSON
    /// fields) to parameters.json.
    pub(crate) fn new(dir: &Path, n: usize, parameters: serde_json::Value) -> Self {
        let ports = free_ports(2 * n as u16);
        let status = Command::new(node_binary())
            .arg("genesis")
            .arg("--ips")
            .args(vec!["127.0.0.1"; n])
            .arg("--working-directory")
            .arg(dir)
            .args(["--base-port", &ports.to_string()])
            .args(["--metrics-base-port", &(ports + n as u16).to_string()])
            .stdout(Stdio::null())
            .status()
            .expect("run node genesis");
        assert!(status.success(), "node genesis failed: {status}");
        let path = dir.join(PARAMETERS_FILE);
        let mut written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read parameters"))
                .expect("parameters.json");
        for (field, value) in parameters.as_object().expect("a JSON object") {
            written[field] = value.clone();
        }
        std::fs::write(&path, written.to_string()).expect("write parameters");
        let committee = serde_json::from_str(
            &std::fs::read_to_string(dir.join(COMMITTEE_FILE)).expect("read committee"),
        )
        .expect("committee.json");
        Self {
            dir: dir.to_path_buf(),
            committee,
        }
    }

    /// Validator `i`'s metrics address.
    pub(crate) fn metrics_address(&self, i: usize) -> SocketAddr {
        self.committee.authorities[i].metrics_address
    }

    /// Writes the committee with every port moved to a free one (the same keys) to `file`
    /// in the genesis directory; returns its path.
    pub(crate) fn committee_on_other_ports(&self, file: &str) -> PathBuf {
        let n = self.committee.authorities.len();
        let ports = free_ports(2 * n as u16);
        let mut moved = self.committee.clone();
        for (i, a) in moved.authorities.iter_mut().enumerate() {
            a.address.set_port(ports + i as u16);
            a.metrics_address.set_port(ports + (n + i) as u16);
        }
        let path = self.dir.join(file);
        std::fs::write(&path, serde_json::to_string(&moved).expect("encode")).expect("write");
        path
    }
}

/// How to start one `node run`.
pub(crate) struct Run<'a> {
    /// The committee's files.
    pub genesis: &'a Genesis,
    /// Validator index.
    pub authority: usize,
    /// `--storage`.
    pub storage: PathBuf,
    /// `--committee` (default: the genesis committee).
    pub committee: Option<PathBuf>,
    /// `--load` (tx/s).
    pub load: u64,
    /// Soft and hard `RLIMIT_NOFILE` of the process, set before it starts.
    pub open_files: Option<(u64, u64)>,
    /// Where its log goes.
    pub log: PathBuf,
}

/// A running `node run`.
pub(crate) struct NodeProcess {
    child: Child,
    log: PathBuf,
}

impl Run<'_> {
    /// Starts the process.
    pub(crate) fn start(self) -> NodeProcess {
        use std::os::unix::process::CommandExt;
        let dir = &self.genesis.dir;
        let log = std::fs::File::create(&self.log).expect("create the log file");
        let mut command = Command::new(node_binary());
        command
            .arg("run")
            .args(["--authority", &self.authority.to_string()])
            .arg("--committee")
            .arg(
                self.committee
                    .clone()
                    .unwrap_or_else(|| dir.join(COMMITTEE_FILE)),
            )
            .arg("--parameters")
            .arg(dir.join(PARAMETERS_FILE))
            .arg("--private")
            .arg(dir.join(private_key_file(self.authority)))
            .arg("--storage")
            .arg(&self.storage)
            .args(["--load", &self.load.to_string()])
            .args(["--transaction-size", "128"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if let Some((soft, hard)) = self.open_files {
            let limit = libc::rlimit {
                rlim_cur: soft as libc::rlim_t,
                rlim_max: hard as libc::rlim_t,
            };
            // SAFETY: setrlimit is async-signal-safe; it only reads `limit`, a copy owned by
            // the closure.
            unsafe {
                command.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = command.spawn().expect("start node run");
        NodeProcess {
            child,
            log: self.log,
        }
    }
}

impl NodeProcess {
    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its log so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (at most `limit`) until its log contains `text`; false if it does not, or the
    /// process exits first.
    pub(crate) fn wait_for_log(&mut self, text: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.log().contains(text) {
                return true;
            }
            if self.exited().is_some() {
                return self.log().contains(text);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Its exit status if it has exited.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Waits (at most `limit`) for it to exit.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// SIGKILL, then reap it.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait (at most 30 s) for a clean exit; SIGKILL if it does not come.
    pub(crate) fn stop(&mut self) -> Option<ExitStatus> {
        // SAFETY: kill only sends a signal to our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let status = self.wait_exit(Duration::from_secs(30));
        if status.is_none() {
            self.kill();
        }
        status
    }

    /// Descriptors it has open (from /proc).
    pub(crate) fn open_descriptors(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `GET /metrics` at `address` (HTTP/1.0, 5 s timeouts); `None` if it does not answer 200.
pub(crate) fn scrape(address: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&address, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.starts_with("HTTP/1.0 200").then_some(text)
}

/// The value of the sample `name` (with its labels, as written) in a scrape.
pub(crate) fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Polls `address` (every 200 ms, at most `limit`) until the sample `name` reaches `at_least`.
pub(crate) fn wait_for_sample(
    address: SocketAddr,
    name: &str,
    at_least: f64,
    limit: Duration,
) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if scrape(address)
            .and_then(|t| sample(&t, name))
            .is_some_and(|v| v >= at_least)
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}
