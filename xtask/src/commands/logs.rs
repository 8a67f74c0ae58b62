//! `cargo xtask logs [RUN]`: errors, warnings and panics in a run's validator logs.

use anyhow::{Context, Result};

use crate::{
    cli::LogsArgs,
    results::{run_dir, run_logs},
    settings::Common,
};

/// Runs `logs`.
pub fn run(settings: &Common, args: LogsArgs) -> Result<()> {
    let results = settings.results_directory()?;
    let run = run_dir::resolve(&results, args.run.as_deref())?;
    let logs_root = settings.logs_root()?;
    let logs = run_logs::collect(&run, logs_root.as_deref())
        .with_context(|| format!("run {}", run.display()))?;
    println!("run: {}", run.display());
    println!("{}", run_logs::render(&logs, args.lines));
    Ok(())
}
