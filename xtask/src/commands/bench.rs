//! `cargo xtask bench`: runs a benchmark on the configured testbed.

use anyhow::Result;

use crate::{benchmark, cli::BenchArgs, settings::LoadedSettings};

/// Runs `bench`.
pub fn run(settings: &LoadedSettings, args: BenchArgs) -> Result<()> {
    benchmark::run(settings, &args).map(|_| ())
}
