//! The executor of one point on a remote testbed: validators as detached processes on the
//! hosts, driven over SSH.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Write,
    path::Path,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::{all_ok, log_archive, processes, Host, RemoteDeployment};
use crate::{
    builder::NodeBinary,
    deployment::{last_lines, Executor, LOG_TAIL_LINES},
    protocol::files::{commit_log_file, log_file},
    protocol::{run_args, RunOptions},
    results, ssh,
    testbed::{host_setup, Instance},
};

/// How long a liveness answer is reused: the measurement loop asks about every validator on
/// every scrape, and each answer costs one SSH command per host; a validator that dies is
/// noticed within this time (its failing scrapes show it at once).
const ALIVE_CACHE: Duration = Duration::from_secs(2);

/// Runs one point's validators on the hosts of a [`RemoteDeployment`].
pub struct RemoteExecutor<'a> {
    deployment: &'a RemoteDeployment,
    point: String,
    /// Validators started at least once during this point.
    started: BTreeSet<usize>,
    /// Validators found alive, and when.
    alive: Option<(Instant, BTreeSet<usize>)>,
    urls: BTreeMap<usize, String>,
    stopped: bool,
}

impl<'a> RemoteExecutor<'a> {
    /// An executor for point `point`, its logs going to `logs`.
    pub fn new(deployment: &'a RemoteDeployment, point: &str, logs: &Path) -> Result<Self> {
        std::fs::create_dir_all(logs)
            .with_context(|| format!("cannot create {}", logs.display()))?;
        Ok(Self {
            deployment,
            point: point.to_string(),
            started: BTreeSet::new(),
            alive: None,
            urls: BTreeMap::new(),
            stopped: false,
        })
    }

    fn point_dir(&self, host: &Host) -> String {
        host.point_dir(&self.deployment.options.run_id, &self.point)
    }

    fn binary(&self) -> Result<&NodeBinary> {
        self.deployment.installed()
    }

    /// The hosts (by index) running any of `validators`, with those validators.
    fn placement(
        &self,
        validators: impl IntoIterator<Item = usize>,
    ) -> BTreeMap<usize, Vec<usize>> {
        let mut placement: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for v in validators {
            placement
                .entry(self.deployment.host_of(v).0)
                .or_default()
                .push(v);
        }
        placement
    }

    /// Runs `f` on the hosts of `placement` in parallel; an error naming each host that
    /// failed.
    fn on_hosts<T: Send>(
        &self,
        what: &str,
        placement: &BTreeMap<usize, Vec<usize>>,
        f: impl Fn(&Host, &[usize]) -> Result<T> + Sync,
    ) -> Result<Vec<(usize, T)>> {
        let hosts = &self.deployment.hosts;
        let indices: Vec<usize> = placement.keys().copied().collect();
        let instances: Vec<Instance> = indices.iter().map(|&i| hosts[i].instance.clone()).collect();
        let results = self.deployment.ssh.results(&instances, |instance| {
            let index = indices
                .iter()
                .copied()
                .find(|&i| hosts[i].instance.id == instance.id)
                .context("internal error: unknown host")?;
            f(&hosts[index], &placement[&index])
        });
        let values = all_ok(what, &instances, results)?;
        Ok(indices.into_iter().zip(values).collect())
    }

    /// Refreshes which started validators are alive (one command per host).
    fn refresh_alive(&mut self) -> Result<BTreeSet<usize>> {
        let binary = self.binary()?;
        let placement = self.placement(self.started.iter().copied());
        let found = self.on_hosts("checking the validators", &placement, |host, _| {
            let output = self.deployment.ssh.run(
                &host.instance,
                &processes::alive(&self.point_dir(host), &host.binary_path(binary)),
            )?;
            Ok(output
                .stdout
                .lines()
                .filter_map(|l| {
                    l.trim()
                        .strip_prefix("validator-")?
                        .strip_suffix(".pid")?
                        .parse::<usize>()
                        .ok()
                })
                .collect::<Vec<usize>>())
        })?;
        Ok(found.into_iter().flat_map(|(_, v)| v).collect())
    }
}

/// A gzip-compressed tar archive of `files` (name, contents, mode).
fn tar_gz(files: &[(String, Vec<u8>, u32)]) -> Result<Vec<u8>> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    for (name, contents, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(*mode);
        header.set_cksum();
        builder
            .append_data(&mut header, name, contents.as_slice())
            .with_context(|| format!("cannot pack {name}"))?;
    }
    let mut encoder = builder.into_inner().context("cannot finish the archive")?;
    encoder.flush().context("cannot compress the archive")?;
    encoder.finish().context("cannot compress the archive")
}

impl Executor for RemoteExecutor<'_> {
    fn stage(&mut self, binary: &NodeBinary, genesis: &Path) -> Result<()> {
        let installed = self.binary()?;
        if installed.hash != binary.hash {
            bail!(
                "the hosts were given node {} but the run uses {}",
                installed.short_hash(),
                binary.short_hash()
            );
        }
        let mut shared = Vec::new();
        let mut keys = BTreeMap::new();
        for entry in std::fs::read_dir(genesis)
            .with_context(|| format!("cannot read {}", genesis.display()))?
        {
            let entry = entry.with_context(|| format!("cannot read {}", genesis.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let contents = std::fs::read(entry.path())
                .with_context(|| format!("cannot read {}", entry.path().display()))?;
            let validator = name
                .strip_prefix("private-")
                .and_then(|n| n.strip_suffix(".key"))
                .and_then(|n| n.parse::<usize>().ok());
            match validator {
                Some(v) => {
                    keys.insert(v, (name, contents, 0o600));
                }
                None => shared.push((name, contents, 0o644)),
            }
        }
        let placement = self.placement(keys.keys().copied());
        let sent = self.on_hosts(
            "staging the genesis files",
            &placement,
            |host, validators| {
                let mut files = shared.clone();
                files.extend(validators.iter().filter_map(|v| keys.get(v).cloned()));
                let archive = tar_gz(&files)?;
                let dir = self.point_dir(host);
                self.deployment.ssh.run_with_input(
                    &host.instance,
                    &format!(
                        "mkdir -p {dir} && tar -xzf - -C {dir}",
                        dir = ssh::shell::quote(&dir)
                    ),
                    archive.clone(),
                )?;
                Ok(archive.len() as u64)
            },
        )?;
        for (index, bytes) in sent {
            self.deployment.hosts[index].stats().config_bytes_sent += bytes;
        }
        Ok(())
    }

    fn check_ports(&mut self, ports: &[u16]) -> Result<()> {
        // Each host is checked for the ports of its own validators.
        let options = &self.deployment.options;
        let placement = self.placement(0..options.metrics_ports.len());
        let busy = self.on_hosts("checking the ports", &placement, |host, validators| {
            let wanted: Vec<u16> = validators
                .iter()
                .flat_map(|&v| [options.consensus_ports.get(v), options.metrics_ports.get(v)])
                .flatten()
                .copied()
                .filter(|p| ports.contains(p))
                .collect();
            let output = self
                .deployment
                .ssh
                .run(&host.instance, processes::SOCKET_TABLES)?;
            let listening = processes::listening_ports(&output.stdout);
            Ok(wanted
                .into_iter()
                .filter(|p| listening.contains(p))
                .collect::<Vec<u16>>())
        })?;
        let busy: Vec<String> = busy
            .into_iter()
            .filter(|(_, ports)| !ports.is_empty())
            .map(|(index, ports)| {
                format!(
                    "{} has port(s) {} in use",
                    ssh::describe(&self.deployment.hosts[index].instance),
                    ports
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect();
        if !busy.is_empty() {
            bail!(
                "{}: stop what holds them or choose other ports with `base_port` / \
                 `metrics_base_port` in the settings",
                busy.join("; ")
            );
        }
        Ok(())
    }

    fn start(&mut self, launch: &RunOptions) -> Result<()> {
        let i = launch.validator;
        if self.started.contains(&i) && self.is_alive(i)? {
            bail!("validator {i} is already running");
        }
        let binary = self.binary()?;
        let (index, host) = self.deployment.host_of(i);
        let dir = self.point_dir(host);
        let mut args = run_args(launch, &dir);
        args.push(crate::protocol::run::BIND_ALL.into());
        let filter = std::env::var("NODE_LOG").unwrap_or_else(|_| "info".into());
        let output = self
            .deployment
            .ssh
            .run(
                &host.instance,
                &processes::start(
                    &dir,
                    &host.binary_path(binary),
                    &args,
                    i,
                    &log_file(i),
                    &filter,
                    &format!("{}/{}", host.dir, host_setup::SESSION_FILE),
                ),
            )
            .with_context(|| format!("cannot start validator {i}"))?;
        if output.stdout.trim().parse::<u32>().is_err() {
            bail!(
                "{}: validator {i} started but wrote no pid file in {dir}",
                ssh::describe(&host.instance)
            );
        }
        self.started.insert(i);
        self.deployment.started.store(true, Ordering::SeqCst);
        self.deployment.hosts[index].stats().validator_starts += 1;
        self.alive = None;
        Ok(())
    }

    fn kill(&mut self, validator: usize) -> Result<()> {
        if !self.started.contains(&validator) {
            return Ok(());
        }
        let binary = self.binary()?;
        let (_, host) = self.deployment.host_of(validator);
        self.deployment
            .ssh
            .run(
                &host.instance,
                &processes::kill(
                    &self.point_dir(host),
                    &host.binary_path(binary),
                    &[validator],
                ),
            )
            .with_context(|| format!("cannot kill validator {validator}"))?;
        self.alive = None;
        Ok(())
    }

    fn is_alive(&mut self, validator: usize) -> Result<bool> {
        if !self.started.contains(&validator) {
            return Ok(false);
        }
        let fresh = self
            .alive
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < ALIVE_CACHE);
        if !fresh {
            let alive = self.refresh_alive()?;
            self.alive = Some((Instant::now(), alive));
        }
        Ok(self
            .alive
            .as_ref()
            .is_some_and(|(_, alive)| alive.contains(&validator)))
    }

    fn metrics_url(&mut self, validator: usize) -> Result<String> {
        if let Some(url) = self.urls.get(&validator) {
            return Ok(url.clone());
        }
        let port = *self
            .deployment
            .options
            .metrics_ports
            .get(validator)
            .with_context(|| format!("validator {validator} has no metrics port"))?;
        let (index, host) = self.deployment.host_of(validator);
        let url = self
            .deployment
            .metrics_url(index, validator, &self.point_dir(host), port)?;
        // Cache only a settled route (the host answered, directly or through SSH).
        if host.stats().route.is_some() {
            self.urls.insert(validator, url.clone());
        }
        Ok(url)
    }

    fn stop_all(&mut self) -> Result<()> {
        if self.started.is_empty() {
            self.stopped = true;
            return Ok(());
        }
        let binary = self.binary()?;
        let placement = self.placement(self.started.iter().copied());
        self.on_hosts("stopping the validators", &placement, |host, _| {
            self.deployment
                .ssh
                .run(
                    &host.instance,
                    &processes::stop(&self.point_dir(host), &host.binary_path(binary)),
                )
                .map(|_| ())
        })?;
        self.stopped = true;
        self.alive = None;
        Ok(())
    }

    fn collect_logs(&mut self, destination: &Path) -> Result<()> {
        std::fs::create_dir_all(destination)
            .with_context(|| format!("cannot create {}", destination.display()))?;
        let placement = self.placement(self.started.iter().copied());
        let received = self.on_hosts("downloading the logs", &placement, |host, validators| {
            let dir = self.point_dir(host);
            let files: Vec<String> = validators
                .iter()
                .flat_map(|&v| [log_file(v), commit_log_file(v)])
                .collect();
            let archive = tempfile::Builder::new()
                .prefix("consensus-bench-logs-")
                .suffix(".tar.gz")
                .tempfile()
                .context("cannot create a local file for the logs")?;
            self.deployment.ssh.run_to_file(
                &host.instance,
                &log_archive::archive_command(&dir, &files),
                archive.path(),
            )?;
            let bytes = std::fs::metadata(archive.path())
                .map(|m| m.len())
                .unwrap_or_default();
            log_archive::unpack(archive.path(), destination)?;
            // The point is over and its logs are here: its files leave the host.
            self.deployment.ssh.run(
                &host.instance,
                &format!("rm -rf {}", ssh::shell::quote(&dir)),
            )?;
            Ok(bytes)
        })?;
        for (index, bytes) in received {
            self.deployment.hosts[index].stats().log_bytes_received += bytes;
        }
        let summaries = results::validator_log::summarize(destination)
            .with_context(|| format!("cannot read the logs in {}", destination.display()))?;
        for summary in summaries {
            let Some(v) = summary.validator.filter(|v| self.started.contains(v)) else {
                continue;
            };
            let host = self.deployment.host_of(v).1;
            let mut stats = host.stats();
            stats.log_errors += summary.errors as u64;
            stats.log_warnings += summary.warnings as u64;
            stats.log_panics += summary.panics as u64;
            if summary.has_problems() {
                eprintln!(
                    "warning: validator {v} on {} logged {} error(s) and {} panic(s): see {}",
                    ssh::describe(&host.instance),
                    summary.errors,
                    summary.panics,
                    summary.file.display()
                );
            }
        }
        Ok(())
    }

    fn log_tail(&mut self, validator: usize) -> Option<String> {
        let (_, host) = self.deployment.host_of(validator);
        let path = format!("{}/{}", self.point_dir(host), log_file(validator));
        let command = format!("tail -n {LOG_TAIL_LINES} {}", ssh::shell::quote(&path));
        let output = self.deployment.ssh.run(&host.instance, &command).ok()?;
        Some(last_lines(&output.stdout))
    }
}

impl Drop for RemoteExecutor<'_> {
    fn drop(&mut self) {
        if !self.stopped {
            if let Err(e) = self.stop_all() {
                eprintln!("warning: {e:#}");
            }
        }
    }
}
