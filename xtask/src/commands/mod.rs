//! One module per command; [`run`] dispatches the parsed command line.

pub mod bench;
pub mod build;
pub mod compare;
pub mod logs;
pub mod monitoring;
pub mod plot;
pub mod testbed;

use anyhow::Result;

use crate::cli::{Cli, Command};

/// Runs one command line.
pub fn run(cli: Cli) -> Result<()> {
    let settings = crate::workspace::load_settings(cli.settings.as_deref())?;
    match cli.command {
        Command::Testbed(command) => testbed::run(&settings, command),
        Command::Bench(args) => bench::run(&settings, args),
        Command::Build(args) => build::run(&settings, args),
        Command::Plot(args) => plot::run(&settings, args),
        Command::Compare(args) => compare::run(&settings, args),
        Command::Logs(args) => logs::run(&settings, args),
        Command::Monitoring(args) => monitoring::run(&settings, args),
    }
}

/// The error of a command that a later version provides.
pub fn not_available(what: &str) -> anyhow::Error {
    anyhow::anyhow!("`{what}` is not available yet in this version of the orchestrator")
}
