//! `cargo xtask`: the orchestrator that builds, deploys and benchmarks the consensus node.

use clap::Parser;

fn main() {
    let cli = xtask::cli::Cli::parse();
    if let Err(error) = xtask::commands::run(cli) {
        eprintln!("error: {error:#}");
        std::process::exit(xtask::commands::exit_code(&error));
    }
}
