//! The local testbed's executor: validators as child processes of this machine on loopback.

use std::{
    collections::BTreeMap,
    fs::OpenOptions,
    net::TcpListener,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::{last_lines, Deployment, Executor};
use crate::protocol::files::{commit_log_file, log_file};
use crate::protocol::{run_args, RunOptions};
use crate::{
    builder::{Build, NodeBinary},
    metrics::host::HostCounters,
};

/// The local testbed: nothing to install, one [`LocalExecutor`] per point.
pub struct LocalDeployment {
    metrics_ports: Vec<u16>,
}

impl LocalDeployment {
    /// Validators serve metrics on `metrics_ports[i]`.
    pub fn new(metrics_ports: Vec<u16>) -> Self {
        Self { metrics_ports }
    }
}

impl Deployment for LocalDeployment {
    fn target(&self) -> Result<Option<String>> {
        Ok(None)
    }

    fn install(&mut self, _build: &Build) -> Result<()> {
        Ok(())
    }

    fn executor<'a>(&'a self, _point: &str, logs: &Path) -> Result<Box<dyn Executor + 'a>> {
        Ok(Box::new(LocalExecutor::new(
            logs,
            self.metrics_ports.clone(),
        )?))
    }

    fn finish(&mut self, _run_dir: &Path) -> Result<()> {
        Ok(())
    }
}

/// Runs validators as processes here. Each gets its own process group (so a Ctrl-C reaches
/// only the orchestrator, which then stops them in order) and dies with the orchestrator.
pub struct LocalExecutor {
    /// Genesis files and storage of the run (removed on drop).
    work: tempfile::TempDir,
    /// Where validators write their logs.
    logs: PathBuf,
    binary: Option<PathBuf>,
    metrics_ports: Vec<u16>,
    children: BTreeMap<usize, Child>,
    /// Every validator started at least once.
    started: std::collections::BTreeSet<usize>,
}

impl LocalExecutor {
    /// An executor whose validators log into `logs` and serve metrics on `metrics_ports[i]`.
    pub fn new(logs: &Path, metrics_ports: Vec<u16>) -> Result<Self> {
        std::fs::create_dir_all(logs)
            .with_context(|| format!("cannot create {}", logs.display()))?;
        let work = tempfile::Builder::new()
            .prefix("consensus-bench-")
            .tempdir()
            .context("cannot create a working directory for the validators")?;
        Ok(Self {
            work,
            logs: logs.to_path_buf(),
            binary: None,
            metrics_ports,
            children: BTreeMap::new(),
            started: Default::default(),
        })
    }

    fn signal(&self, validator: usize, signal: i32) {
        if let Some(child) = self.children.get(&validator) {
            // SAFETY: kill(2) on a pid we spawned and have not reaped yet.
            unsafe {
                libc::kill(child.id() as i32, signal);
            }
        }
    }
}

impl Executor for LocalExecutor {
    fn stage(&mut self, binary: &NodeBinary, genesis: &Path) -> Result<()> {
        let options = fs_extra::dir::CopyOptions::new()
            .content_only(true)
            .overwrite(true);
        fs_extra::dir::copy(genesis, self.work.path(), &options).with_context(|| {
            format!(
                "cannot copy {} to {}",
                genesis.display(),
                self.work.path().display()
            )
        })?;
        self.binary = Some(binary.path.clone());
        Ok(())
    }

    fn check_ports(&mut self, ports: &[u16]) -> Result<()> {
        for &port in ports {
            if let Err(e) = TcpListener::bind(("127.0.0.1", port)) {
                bail!(
                    "port {port} on 127.0.0.1 is in use ({e}): stop what holds it or choose other \
                     ports with `base_port` / `metrics_base_port` in the settings"
                );
            }
        }
        Ok(())
    }

    fn start(&mut self, launch: &RunOptions) -> Result<()> {
        let binary = self
            .binary
            .clone()
            .context("the node binary was not staged before starting validators")?;
        let i = launch.validator;
        if self.is_alive(i)? {
            bail!("validator {i} is already running");
        }
        let log_path = self.logs.join(log_file(i));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        let log_err = log.try_clone().context("cannot duplicate the log file")?;
        let dir = self.work.path().display().to_string();
        let mut command = Command::new(&binary);
        command
            .args(run_args(launch, &dir))
            .env(
                "RUST_LOG",
                std::env::var("NODE_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0);
        // SAFETY: prctl only sets this child's parent-death signal; async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start validator {i} ({})", binary.display()))?;
        self.children.insert(i, child);
        self.started.insert(i);
        Ok(())
    }

    fn kill(&mut self, validator: usize) -> Result<()> {
        if let Some(mut child) = self.children.remove(&validator) {
            child.kill().ok();
            child
                .wait()
                .with_context(|| format!("cannot reap validator {validator}"))?;
        }
        Ok(())
    }

    fn is_alive(&mut self, validator: usize) -> Result<bool> {
        match self.children.get_mut(&validator) {
            Some(child) => Ok(child
                .try_wait()
                .with_context(|| format!("cannot check validator {validator}"))?
                .is_none()),
            None => Ok(false),
        }
    }

    fn metrics_url(&mut self, validator: usize) -> Result<String> {
        let port = self
            .metrics_ports
            .get(validator)
            .with_context(|| format!("validator {validator} has no metrics port"))?;
        Ok(format!("http://127.0.0.1:{port}/metrics"))
    }

    fn stop_all(&mut self) -> Result<()> {
        let validators: Vec<usize> = self.children.keys().copied().collect();
        for &i in &validators {
            self.signal(i, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for i in validators {
            let Some(mut child) = self.children.remove(&i) else {
                continue;
            };
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if child.try_wait().ok().flatten().is_none() {
                child.kill().ok();
            }
            child
                .wait()
                .with_context(|| format!("cannot reap validator {i}"))?;
        }
        Ok(())
    }

    fn collect_logs(&mut self, destination: &Path) -> Result<()> {
        // Local validators already write their logs into the results directory; their
        // commit logs are in the working directory.
        for &i in self.started.iter() {
            let source = self.work.path().join(commit_log_file(i));
            if source.exists() {
                let target = destination.join(commit_log_file(i));
                std::fs::copy(&source, &target).with_context(|| {
                    format!("cannot copy {} to {}", source.display(), target.display())
                })?;
            }
        }
        Ok(())
    }

    fn log_tail(&mut self, validator: usize) -> Option<String> {
        let text = std::fs::read_to_string(self.logs.join(log_file(validator))).ok()?;
        Some(last_lines(&text))
    }

    fn host_counters(&mut self) -> Option<HostCounters> {
        HostCounters::read_local()
    }
}

impl Drop for LocalExecutor {
    fn drop(&mut self) {
        let _ = self.stop_all();
    }
}
