//! Remote testbeds (static hosts, AWS, Vultr): validators run on the hosts over SSH.
//!
//! Before the first point, [`RemoteDeployment::prepare`] connects to every host (naming any
//! that cannot be reached, before anything is changed), reads its architecture, glibc and
//! absolute working directory, sets it up (tools present, validators and files of earlier
//! runs removed; skipped with `--skip-configure`) and measures its clock offset; the run then
//! measures the round trips between the hosts ([`rtt`], through
//! [`Deployment::round_trips`]).
//! [`RemoteDeployment::install`] sends the node binary where it is missing (`--skip-update`:
//! only checks it is there). Each point then gets a [`RemoteExecutor`] that stages the
//! genesis, starts validators detached with pid files, applies faults with kill and restart,
//! scrapes metrics (directly or through SSH), stops everything and fetches the logs.
//! [`RemoteDeployment::finish`] kills anything of the run still running, writes `hosts.csv`
//! and closes the connections; dropping the deployment does the same cleanup.

pub mod clock;
pub mod log_archive;
pub mod processes;
pub mod records;
pub mod route;
pub mod rtt;
pub mod ssh_executor;
pub mod upload;

use std::{
    collections::BTreeMap,
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex, MutexGuard,
    },
    time::Instant,
};

use anyhow::{bail, Context, Result};

use crate::failures::Failures;
use crate::progress;
use indicatif::ProgressBar;

pub use ssh_executor::RemoteExecutor;

use super::Deployment;
use crate::interrupt;
use crate::{
    builder::{target, target::GlibcVersion, Build, NodeBinary},
    results,
    ssh::{self, shell::quote, SshClient, SshOptions},
    testbed::{host_setup, Instance},
};
use records::HostRow;
use route::Route;

/// Working directory on a host when the settings give none (relative to the login directory).
pub const DEFAULT_WORKING_DIRECTORY: &str = "consensus-bench";

/// What a remote run needs to know besides how to reach the hosts.
#[derive(Clone, Debug)]
pub struct Options {
    /// The run's identifier: its files live in `runs/<run_id>` on each host.
    pub run_id: String,
    /// The consensus port of each validator.
    pub consensus_ports: Vec<u16>,
    /// The metrics port of each validator.
    pub metrics_ports: Vec<u16>,
    /// The port ranges the set-up opens on every host.
    pub port_ranges: Vec<(u16, u16)>,
    /// Working directories the settings give hosts, by instance id; others use
    /// [`DEFAULT_WORKING_DIRECTORY`].
    pub working_directories: BTreeMap<String, String>,
    /// Scrape metrics through SSH port forwards even when the ports answer directly.
    pub scrape_through_ssh: bool,
    /// Do not send the binary; check the hosts have it.
    pub skip_update: bool,
    /// Do not set the hosts up (tools check, leftovers of earlier runs removed).
    pub skip_configure: bool,
}

/// Figures about one host gathered during the run.
#[derive(Clone, Debug, Default)]
struct HostStats {
    binary_bytes_sent: u64,
    update_s: f64,
    config_bytes_sent: u64,
    log_bytes_received: u64,
    validator_starts: u64,
    log_errors: u64,
    log_warnings: u64,
    log_panics: u64,
    route: Option<Route>,
}

/// One host of the testbed, as found when connecting.
#[derive(Debug)]
pub struct Host {
    /// The instance.
    pub instance: Instance,
    /// Absolute working directory on the host.
    pub dir: String,
    /// `uname -m`, in Rust's spelling.
    pub arch: String,
    /// Its glibc (`None`: no glibc, e.g. a musl distribution).
    pub glibc: Option<GlibcVersion>,
    /// Clock offset measured before the run.
    pub clock: Option<clock::Offset>,
    /// What the set-up found (`None` with `--skip-configure`).
    pub setup: Option<host_setup::HostReport>,
    stats: Mutex<HostStats>,
}

impl Host {
    /// The directory of the content-addressed binaries.
    pub fn bin_dir(&self) -> String {
        format!("{}/bin", self.dir)
    }

    /// Where `binary` lives on this host.
    pub fn binary_path(&self, binary: &NodeBinary) -> String {
        format!("{}/{}", self.bin_dir(), upload::remote_name(binary))
    }

    /// The directory of one point of a run.
    pub fn point_dir(&self, run_id: &str, point: &str) -> String {
        format!(
            "{}/runs/{}/{}",
            self.dir,
            ssh::shell::path_component(run_id),
            ssh::shell::path_component(point)
        )
    }

    fn stats(&self) -> MutexGuard<'_, HostStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The hosts of a remote testbed, connected and ready for a run.
pub struct RemoteDeployment {
    ssh: SshClient,
    hosts: Vec<Host>,
    options: Options,
    /// The binary installed by [`Deployment::install`].
    binary: Option<NodeBinary>,
    /// Local ports forwarded to (host index, remote port), kept for the whole run.
    forwards: Mutex<BTreeMap<(usize, u16), u16>>,
    /// Whether any validator was started (so leftovers must be looked for).
    started: AtomicBool,
    finished: bool,
}

/// The working directory `options` give `instance`, else the default.
fn working_directory(options: &Options, instance: &Instance) -> String {
    let dir = options
        .working_directories
        .get(&instance.id)
        .cloned()
        .unwrap_or_else(|| DEFAULT_WORKING_DIRECTORY.to_string());
    // `~/x` is the login directory's `x`, where relative paths start anyway.
    dir.strip_prefix("~/").map(str::to_string).unwrap_or(dir)
}

/// Collects per-host results; an error naming every host that failed.
fn all_ok<T>(what: &str, hosts: &[Instance], results: Vec<Result<T>>) -> Result<Vec<T>> {
    // Errors from the SSH layer already start with the host: it is not named twice.
    let (values, failures) = Failures::collect(hosts.iter().zip(results), |h| ssh::describe(h));
    failures.check(|n| format!("{what} failed on {n} of {} hosts", hosts.len()))?;
    Ok(values)
}

/// A progress bar counting hosts through one phase.
fn phase_bar(phase: &str, hosts: usize) -> ProgressBar {
    let bar = progress::bar(
        hosts as u64,
        "{prefix:>12} [{bar:30}] {pos}/{len} hosts {msg}",
    );
    bar.set_prefix(phase.to_string());
    bar
}

/// The testbed set-up run on every host unless `--skip-configure` ([`host_setup`]: missing tools
/// installed, ufw opened, open-files limit in `<working dir>/session.sh`, clock sync checked),
/// with the commands the validators' start and stop need on top.
fn setup_options(port_ranges: &[(u16, u16)], working_directory: &str) -> host_setup::SetupOptions {
    let mut options = host_setup::SetupOptions::new(port_ranges.to_vec());
    options.state_dir = working_directory.to_string();
    options.tools.extend([
        host_setup::Tool::new("setsid", "util-linux"),
        host_setup::Tool::new("nohup", "coreutils"),
        host_setup::Tool::new("pgrep", "procps"),
    ]);
    options
}

/// Removes what earlier runs left in the working directory `dir`: validators still running
/// and point directories.
fn cleanup_command(dir: &str) -> String {
    format!(
        "{kill} || exit 5; rm -rf {runs} && mkdir -p {runs}",
        kill = processes::kill_matching(&processes::any_validator_pattern(dir)),
        runs = quote(&format!("{dir}/runs")),
    )
}

impl RemoteDeployment {
    /// Connects to every host of `instances`, reads what the run needs from them, sets them
    /// up and measures their clocks. Fails naming every unreachable or unusable host, before
    /// anything is started; the connections are closed then.
    pub fn prepare(ssh: SshOptions, instances: &[Instance], options: Options) -> Result<Self> {
        let ssh = SshClient::new(ssh)?;
        if let Err(e) = ssh.connect_all(instances) {
            ssh.disconnect_all(instances);
            return Err(
                e.context("the run stopped before anything was started or changed on the hosts")
            );
        }
        let prepared = Self::probe(&ssh, instances, &options);
        match prepared {
            Ok(hosts) => Ok(Self {
                ssh,
                hosts,
                options,
                binary: None,
                forwards: Mutex::new(BTreeMap::new()),
                started: AtomicBool::new(false),
                finished: false,
            }),
            Err(e) => {
                ssh.disconnect_all(instances);
                Err(e.context("the run stopped before any validator was started"))
            }
        }
    }

    fn probe(ssh: &SshClient, instances: &[Instance], options: &Options) -> Result<Vec<Host>> {
        let bar = phase_bar("preparing", instances.len());
        let results = ssh.results(instances, |instance| {
            let dir = working_directory(options, instance);
            let output = ssh.run(
                instance,
                &format!(
                    "mkdir -p {dir}/bin {dir}/runs && cd {dir} && pwd && uname -m && \
                     {{ getconf GNU_LIBC_VERSION 2>/dev/null || echo none; }}",
                    dir = quote(&dir)
                ),
            )?;
            let lines: Vec<&str> = output.stdout.lines().map(str::trim).collect();
            let [absolute, arch, glibc] = lines[..] else {
                bail!("unexpected answer to the set-up probe: {:?}", output.stdout);
            };
            if !absolute.starts_with('/') {
                bail!("working directory {dir} resolved to {absolute:?}, not an absolute path");
            }
            let report = if options.skip_configure {
                None
            } else {
                let report = host_setup::configure_host(
                    ssh,
                    instance,
                    &setup_options(&options.port_ranges, absolute),
                )?;
                ssh.run(instance, &cleanup_command(absolute))
                    .with_context(|| format!("cannot clean {absolute}"))?;
                Some(report)
            };
            let clock = clock::measure(ssh, instance).context("cannot read the host's clock")?;
            bar.inc(1);
            Ok(Host {
                instance: instance.clone(),
                dir: absolute.to_string(),
                arch: target::normalise_arch(arch)?.to_string(),
                glibc: GlibcVersion::parse(glibc),
                clock: Some(clock),
                setup: report,
                stats: Mutex::new(HostStats::default()),
            })
        });
        bar.finish_and_clear();
        let hosts = all_ok("preparing the hosts", instances, results)?;
        let reports: Vec<(Instance, Result<host_setup::HostReport>)> = hosts
            .iter()
            .filter_map(|h| Some((h.instance.clone(), Ok(h.setup.clone()?))))
            .collect();
        for warning in host_setup::summarize(&reports).warnings {
            eprintln!("warning: {warning}");
        }
        let offsets: Vec<(String, clock::Offset)> = hosts
            .iter()
            .filter_map(|h| h.clock.map(|c| (ssh::describe(&h.instance), c)))
            .collect();
        if let Some(warning) = clock::spread_warning(&offsets) {
            eprintln!("warning: {warning}");
        }
        Ok(hosts)
    }

    fn instances(&self) -> Vec<Instance> {
        self.hosts.iter().map(|h| h.instance.clone()).collect()
    }

    /// The host of validator `i`, and its index.
    fn host_of(&self, validator: usize) -> (usize, &Host) {
        let index = crate::experiment::host_index(validator, self.hosts.len());
        (index, &self.hosts[index])
    }

    /// The URL this machine scrapes validator metrics port `port` on host `index` at, waiting
    /// first (bounded) until validator `validator` listens there. The route is chosen once
    /// per host.
    fn metrics_url(
        &self,
        index: usize,
        validator: usize,
        point_dir: &str,
        port: u16,
    ) -> Result<String> {
        let host = &self.hosts[index];
        let binary = self.installed()?;
        let known = host.stats().route;
        let route = match known {
            Some(route) => route,
            None => {
                let output = self.ssh.exec(
                    &host.instance,
                    &processes::wait_listening(
                        point_dir,
                        &host.binary_path(binary),
                        validator,
                        port,
                        30,
                    ),
                    ssh::process::Io::default(),
                    std::time::Duration::from_secs(60),
                )?;
                if output.code != Some(0) {
                    // Not listening (yet, or at all): the readiness check reports it.
                    return Ok(route::metrics_url(
                        host.instance.public_ip.as_deref().unwrap_or("127.0.0.1"),
                        port,
                    ));
                }
                let direct = !self.options.scrape_through_ssh
                    && host.instance.public_ip.as_deref().is_some_and(|ip| {
                        route::answers(ip, port, std::time::Duration::from_secs(2))
                    });
                let route = if direct { Route::Direct } else { Route::Ssh };
                host.stats().route = Some(route);
                route
            }
        };
        match route {
            Route::Direct => Ok(route::metrics_url(
                host.instance
                    .public_ip
                    .as_deref()
                    .context("the host has no public address")?,
                port,
            )),
            Route::Ssh => {
                let mut forwards = self.forwards.lock().unwrap_or_else(|e| e.into_inner());
                let local = match forwards.get(&(index, port)) {
                    Some(&local) => local,
                    None => {
                        let local = route::free_local_port()?;
                        self.ssh
                            .forward(&host.instance, local, "127.0.0.1", port)
                            .with_context(|| {
                                format!("cannot reach the metrics of validator {validator}")
                            })?;
                        forwards.insert((index, port), local);
                        local
                    }
                };
                Ok(route::metrics_url("127.0.0.1", local))
            }
        }
    }

    fn installed(&self) -> Result<&NodeBinary> {
        self.binary
            .as_ref()
            .context("the node binary was not installed on the hosts before the run")
    }

    /// Kills every validator of any binary in the hosts' working directories. Errors name
    /// the hosts where something survived.
    fn kill_leftovers(&self) -> Result<()> {
        let instances = self.instances();
        let results = self.ssh.results(&instances, |instance| {
            let host = self
                .hosts
                .iter()
                .find(|h| h.instance.id == instance.id)
                .context("internal error: unknown host")?;
            // The run's directory goes too when its points left nothing (a failed point's
            // files stay for inspection).
            let run_dir = format!(
                "{}/runs/{}",
                host.dir,
                ssh::shell::path_component(&self.options.run_id)
            );
            self.ssh
                .run(
                    instance,
                    &format!(
                        "rmdir {} 2>/dev/null; {}",
                        quote(&run_dir),
                        processes::kill_matching(&processes::any_validator_pattern(&host.dir))
                    ),
                )
                .map(|_| ())
        });
        all_ok("stopping the validators left running", &instances, results).map(|_| ())
    }

    /// One `hosts.csv` row per host.
    pub fn records(&self) -> Vec<HostRow> {
        let hash = self
            .binary
            .as_ref()
            .map(|b| b.hash.clone())
            .unwrap_or_default();
        self.hosts
            .iter()
            .map(|h| {
                let stats = h.stats().clone();
                HostRow {
                    run_id: self.options.run_id.clone(),
                    host: h
                        .instance
                        .public_ip
                        .clone()
                        .unwrap_or_else(|| h.instance.id.clone()),
                    ssh: ssh::describe(&h.instance),
                    region: h.instance.region.clone(),
                    instance_type: h.instance.specs.clone(),
                    arch: h.arch.clone(),
                    glibc: h.glibc.map_or_else(|| "none".into(), |g| g.to_string()),
                    working_directory: h.dir.clone(),
                    clock_offset_ms: h.clock.map(|c| c.offset_ms),
                    clock_uncertainty_ms: h.clock.map(|c| c.uncertainty_ms),
                    node_hash: hash.clone(),
                    binary_bytes_sent: stats.binary_bytes_sent,
                    update_s: stats.update_s,
                    config_bytes_sent: stats.config_bytes_sent,
                    log_bytes_received: stats.log_bytes_received,
                    metrics_route: stats.route.map(|r| r.to_string()).unwrap_or_default(),
                    validator_starts: stats.validator_starts,
                    log_errors: stats.log_errors,
                    log_warnings: stats.log_warnings,
                    log_panics: stats.log_panics,
                }
            })
            .collect()
    }

    /// Releases the hosts: kills leftovers when validators were started, closes the
    /// connections (and their port forwards).
    fn release(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        let killed = if self.started.load(Ordering::SeqCst) {
            self.kill_leftovers()
        } else {
            Ok(())
        };
        self.ssh.disconnect_all(&self.instances());
        killed
    }

    /// Sends the binary to the hosts lacking it (or checks they have it).
    fn update(&mut self, binary: &NodeBinary) -> Result<()> {
        let instances = self.instances();
        if self.options.skip_update {
            let results = upload::verify(&self.ssh, &self.hosts, binary);
            return all_ok(
                "checking the node binary (--skip-update)",
                &instances,
                results,
            )
            .map(|_| ());
        }
        let started = Instant::now();
        let bar = phase_bar("uploading", self.hosts.len());
        let results = upload::update(
            &self.ssh,
            &self.hosts,
            binary,
            &crate::workspace::cache_dir(),
            &bar,
        )?;
        bar.finish_and_clear();
        for (host, result) in self.hosts.iter().zip(&results) {
            if let Ok(sent) = result {
                let mut stats = host.stats();
                stats.binary_bytes_sent += sent.bytes;
                stats.update_s = sent.seconds;
            }
        }
        let sent = all_ok("updating the node binary", &instances, results)?;
        let bytes: u64 = sent.iter().map(|s| s.bytes).sum();
        let uploaded = sent.iter().filter(|s| s.uploaded).count();
        eprintln!(
            "{}: sent {} to {uploaded} of {} hosts ({} had it) in {:.1} s",
            upload::remote_name(binary),
            indicatif::HumanBytes(bytes),
            self.hosts.len(),
            self.hosts.len() - uploaded,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

impl Deployment for RemoteDeployment {
    fn target(&self) -> Result<Option<String>> {
        target::for_hosts(
            self.hosts.iter().map(|h| h.arch.as_str()),
            target::is_installed,
        )
        .map(Some)
    }

    fn install(&mut self, build: &Build) -> Result<()> {
        if let Some(needed) = build.minimum_glibc {
            eprintln!(
                "note: the node is linked with glibc and needs glibc >= {needed} on the hosts \
                 (install the musl target for a static binary)"
            );
            let too_old: Vec<String> = self
                .hosts
                .iter()
                .filter(|h| h.glibc.is_none_or(|g| g < needed))
                .map(|h| {
                    format!(
                        "{} has {}",
                        ssh::describe(&h.instance),
                        h.glibc
                            .map_or_else(|| "no glibc".into(), |g| format!("glibc {g}"))
                    )
                })
                .collect();
            if !too_old.is_empty() {
                bail!(
                    "the node needs glibc >= {needed}, but {}: build a static binary \
                     (`rustup target add {}-unknown-linux-musl`)",
                    too_old.join(", "),
                    self.hosts[0].arch
                );
            }
        }
        if interrupt::requested() {
            bail!("interrupted before the update");
        }
        self.update(&build.node)?;
        self.binary = Some(build.node.clone());
        Ok(())
    }

    fn executor<'a>(&'a self, point: &str, logs: &Path) -> Result<Box<dyn super::Executor + 'a>> {
        Ok(Box::new(RemoteExecutor::new(self, point, logs)?))
    }

    fn round_trips(&self, targets: &[rtt::Target]) -> Option<Vec<Result<rtt::Samples>>> {
        Some(rtt::measure(&self.ssh, &self.instances(), targets))
    }

    fn finish(&mut self, run_dir: &Path) -> Result<()> {
        let released = self.release();
        if run_dir.is_dir() {
            results::append_rows(&run_dir.join(records::HOSTS_FILE), &self.records())?;
        }
        released
    }
}

impl Drop for RemoteDeployment {
    fn drop(&mut self) {
        if let Err(e) = self.release() {
            eprintln!("warning: {e:#}");
        }
    }
}
