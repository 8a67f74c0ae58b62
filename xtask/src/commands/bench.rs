//! `cargo xtask bench`: runs a benchmark on the configured testbed.

use anyhow::Result;

use crate::{
    benchmark, cli::BenchArgs, experiment::Bench, results::SummaryRow, settings::LoadedSettings,
    workspace,
};

/// Runs `bench`.
pub fn run(settings: &LoadedSettings, args: BenchArgs) -> Result<()> {
    rows(settings, &args).map(|_| ())
}

/// The bench `args` ask for, validated (latency presets from this workspace's `assets/`).
pub fn bench(args: &BenchArgs) -> Result<Bench> {
    args.bench(&workspace::root()?.join("assets"))
}

/// Runs the bench `args` ask for; its summary rows.
pub fn rows(settings: &LoadedSettings, args: &BenchArgs) -> Result<Vec<SummaryRow>> {
    benchmark::run(settings, &bench(args)?)
}
