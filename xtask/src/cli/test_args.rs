//! What the tests of `bench`'s arguments share: parsing a command line and the assets.

use std::path::{Path, PathBuf};

use clap::Parser;

use super::{BenchArgs, Cli, Command};

/// `cargo xtask bench` with `extra` flags, parsed.
pub(super) fn bench_args(extra: &[&str]) -> BenchArgs {
    let mut argv = vec!["xtask", "bench"];
    argv.extend_from_slice(extra);
    match Cli::try_parse_from(argv).expect("parse").command {
        Command::Bench(args) => args,
        _ => panic!("not bench"),
    }
}

/// The workspace's `assets/` directory.
pub(super) fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets")
}
