//! `cargo xtask bench`: runs a benchmark on the configured testbed, or on the one `--testbed`
//! names, or a preset's experiments (`--preset`, on the sim testbed unless `--testbed` says
//! otherwise).

use anyhow::{bail, Result};

use crate::{
    benchmark,
    cli::{preset::Preset, BenchArgs, BenchTestbed},
    experiment::Bench,
    results::SummaryRow,
    settings::LoadedSettings,
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

/// The settings on the testbed `args` choose (`--testbed`; a preset runs on the sim testbed
/// unless told otherwise), with `--sim-seed` applied.
pub fn on_testbed(settings: &LoadedSettings, args: &BenchArgs) -> Result<LoadedSettings> {
    let chosen = args
        .testbed
        .or(args.preset.as_ref().map(|_| BenchTestbed::Sim));
    let settings = match chosen {
        Some(BenchTestbed::Sim) => settings.simulated(args.sim_seed)?,
        Some(BenchTestbed::Local) => settings.local(),
        Some(BenchTestbed::Settings) | None if settings.testbed.sim().is_some() => {
            settings.simulated(args.sim_seed)?
        }
        Some(BenchTestbed::Settings) | None => settings.clone(),
    };
    if let (Some(seed), None) = (args.sim_seed, settings.testbed.sim()) {
        bail!(
            "--sim-seed {seed} needs the sim testbed: add --testbed sim (or set cloud_provider \
             to \"sim\" in the settings)"
        );
    }
    Ok(settings)
}

/// Runs the bench `args` ask for; its summary rows.
pub fn rows(settings: &LoadedSettings, args: &BenchArgs) -> Result<Vec<SummaryRow>> {
    let settings = on_testbed(settings, args)?;
    let assets = workspace::root()?.join("assets");
    match &args.preset {
        Some(spec) => {
            let preset = Preset::resolve(spec, &assets)?;
            let benches = preset.benches(args, &assets)?;
            benchmark::run_all(&settings, &benches, preset.published.as_ref())
        }
        None => benchmark::run(&settings, &args.bench(&assets)?),
    }
}
