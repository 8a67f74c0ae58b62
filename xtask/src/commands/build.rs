//! `cargo xtask build`.

use anyhow::Result;

use crate::{cli::BuildArgs, settings::LoadedSettings};

/// Runs `build`.
pub fn run(_settings: &LoadedSettings, _args: BuildArgs) -> Result<()> {
    Err(super::not_available("build"))
}
