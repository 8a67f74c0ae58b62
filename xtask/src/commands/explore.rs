//! `cargo xtask explore`: builds the node, runs `node explore` with the flags it is given
//! ([`node_args`]), streams its progress (standard error as it comes, standard output line
//! by line with the node's replay commands rewritten as `cargo xtask explore` ones), keeps a
//! violation's files in `results/explore-<id>/` and fails with the replay of each.

use std::{
    ffi::OsString,
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
};

use anyhow::{bail, Context, Result};

use super::ExitStatus;
use crate::{builder, cli::ExploreArgs, protocol::explore as flags, settings::Common, workspace};

/// Checks what the explorer is given, naming the flag.
fn check(args: &ExploreArgs) -> Result<()> {
    if args.committee == 0 {
        bail!("--committee must be at least 1");
    }
    if args.runs == 0 && args.replay.is_none() {
        bail!("--runs must be at least 1");
    }
    match (args.byzantine, args.behaviour) {
        (0, Some(b)) => bail!("--behaviour {b} needs --byzantine K > 0 validators"),
        (k @ 1.., None) => bail!("--byzantine {k} needs --behaviour MODE"),
        _ => {}
    }
    let f = args.committee.saturating_sub(1) / 3;
    if args.byzantine > f {
        bail!(
            "--byzantine {} is more than a committee of {} tolerates (f = {f}): use fewer, or a \
             larger --committee",
            args.byzantine,
            args.committee
        );
    }
    if !(args.duration > 0.0 && args.duration <= 3600.0) {
        bail!("--duration must be between 0 and 3600 virtual seconds");
    }
    if args.jobs == Some(0) {
        bail!("--jobs must be at least 1");
    }
    Ok(())
}

/// The arguments of `node explore` for `args`, writing violations into `out`.
pub fn node_args(args: &ExploreArgs, out: &Path) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec![flags::COMMAND.into()];
    let mut flag = |name: &str, value: String| {
        a.push(name.into());
        a.push(value.into());
    };
    flag(flags::RUNS, args.runs.to_string());
    flag(flags::COMMITTEE, args.committee.to_string());
    flag(flags::SEED, args.seed.to_string());
    flag(flags::DURATION, args.duration.to_string());
    if let Some(b) = args.behaviour.filter(|_| args.byzantine > 0) {
        flag(flags::BYZANTINE, args.byzantine.to_string());
        flag(flags::BEHAVIOUR, b.to_string());
    }
    if let Some(jobs) = args.jobs {
        flag(flags::JOBS, jobs.to_string());
    }
    if let Some(seed) = args.replay {
        flag(flags::REPLAY, seed.to_string());
    }
    flag(flags::OUT, out.display().to_string());
    if args.plant_unsafe_rule {
        a.push(flags::PLANT_UNSAFE_RULE.into());
    }
    a
}

/// The command that replays the run of `seed` exactly.
pub fn replay_command(args: &ExploreArgs, seed: u64) -> String {
    let mut command = format!(
        "cargo xtask explore --committee {} --duration {}",
        args.committee, args.duration
    );
    if let Some(b) = args.behaviour.filter(|_| args.byzantine > 0) {
        command.push_str(&format!(" --byzantine {} --behaviour {b}", args.byzantine));
    }
    if args.plant_unsafe_rule {
        command.push_str(" --plant-unsafe-rule");
    }
    command.push_str(&format!(" --replay {seed}"));
    command
}

/// The run seed a line of `node explore`'s output names as violating, if it does.
fn violating_seed(line: &str) -> Option<u64> {
    let rest = line.strip_prefix(flags::VIOLATION)?;
    rest.split(':').next()?.trim().parse().ok()
}

/// Runs `cargo xtask explore`.
pub fn run(common: &Common, args: ExploreArgs) -> Result<()> {
    check(&args)?;
    let root = workspace::root()?;
    let source =
        builder::source::resolve(&root, common.repository.as_ref(), &workspace::cache_dir())?;
    eprintln!("building the node (release)...");
    let build = builder::build(&source, None)?;
    let id = args
        .run_id
        .clone()
        .unwrap_or_else(|| chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string());
    let out = common.results_directory()?.join(format!("explore-{id}"));
    let mut command = Command::new(&build.node.path);
    // The simulated validators' own log lines (warnings about the Byzantine ones, the core
    // stopping at a violation) would bury the progress: errors only, unless asked.
    if std::env::var_os("RUST_LOG").is_none() {
        command.env("RUST_LOG", "error");
    }
    let mut child = command
        .args(node_args(&args, &out))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot run {}", build.node.path.display()))?;
    let stdout = child.stdout.take().context("no standard output")?;
    let mut seeds = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("cannot read node explore's output")?;
        if let Some(seed) = violating_seed(&line) {
            seeds.push(seed);
        }
        match (
            line.trim_start().starts_with(flags::REPLAY_LINE),
            seeds.last(),
        ) {
            (true, Some(&seed)) => println!("  replay: {}", replay_command(&args, seed)),
            _ => println!("{line}"),
        }
    }
    let status = child.wait().context("node explore did not finish")?;
    if seeds.is_empty() {
        if !status.success() {
            bail!("node explore failed ({status}): see its messages above");
        }
        return Ok(());
    }
    let replays: Vec<String> = seeds
        .iter()
        .map(|&s| format!("\n  {}", replay_command(&args, s)))
        .collect();
    Err(ExitStatus {
        code: 1,
        error: anyhow::anyhow!(
            "{} violation(s) found; their sequences are in {}; replay each with:{}",
            seeds.len(),
            out.display(),
            replays.concat()
        ),
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_violation_line_names_its_seed() {
        assert_eq!(
            violating_seed("violation in run seed 1234: safety: validators 0 and 2"),
            Some(1234)
        );
        assert_eq!(
            violating_seed("runs 12, commits checked 9, violations 1"),
            None
        );
    }
}
