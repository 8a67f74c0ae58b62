//! `cargo xtask plot [RUNS...]`: SVG and PNG figures of one or more runs.

use anyhow::Result;

use crate::{
    cli::PlotArgs,
    results::{plot, run_dir},
    settings::Common,
};

/// Runs `plot`.
pub fn run(settings: &Common, args: PlotArgs) -> Result<()> {
    let results = settings.results_directory()?;
    let runs = if args.runs.is_empty() {
        vec![run_dir::latest(&results)?]
    } else {
        args.runs
            .iter()
            .map(|run| run_dir::resolve(&results, Some(run)))
            .collect::<Result<_>>()?
    };
    let output = args.output.unwrap_or_else(|| runs[0].join("plots"));
    let files = plot::plot(&runs, &output)?;
    for file in &files {
        println!("{}", file.display());
    }
    println!("{} figure(s) in {}", files.len() / 2, output.display());
    Ok(())
}
