//! One module per command; [`run`] dispatches the parsed command line.

pub mod bench;
pub mod build;
pub mod compare;
pub mod logs;
pub mod monitoring;
pub mod plot;
pub mod testbed;

use anyhow::Result;

use crate::{
    cli::{Cli, Command},
    settings::CloudProvider,
};

/// Runs one command line.
pub fn run(cli: Cli) -> Result<()> {
    let settings = crate::settings::from_command_line(cli.settings.as_deref())?;
    if settings.settings.cloud_provider == CloudProvider::Aws && !crate::aws_support::BUILT_IN {
        return Err(crate::aws_support::rerun_with_aws());
    }
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

/// An error that asks for a particular exit status (`compare`: 1 regression, 2 undecided).
#[derive(Debug)]
pub struct ExitStatus {
    pub code: i32,
    pub error: anyhow::Error,
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl std::error::Error for ExitStatus {}

/// The exit status `error` asks for: its [`ExitStatus`] code, else 1.
pub fn exit_code(error: &anyhow::Error) -> i32 {
    error.downcast_ref::<ExitStatus>().map_or(1, |e| e.code)
}
