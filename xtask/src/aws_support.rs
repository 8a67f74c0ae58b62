//! Whether this build of the orchestrator has the AWS provider, and re-running it with the
//! provider when an AWS testbed asks for it.
//!
//! The AWS provider (aws-sdk-ec2) is the cargo feature `aws`, left out of the default build so
//! that a local benchmark compiles no cloud SDK. `cargo xtask` on AWS settings replaces itself
//! with `cargo run --package xtask --features aws -- <the same arguments>`: the first time, cargo
//! compiles the SDK (a few minutes, with its progress shown); later runs reuse that build.

use std::{ffi::OsString, path::Path, process::Command};

/// Set in the environment of the re-run, so that a build still without the provider stops
/// instead of re-running itself again.
pub(crate) const RERUN_MARKER: &str = "XTASK_AWS_RERUN";

/// Whether this build has the AWS provider.
pub(crate) const BUILT_IN: bool = cfg!(feature = "aws");

/// The command that runs the orchestrator of `workspace` again, with the AWS provider and the
/// same `arguments` (the command line without the program name), from the same directory.
pub(crate) fn rerun_command(
    cargo: OsString,
    workspace: &Path,
    arguments: impl IntoIterator<Item = OsString>,
) -> Command {
    let mut command = Command::new(cargo);
    command
        .arg("run")
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .args(["--package", "xtask", "--features", "aws", "--"])
        .args(arguments)
        .env(RERUN_MARKER, "1");
    command
}

/// Replaces this process with the orchestrator built with the AWS provider; returns only on
/// failure.
pub(crate) fn rerun_with_aws() -> anyhow::Error {
    if std::env::var_os(RERUN_MARKER).is_some() {
        return anyhow::anyhow!(
            "this build of the orchestrator has no AWS support even after re-running with \
             `--features aws`: run `cargo run --package xtask --features aws -- ...` yourself"
        );
    }
    eprintln!(
        "AWS testbed: running the orchestrator with AWS support (`--features aws`); the first \
         time compiles aws-sdk-ec2, a few minutes"
    );
    // Cargo names itself in `CARGO` for the programs it runs.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let root = match crate::workspace::root() {
        Ok(root) => root,
        Err(error) => return error,
    };
    let mut command = rerun_command(cargo, &root, std::env::args_os().skip(1));
    let error = std::os::unix::process::CommandExt::exec(&mut command);
    anyhow::anyhow!(
        "could not run cargo to build the orchestrator with AWS support ({error}): run `cargo \
         run --package xtask --features aws -- ...` yourself"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rerun_asks_cargo_for_the_aws_feature_with_the_same_arguments() {
        let command = rerun_command(
            "cargo".into(),
            Path::new("/workspace"),
            [
                "testbed".into(),
                "status".into(),
                "--settings".into(),
                "a b.json".into(),
            ],
        );
        let arguments: Vec<_> = command.get_args().map(|a| a.to_string_lossy()).collect();
        assert_eq!(
            arguments,
            [
                "run",
                "--manifest-path",
                "/workspace/Cargo.toml",
                "--package",
                "xtask",
                "--features",
                "aws",
                "--",
                "testbed",
                "status",
                "--settings",
                "a b.json"
            ]
        );
        assert_eq!(
            command.get_current_dir(),
            None,
            "relative paths stay relative"
        );
        let marker = command
            .get_envs()
            .find(|(name, _)| *name == RERUN_MARKER)
            .and_then(|(_, value)| value);
        assert!(marker.is_some(), "the re-run must carry {RERUN_MARKER}");
    }
}
