//! `cargo xtask monitoring`.

use anyhow::Result;

use crate::{cli::MonitoringArgs, settings::LoadedSettings};

/// Runs `monitoring`.
pub fn run(_settings: &LoadedSettings, _args: MonitoringArgs) -> Result<()> {
    Err(super::not_available("monitoring"))
}
