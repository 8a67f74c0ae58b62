//! The benchmark pipeline, shared by every testbed: build, genesis, start validators and
//! load, measure, stop, write results.

pub mod analysis;
pub mod executor;
pub mod faults;
pub mod genesis;
pub mod interrupt;
pub mod local;
pub mod monitor;
pub mod plan;
pub mod point;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::{
    builder::{self, NodeBinary},
    cli::BenchArgs,
    results::{self, provenance, Provenance, SummaryRow},
    settings::{CloudProvider, LoadedSettings, Settings},
    testbed::{self, Instance},
    workspace,
};
use executor::Executor;
use genesis::Ports;
use plan::Plan;

/// What every point of a benchmark shares.
pub struct RunContext {
    pub settings: LoadedSettings,
    pub plan: Plan,
    pub instances: Vec<Instance>,
    pub node: NodeBinary,
    pub run_id: String,
    pub run_dir: PathBuf,
    pub provenance: Provenance,
    pub parameters_hash: String,
    pub ports: Ports,
}

impl RunContext {
    /// The host (instance) of validator `i`: validators are spread round-robin.
    pub fn host_of(&self, validator: usize) -> &Instance {
        &self.instances[validator % self.instances.len()]
    }

    /// The region recorded for validator `i`: the latency matrix's on the local testbed,
    /// otherwise its host's.
    pub fn region_of(&self, validator: usize) -> String {
        match (
            &self.plan.latency_matrix,
            self.settings.settings.cloud_provider,
        ) {
            (Some(matrix), CloudProvider::Local) => matrix.region_of(validator).to_string(),
            _ => self.host_of(validator).region.clone(),
        }
    }

    /// Where logs of a point go.
    pub fn logs_dir(&self, point_name: &str) -> PathBuf {
        match &self.settings.settings.logs_directory {
            Some(dir) => workspace::resolve(dir).join(&self.run_id).join(point_name),
            None => self.run_dir.join(point_name).join("logs"),
        }
    }

    /// An executor for one point on this testbed.
    pub fn executor(&self, logs: &Path) -> Result<Box<dyn Executor>> {
        match self.settings.settings.cloud_provider {
            CloudProvider::Local => Ok(Box::new(local::LocalExecutor::new(
                logs,
                self.ports.metrics(self.plan.committee),
            )?)),
            other => Err(crate::commands::not_available(&format!(
                "benchmarks on cloud_provider \"{other}\""
            ))),
        }
    }
}

/// The settings as recorded with the results: the repository URL masked, no secret.
fn recorded_settings(settings: &Settings) -> Settings {
    let mut recorded = settings.clone();
    if let Some(repo) = recorded.repository.as_mut() {
        repo.url = repo.masked_url();
    }
    recorded
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}

/// Runs `cargo xtask bench`: every point of the sweep, writing results as it goes.
pub fn run(settings: &LoadedSettings, args: &BenchArgs) -> Result<Vec<SummaryRow>> {
    interrupt::install();
    let root = workspace::root();
    let plan = Plan::from_args(args, &root.join("assets"))?;
    let provider = testbed::provider(settings)?;
    let instances: Vec<Instance> = provider
        .list_instances()?
        .into_iter()
        .filter(Instance::is_running)
        .collect();
    if instances.is_empty() {
        bail!(
            "the {} testbed \"{}\" has no running instance: run `cargo xtask testbed deploy` or `testbed start`",
            provider.name(),
            settings.settings.testbed_id
        );
    }
    eprintln!("building the node (release)...");
    let node = builder::build_node(&root, None)?;

    let run_id = args
        .run_id
        .clone()
        .unwrap_or_else(|| chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string());
    let results_dir = workspace::results_directory(&settings.settings);
    let run_dir = results_dir.join(&run_id);
    if run_dir.exists() {
        bail!(
            "the run directory {} already exists: choose another --run-id",
            run_dir.display()
        );
    }
    std::fs::create_dir_all(&run_dir)
        .with_context(|| format!("cannot create {}", run_dir.display()))?;
    let recorded = recorded_settings(&settings.settings);
    write_json(&run_dir.join("settings.json"), &recorded)?;
    write_json(&run_dir.join("protocol.json"), &plan.protocol)?;

    let (git_commit, git_dirty) = provenance::git_state(&root);
    let regions: Vec<String> = match (&plan.latency_matrix, settings.settings.cloud_provider) {
        (Some(m), CloudProvider::Local) => m.regions.clone(),
        _ => {
            let mut r: Vec<String> = instances.iter().map(|i| i.region.clone()).collect();
            r.dedup();
            r
        }
    };
    let context = RunContext {
        provenance: Provenance {
            run_id: run_id.clone(),
            date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            git_commit,
            git_dirty,
            node_hash: node.hash.clone(),
            settings_hash: provenance::short_hash(&recorded)?,
            provider: provider.name().into(),
            regions: regions.join(";"),
            instance_type: instances[0].specs.clone(),
        },
        parameters_hash: provenance::short_hash(&plan.protocol)?,
        ports: Ports {
            base: settings.settings.base_port,
            metrics_base: settings.settings.metrics_base_port,
        },
        settings: settings.clone(),
        plan,
        instances,
        node,
        run_id,
        run_dir,
    };

    let points = context.plan.points();
    let mut rows = Vec::new();
    for (index, point) in points.iter().enumerate() {
        if interrupt::requested() {
            break;
        }
        let label = format!("[{}/{}] load {} tx/s", index + 1, points.len(), point.load);
        let row = point::run(&context, point, &label)?;
        results::append_rows(&context.run_dir.join(results::SUMMARY_FILE), &[&row])?;
        results::append_rows(&results_dir.join(results::RUNS_FILE), &[&row])?;
        rows.push(row);
    }
    println!("{}", results::table::render(&rows));
    println!("results: {}", context.run_dir.display());
    if interrupt::requested() {
        bail!("interrupted: the results above cover what was measured");
    }
    Ok(rows)
}
