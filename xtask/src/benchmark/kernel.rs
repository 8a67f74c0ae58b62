//! The kernel the sweep ([`super::sweep`]) and the A/B driver ([`super::ab`]) share: what a
//! new run starts from ([`NewRun`]: the experiment, the testbed's running hosts, the run's id
//! and directory), the testbed's [`Deployment`] made ready, the node built for the hosts and
//! installed there, the run directory started, the round trips between remote hosts measured
//! ([`super::round_trips`]), and the [`RunContext`] every point reads.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::{
    builder::{self, NodeBinary},
    deployment::{local, remote, Deployment, Executor},
    experiment::{self, Bench, Experiment, HostPreparation},
    interrupt,
    ports::Ports,
    results::{provenance, rtt::RoundTrips, run_dir, Provenance},
    settings::{LoadedSettings, Testbed},
    testbed::{self, Instance},
    workspace,
};

/// What every point of a benchmark shares.
pub(crate) struct RunContext {
    pub(crate) settings: LoadedSettings,
    pub(crate) experiment: Experiment,
    pub(crate) instances: Vec<Instance>,
    /// The binary the validators run.
    pub(crate) node: NodeBinary,
    /// A node binary that runs on this machine (genesis); `node` unless cross-compiled.
    pub(crate) local_tool: NodeBinary,
    /// The hosts, ready for the run.
    pub(crate) deployment: Box<dyn Deployment>,
    pub(crate) run_id: String,
    pub(crate) run_dir: PathBuf,
    pub(crate) provenance: Provenance,
    /// Where per-point progress bars go when a caller shows its own above them.
    pub(crate) progress: Option<indicatif::MultiProgress>,
    /// The round trips measured between the hosts, as every row records them (empty on the
    /// local testbed).
    pub(crate) round_trips: RoundTrips,
}

impl RunContext {
    /// The host (instance) of validator `i`: validators are spread round-robin.
    pub(crate) fn host_of(&self, validator: usize) -> &Instance {
        &self.instances[experiment::host_index(validator, self.instances.len())]
    }

    /// The region recorded for validator `i`: the latency matrix's or network profile's on
    /// the local testbed, otherwise its host's.
    pub(crate) fn region_of(&self, validator: usize) -> String {
        match self.experiment.network.region_of(validator) {
            Some(region) if self.settings.testbed.on_this_machine() => region.to_string(),
            _ => self.host_of(validator).region.clone(),
        }
    }

    /// Where logs of a point go.
    pub(crate) fn logs_dir(&self, point_name: &str) -> Result<PathBuf> {
        Ok(match self.settings.common.logs_root()? {
            Some(dir) => dir.join(&self.run_id).join(point_name),
            None => self.run_dir.join(point_name).join("logs"),
        })
    }

    /// The address validator `i`'s peers reach it at: the host's private address when every
    /// host is in one region (or the user gave it for a static host), its public one across
    /// regions (private cloud addresses do not route between regions).
    pub(crate) fn peer_address(&self, validator: usize) -> Result<String> {
        self.host_address(experiment::host_index(validator, self.instances.len()))
    }

    /// The address peers reach host `index` at (see [`Self::peer_address`]).
    pub(crate) fn host_address(&self, index: usize) -> Result<String> {
        let host = &self.instances[index];
        let one_region = self
            .instances
            .iter()
            .all(|i| i.region == self.instances[0].region);
        let address = match self.settings.testbed.cloud() {
            None => host.peer_address(),
            Some(_) if one_region => host.peer_address(),
            Some(_) => host.public_ip.as_deref(),
        };
        address
            .map(str::to_string)
            .with_context(|| format!("instance {} has no IP address", host.id))
    }

    /// An executor for one point on this testbed.
    pub(crate) fn executor(&self, point: &str, logs: &Path) -> Result<Box<dyn Executor + '_>> {
        self.deployment.executor(point, logs)
    }
}

/// The testbed's hosts made ready: validators as local processes, or over SSH.
pub(super) fn deployment(
    settings: &LoadedSettings,
    instances: &[Instance],
    hosts: HostPreparation,
    run_id: &str,
    ports: &Ports,
    committee: usize,
) -> Result<Box<dyn Deployment>> {
    match settings.testbed {
        // The simulator's points start no process: the local deployment builds and stages
        // the node on this machine.
        Testbed::Local | Testbed::Sim(_) => Ok(Box::new(local::LocalDeployment::new(
            ports.metrics(committee),
        ))),
        _ => Ok(Box::new(remote::RemoteDeployment::prepare(
            settings.ssh_options()?,
            instances,
            remote::Options {
                run_id: run_id.to_string(),
                consensus_ports: ports.consensus(committee),
                metrics_ports: ports.metrics(committee),
                port_ranges: ports.ranges(),
                working_directories: settings.testbed.working_directories(),
                scrape_through_ssh: settings.common.scrape_through_ssh,
                skip_update: hosts.skip_update,
                skip_configure: hosts.skip_configure,
            },
        )?)),
    }
}

/// Creates the run directory `dir` with the settings and the protocol parameters as used (the
/// settings file marks a run directory: see [`run_dir::latest`]).
pub(super) fn start_run_dir(
    dir: &Path,
    settings: &LoadedSettings,
    experiment: &Experiment,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write_json(&dir.join(run_dir::SETTINGS_FILE), &settings.recorded())?;
    write_json(&dir.join(run_dir::PROTOCOL_FILE), &experiment.protocol)
}

pub(super) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}

/// What a run (`bench` or `compare`) starts from before any host is touched: the experiment
/// its arguments describe, the testbed's running hosts, and its id and directory.
pub(super) struct NewRun {
    pub(super) experiment: Experiment,
    pub(super) provider: String,
    pub(super) instances: Vec<Instance>,
    pub(super) run_id: String,
    pub(super) results_dir: PathBuf,
    /// Not created yet; it must not exist.
    pub(super) run_dir: PathBuf,
}

impl NewRun {
    /// The run `bench` asks for, named by its run id or else `default_id()`.
    pub(super) fn of(
        settings: &LoadedSettings,
        bench: &Bench,
        default_id: impl FnOnce() -> String,
    ) -> Result<Self> {
        let experiment = bench.experiment.clone();
        let (provider, instances) = testbed::running_instances(settings)?;
        let run_id = bench.run_id.clone().unwrap_or_else(default_id);
        let results_dir = settings.common.results_directory()?;
        let run_dir = new_run_dir(&results_dir, &run_id)?;
        Ok(Self {
            experiment,
            provider: provider.name(),
            instances,
            run_id,
            results_dir,
            run_dir,
        })
    }
}

/// The current time as a run id (`20261201-231500`).
pub(super) fn timestamp() -> String {
    chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string()
}

/// The directory of run `run_id` in `results_dir`, which must not exist yet.
fn new_run_dir(results_dir: &Path, run_id: &str) -> Result<PathBuf> {
    let run_dir = results_dir.join(run_id);
    if run_dir.exists() {
        bail!(
            "the run directory {} already exists: choose another --run-id",
            run_dir.display()
        );
    }
    Ok(run_dir)
}

/// The context of a run of `build` on `instances`, writing into `run_dir`.
#[allow(clippy::too_many_arguments)]
pub(super) fn prepare_context(
    settings: &LoadedSettings,
    experiment: Experiment,
    provider: String,
    instances: Vec<Instance>,
    deployment: Box<dyn Deployment>,
    build: &builder::Build,
    run_id: String,
    run_dir: PathBuf,
) -> Result<RunContext> {
    let recorded = settings.recorded();
    let regions: Vec<String> = match experiment.network.regions() {
        Some(r) if settings.testbed.on_this_machine() => r.to_vec(),
        _ => {
            let mut r: Vec<String> = instances.iter().map(|i| i.region.clone()).collect();
            r.dedup();
            r
        }
    };
    Ok(RunContext {
        provenance: Provenance {
            run_id: run_id.clone(),
            date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            git_commit: build.source.commit.clone(),
            git_dirty: build.source.dirty,
            node_hash: build.node.hash.clone(),
            settings_hash: provenance::short_hash(&recorded)?,
            parameters_hash: provenance::short_hash(&experiment.protocol)?,
            provider,
            regions: regions.join(";"),
            instance_type: instances[0].specs.clone(),
        },
        settings: settings.clone(),
        experiment,
        instances,
        node: build.node.clone(),
        local_tool: build.local_tool.clone(),
        deployment,
        run_id,
        run_dir,
        progress: None,
        round_trips: RoundTrips::default(),
    })
    .and_then(|mut context| {
        context.round_trips = super::round_trips::measure(&context)?;
        Ok(context)
    })
}

/// Builds the settings' code for the hosts and installs it there.
pub(super) fn prepare_build(
    settings: &LoadedSettings,
    root: &Path,
    deployment: &mut dyn Deployment,
) -> Result<builder::Build> {
    let target = deployment.target()?;
    let source = builder::source::resolve(
        root,
        settings.common.repository.as_ref(),
        &workspace::cache_dir(),
    )?;
    eprintln!(
        "building the node (release{}) at {}{}...",
        target
            .as_deref()
            .map(|t| format!(", {t}"))
            .unwrap_or_default(),
        &source.commit[..12.min(source.commit.len())],
        if source.dirty {
            " with local changes"
        } else {
            ""
        }
    );
    let build = builder::build(&source, target.as_deref())?;
    if interrupt::requested() {
        bail!("interrupted before anything was started on the hosts");
    }
    deployment.install(&build)?;
    Ok(build)
}
