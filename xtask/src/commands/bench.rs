//! `cargo xtask bench`.

use anyhow::Result;

use crate::{cli::BenchArgs, settings::LoadedSettings};

/// Runs `bench`.
pub fn run(_settings: &LoadedSettings, _args: BenchArgs) -> Result<()> {
    Err(super::not_available("bench"))
}
