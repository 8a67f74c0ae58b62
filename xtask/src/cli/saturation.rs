//! `bench --find-saturation`: the flags of the saturation search and their defaults, and
//! their validation into the search ([`crate::saturation::Search`]). Conflicting flags of
//! `bench` (`--loads`, `--repeat`) are refused by clap, naming both.

use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;

use crate::saturation::{Search, Slo};

/// The search's flags (only meaningful with `--find-saturation`).
#[derive(Debug, Clone, Args)]
pub struct SaturationArgs {
    /// Find the saturation point instead of running a fixed sweep: start at --start-load,
    /// multiply the load by --growth until a load does not hold, bisect down to
    /// --resolution, then repeat both ends of the bracket --knee-repeats times. A load holds
    /// when its run succeeded, committed at least 1 - --tolerance of it and met --slo. Every
    /// load tried is an ordinary run (summary rows, audits, time series, plots); the answer
    /// goes to `saturation.json` in the run directory. Not with --loads or --repeat.
    #[arg(long, conflicts_with_all = ["loads", "repeat"])]
    pub find_saturation: bool,
    /// Latency objective a load must meet to hold, `p99<=2s` or `p50<=500ms`. Default: none
    /// (only the committed share counts).
    #[arg(long, value_name = "pNN<=DURATION", requires = "find_saturation")]
    pub slo: Option<Slo>,
    /// Start no run after this many seconds of search; what was measured is kept.
    #[arg(long, value_name = "SECONDS", requires = "find_saturation")]
    pub max_time: Option<u64>,
    /// Make at most this many runs; what was measured is kept.
    #[arg(long, value_name = "N", requires = "find_saturation")]
    pub max_runs: Option<usize>,
    /// The first load the search tries (tx/s).
    #[arg(long, default_value_t = Search::default().start, value_name = "TX/S", requires = "find_saturation")]
    pub start_load: u64,
    /// The highest load the search tries (tx/s); if it holds, there is no ceiling below it.
    #[arg(long, default_value_t = Search::default().max_load, value_name = "TX/S", requires = "find_saturation")]
    pub max_load: u64,
    /// Factor between two loads while the search grows (above 1).
    #[arg(long, default_value_t = Search::default().growth, value_name = "FACTOR", requires = "find_saturation")]
    pub growth: f64,
    /// Bisection stops when the lowest failing load is within this share above the highest
    /// holding one (0.05: within 5%).
    #[arg(long, default_value_t = Search::default().resolution, value_name = "FRACTION", requires = "find_saturation")]
    pub resolution: f64,
    /// Runs of each end of the final bracket (a load holds when most of its runs did).
    #[arg(long, default_value_t = Search::default().repeats, value_name = "K", requires = "find_saturation")]
    pub knee_repeats: usize,
    /// Share of the offered load that may go uncommitted in a run that holds.
    #[arg(long, default_value_t = Search::default().tolerance, value_name = "FRACTION", requires = "find_saturation")]
    pub tolerance: f64,
}

impl SaturationArgs {
    /// The search these flags ask for; `None` without `--find-saturation`.
    pub fn search(&self) -> Result<Option<Search>> {
        if !self.find_saturation {
            return Ok(None);
        }
        if self.start_load == 0 || self.start_load > self.max_load {
            bail!(
                "--start-load {} must be above 0 and at most --max-load {}",
                self.start_load,
                self.max_load
            );
        }
        if !(self.growth > 1.0 && self.growth.is_finite()) {
            bail!(
                "--growth {} must be above 1 (e.g. 2: double the load)",
                self.growth
            );
        }
        if !(self.resolution > 0.0 && self.resolution < 1.0) {
            bail!(
                "--resolution {} must be between 0 and 1 (e.g. 0.05: within 5%)",
                self.resolution
            );
        }
        if !(0.0..1.0).contains(&self.tolerance) {
            bail!(
                "--tolerance {} must be at least 0 and below 1 (e.g. 0.05: 95% committed)",
                self.tolerance
            );
        }
        if self.knee_repeats == 0 {
            bail!("--knee-repeats must be at least 1");
        }
        if self.max_runs == Some(0) {
            bail!("--max-runs 0 would measure nothing: give at least 1");
        }
        if self.max_time == Some(0) {
            bail!("--max-time 0 would measure nothing: give at least 1 second");
        }
        Ok(Some(Search {
            start: self.start_load,
            growth: self.growth,
            max_load: self.max_load,
            tolerance: self.tolerance,
            slo: self.slo,
            resolution: self.resolution,
            repeats: self.knee_repeats,
            max_runs: self.max_runs,
            max_time: self.max_time.map(Duration::from_secs),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use crate::{
        cli::{Cli, Command},
        saturation::Percentile,
    };

    fn parse(extra: &[&str]) -> Result<Cli, clap::Error> {
        let mut argv = vec!["xtask", "bench"];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv)
    }

    fn search_error(extra: &[&str]) -> String {
        let Command::Bench(args) = parse(extra).expect("parse").command else {
            panic!("not bench")
        };
        args.saturation.search().expect_err("refused").to_string()
    }

    #[test]
    fn the_search_takes_its_flags_and_defaults() {
        let Command::Bench(args) = parse(&[
            "--find-saturation",
            "--slo",
            "p99<=2s",
            "--max-runs",
            "9",
            "--max-time",
            "600",
        ])
        .expect("parse")
        .command
        else {
            panic!("not bench")
        };
        let search = args.saturation.search().expect("valid").expect("a search");
        let slo = search.slo.expect("slo");
        assert_eq!(
            (slo.percentile, slo.max),
            (Percentile::P99, Duration::from_secs(2))
        );
        assert_eq!(search.max_runs, Some(9));
        assert_eq!(search.max_time, Some(Duration::from_secs(600)));
        assert_eq!(
            (search.start, search.growth, search.repeats),
            (10_000, 2.0, 3),
            "the search module's defaults"
        );
        let Command::Bench(plain) = parse(&[]).expect("parse").command else {
            panic!("not bench")
        };
        assert_eq!(plain.saturation.search().expect("valid"), None);
    }

    #[test]
    fn conflicting_and_orphan_flags_are_refused() {
        for (argv, names) in [
            (
                &["--find-saturation", "--loads", "1000,2000"][..],
                ["--find-saturation", "--loads"],
            ),
            (
                &["--find-saturation", "--repeat", "3"],
                ["--find-saturation", "--repeat"],
            ),
            (&["--slo", "p99<=2s"], ["--slo", "--find-saturation"]),
            (&["--max-runs", "5"], ["--max-runs", "--find-saturation"]),
        ] {
            let err = parse(argv).expect_err("refused").to_string();
            for name in names {
                assert!(err.contains(name), "{argv:?}: {err}");
            }
        }
        let err = parse(&["--find-saturation", "--slo", "p90<=1s"])
            .expect_err("bad objective")
            .to_string();
        assert!(err.contains("e.g. p99<=2s"), "{err}");
    }

    #[test]
    fn out_of_range_values_name_their_flag() {
        for (argv, flag) in [
            (
                &["--find-saturation", "--growth", "1"][..],
                "--growth 1 must be above 1",
            ),
            (
                &["--find-saturation", "--start-load", "0"],
                "--start-load 0",
            ),
            (
                &[
                    "--find-saturation",
                    "--start-load",
                    "500",
                    "--max-load",
                    "100",
                ],
                "at most --max-load 100",
            ),
            (
                &["--find-saturation", "--resolution", "0"],
                "--resolution 0",
            ),
            (&["--find-saturation", "--tolerance", "1"], "--tolerance 1"),
            (
                &["--find-saturation", "--knee-repeats", "0"],
                "--knee-repeats",
            ),
            (&["--find-saturation", "--max-runs", "0"], "--max-runs 0"),
            (&["--find-saturation", "--max-time", "0"], "--max-time 0"),
        ] {
            let err = search_error(argv);
            assert!(err.contains(flag), "{argv:?}: {err}");
        }
    }
}
