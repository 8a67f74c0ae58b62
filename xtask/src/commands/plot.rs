//! `cargo xtask plot [RUNS...]`.

use anyhow::Result;

use crate::{cli::PlotArgs, settings::LoadedSettings};

/// Runs `plot`.
pub fn run(_settings: &LoadedSettings, _args: PlotArgs) -> Result<()> {
    Err(super::not_available("plot"))
}
