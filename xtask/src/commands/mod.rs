//! One module per command; [`run`] dispatches the parsed command line.

pub mod bench;
pub mod build;
pub mod compare;
pub mod explore;
pub mod logs;
pub mod monitoring;
pub mod plot;
pub mod testbed;

use anyhow::Result;

use crate::{
    cli::{Cli, Command},
    settings::{LoadedSettings, Location, Testbed},
};

/// Runs one command line, with the settings it needs: commands that only read results load
/// the common block of the settings, the others the whole testbed.
pub fn run(cli: Cli) -> Result<()> {
    let settings = Location::from_command_line(cli.settings.as_deref())?;
    let load = || -> Result<LoadedSettings> {
        let loaded = settings.load()?;
        if matches!(loaded.testbed, Testbed::Aws(_)) && !crate::aws_support::BUILT_IN {
            return Err(crate::aws_support::rerun_with_aws());
        }
        Ok(loaded)
    };
    match cli.command {
        Command::Testbed(command) => testbed::run(&load()?, command),
        Command::Bench(args) => bench::run(&load()?, args),
        Command::Build(args) => build::run(&load()?, args),
        Command::Plot(args) => plot::run(&settings.common()?, args),
        Command::Compare(args) if compare::compares_results(&args) => {
            compare::run_results(&settings.common()?, args)
        }
        Command::Compare(args) => compare::run(&load()?, args),
        Command::Logs(args) => logs::run(&settings.common()?, args),
        Command::Explore(args) => explore::run(&settings.common()?, args),
        Command::Monitoring(args) => monitoring::run(&load()?, args),
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// `plot`, `logs` and `compare BASE HEAD` read only the common block of the settings: a
    /// static testbed whose key is gone does not stop them, while `testbed status` names it.
    #[test]
    fn results_commands_do_not_load_the_testbed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = dir.path().join("settings.json");
        let json = serde_json::json!({
            "testbed_id": "gone-key",
            "cloud_provider": "static",
            "ssh_private_key_file": dir.path().join("no-key"),
            "hosts": [{"address": "127.0.0.1"}],
            "results_directory": dir.path().join("results"),
        });
        std::fs::write(&settings, json.to_string()).expect("write settings");
        let run_with = |command: &[&str]| {
            let mut argv = vec!["xtask", "--settings", settings.to_str().expect("utf-8")];
            argv.extend(command);
            let err = run(Cli::try_parse_from(argv).expect("arguments")).expect_err("fails");
            format!("{err:#}")
        };
        for command in [&["logs"][..], &["plot"], &["compare", "a", "b"]] {
            let text = run_with(command);
            assert!(!text.contains("no-key"), "{command:?}: {text}");
        }
        let text = run_with(&["testbed", "status"]);
        assert!(
            text.contains("ssh_private_key_file") && text.contains("no-key"),
            "{text}"
        );
    }
}
