//! `cargo xtask testbed deploy|status|start|stop|destroy`.

use anyhow::Result;

use crate::{cli::TestbedCommand, settings::LoadedSettings};

/// Runs one `testbed` subcommand.
pub fn run(_settings: &LoadedSettings, command: TestbedCommand) -> Result<()> {
    let name = match command {
        TestbedCommand::Deploy { .. } => "testbed deploy",
        TestbedCommand::Status => "testbed status",
        TestbedCommand::Start { .. } => "testbed start",
        TestbedCommand::Stop => "testbed stop",
        TestbedCommand::Destroy { .. } => "testbed destroy",
    };
    Err(super::not_available(name))
}
