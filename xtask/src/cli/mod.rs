//! The command line of `cargo xtask`: its commands, their flags and their defaults, and
//! `bench`'s arguments validated into the experiment model ([`experiment`]).

mod experiment;
mod network;
mod saturation;
#[cfg(test)]
mod test_args;

pub use saturation::SaturationArgs;
pub mod preset;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::{protocol::defaults, results::compare::Format};

pub use network::NetworkArgs;

/// Benchmark the consensus node on this machine, on your own SSH hosts, or on AWS / Vultr
/// instances across the world.
///
/// With no settings file, every command uses the local testbed: validators run as processes on
/// this machine. Point `--settings` at a `settings.json` (see `assets/settings.json`) to use a
/// cloud or static testbed.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Settings file. Default: `settings.json` in the workspace root if present, otherwise the
    /// embedded local testbed.
    #[arg(long, global = true, env = "XTASK_SETTINGS", value_name = "FILE")]
    pub settings: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage the testbed's instances: deploy, status, setup, start, stop, destroy.
    #[command(subcommand)]
    Testbed(TestbedCommand),
    /// Run a benchmark: build, deploy the node, start validators and load, measure, write results.
    Bench(BenchArgs),
    /// Build the node binary for the testbed's hosts (the first step of `bench`).
    Build(BuildArgs),
    /// Draw a run's results: latency vs throughput, throughput vs offered load, time series.
    Plot(PlotArgs),
    /// Compare two result sets point by point, with a statistical verdict (a pre-merge check).
    ///
    /// Points match on committee size, faults (count and mode), Byzantine validators (count
    /// and behaviour), offered load, transaction size and protocol parameters (wave length,
    /// leaders, leader wait and timeout, latency matrix) and network (profile, network
    /// faults); points only one side measured are
    /// listed and not compared. For committed
    /// throughput, p50 and p99 the change is the relative change of the medians of the repeats
    /// (interrupted rows left out), with a 95% bootstrap confidence interval over the repeats
    /// and over each run's per-second samples (from timeseries.csv when it is next to the
    /// summary). A figure is `regressed` when the whole interval lies beyond its threshold
    /// (--max-throughput-drop, --max-latency-rise) on the worse side, `improved` beyond it on
    /// the better side, `unchanged` when it lies within +/- the threshold, and `inconclusive`
    /// otherwise, with the repeats that would likely decide it at the observed noise.
    ///
    /// With --base REV, it first runs the sweep for both revisions on this testbed, run by run
    /// interleaved (base, head, head, base, ...), into one run directory with `base/` and
    /// `head/` inside, then compares them. Points with a disturbed run (a stall, a trend, a
    /// busy host) are inconclusive unless --accept-disturbed.
    ///
    /// Exits with status 0 when nothing regressed and everything was decided, 1 when a point
    /// regressed, 2 when the comparison could not decide (an inconclusive figure, a failed or
    /// interrupted run, a file that is not a result file of this version, no point common to
    /// both sides).
    #[command(
        mut_arg("repeat", |a| a.default_value("3")),
        mut_arg("duration", |a| a.default_value("20")),
        mut_arg("warmup", |a| a.default_value("5"))
    )]
    Compare(CompareArgs),
    /// Summarize the validator logs of a run: errors, warnings, panics per validator and host.
    ///
    /// Reads the run directory only (and `logs_directory/<run id>` when the settings keep logs
    /// elsewhere): local validators write their logs there, and remote benchmarks download
    /// each point's logs there when the point ends, so nothing is fetched from the hosts.
    Logs(LogsArgs),
    /// Hunt safety and liveness violations with the node's simulator (`node explore`).
    ///
    /// Builds the node, then runs R simulations of a committee under adversarial schedules
    /// drawn from seeds (delays, jitter, partitions, crash-recoveries, lossy and slow links;
    /// see the node's README, section Simulation), each checked for safety (honest committed
    /// sequences agree) and liveness (every honest validator commits after the last fault).
    /// Progress is streamed. A violation makes it exit with status 1, keeps its files in
    /// `results/explore-<id>/` and prints the `cargo xtask explore ... --replay SEED` command
    /// that runs exactly that run again.
    Explore(ExploreArgs),
    /// Write a Prometheus config scraping every validator and host, and a Grafana dashboard.
    ///
    /// Writes `prometheus.yml` with its target files (`targets/*.json`, re-read by Prometheus
    /// when they change) and Grafana provisioning with the dashboard of
    /// `assets/dashboards/consensus-bench.json`: throughput, latency p50/p99, rounds, leader
    /// slots by decision, rejected load, CPU and memory. On cloud and static testbeds hosts
    /// are scraped through prometheus-node-exporter on the last port of the metrics range
    /// (`metrics_base_port + 999`), which the testbed's firewall already opens.
    Monitoring(MonitoringArgs),
}

/// `cargo xtask testbed ...`
#[derive(Debug, Subcommand)]
pub enum TestbedCommand {
    /// Bring every region (or only `--region`) to N running instances.
    ///
    /// Runs a pre-flight check first (regions, key files, instance type or plan) and creates
    /// nothing if it fails. Instances already in the testbed count toward N: stopped ones are
    /// started before any is created. Prints the cost per hour and asks for confirmation unless
    /// `--yes`. A deploy that crashed or was interrupted is resumed by running it again: what
    /// its requests may have created is found, never created twice.
    Deploy {
        /// Instances wanted per region.
        #[arg(long, value_name = "N")]
        instances: usize,
        /// Deploy only in this region (it must be listed in the settings).
        #[arg(long, value_name = "REGION")]
        region: Option<String>,
        /// Hours from now after which each new or started instance powers itself off (the
        /// dead-man switch, enforced on the instance at every boot). At least 1. Default:
        /// `ttl_hours` from the settings.
        #[arg(long, value_name = "HOURS")]
        ttl: Option<u32>,
        /// Do not ask for confirmation before creating instances.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Do not set up the new instances over SSH once they run (`testbed setup` does it
        /// later).
        #[arg(long)]
        skip_setup: bool,
        /// Minutes to wait for new instances to run before giving up (they are left in the
        /// testbed: `testbed status` shows them, `testbed destroy` deletes them).
        #[arg(long, default_value_t = 15, value_name = "MINUTES")]
        wait_timeout: u64,
        /// Refuse at once, saying who holds it, when another command is changing this testbed
        /// (by default: wait for it, saying who holds the lock).
        #[arg(long)]
        no_wait: bool,
    },
    /// Show the testbed's instances per region: id, IP, state, dead-man switch deadline; what
    /// it costs per hour now (stopped instances included) and what ends the charges when; then
    /// every other testbed of this tool in the account, with the command that destroys it.
    ///
    /// Searches every region the account can use, not only the settings' `regions` (those
    /// outside them are marked). A region that cannot be searched is named, with the
    /// provider's answer, and the exit status is non-zero. Never waits for a lock.
    Status {
        /// Act on this testbed id instead of the settings' `testbed_id` (e.g. one `testbed
        /// status` lists among the other testbeds of the account).
        #[arg(long, value_name = "ID")]
        testbed_id: Option<String>,
    },
    /// Set up the running instances over SSH: tools the benchmark uses (installed only if
    /// missing), firewall openings, open-files limit, clock synchronisation check.
    Setup {
        /// Refuse at once, saying who holds it, when another command is changing this testbed
        /// (by default: wait for it, saying who holds the lock).
        #[arg(long)]
        no_wait: bool,
    },
    /// Start stopped instances of the testbed and re-arm their dead-man switch.
    ///
    /// The new deadline (now + `--ttl`) is written on each instance over SSH (when the
    /// settings have a private key) and recorded with the provider for `testbed status`.
    Start {
        /// Start at most N instances per region. Default: all of them.
        #[arg(long, value_name = "N")]
        instances: Option<usize>,
        /// Hours from now after which the started instances power themselves off. At least 1.
        /// Default: `ttl_hours` from the settings.
        #[arg(long, value_name = "HOURS")]
        ttl: Option<u32>,
        /// Act on this testbed id instead of the settings' `testbed_id` (e.g. one `testbed
        /// status` lists among the other testbeds of the account).
        #[arg(long, value_name = "ID")]
        testbed_id: Option<String>,
        /// Refuse at once, saying who holds it, when another command is changing this testbed
        /// (by default: wait for it, saying who holds the lock).
        #[arg(long)]
        no_wait: bool,
    },
    /// Stop the testbed's running instances, then say what the stopped testbed still costs.
    ///
    /// A halted Vultr instance is billed the whole plan price until destroyed (asked first,
    /// unless `--yes`); a stopped EC2 instance still bills its EBS volume and any Elastic IP.
    Stop {
        /// Do not ask for confirmation (asked on Vultr, where stopping saves nothing).
        #[arg(long, short = 'y')]
        yes: bool,
        /// Act on this testbed id instead of the settings' `testbed_id` (e.g. one `testbed
        /// status` lists among the other testbeds of the account).
        #[arg(long, value_name = "ID")]
        testbed_id: Option<String>,
        /// Refuse at once, saying who holds it, when another command is changing this testbed
        /// (by default: wait for it, saying who holds the lock).
        #[arg(long)]
        no_wait: bool,
    },
    /// Delete every instance of the testbed in every region of the account, then the key
    /// pairs and security or firewall groups deploys created. Safe to run again.
    ///
    /// A region that fails is named with the provider's answer; the others are still cleaned
    /// and the exit status is non-zero: run it again to finish.
    Destroy {
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Keep key pairs and security / firewall groups (they cost nothing); delete only
        /// instances.
        #[arg(long)]
        keep_network: bool,
        /// Delete only the instances whose dead-man switch deadline has passed (what the
        /// destroy scheduled at a Vultr testbed's deadline runs).
        #[arg(long)]
        expired: bool,
        /// Act on this testbed id instead of the settings' `testbed_id` (e.g. one `testbed
        /// status` lists among the other testbeds of the account).
        #[arg(long, value_name = "ID")]
        testbed_id: Option<String>,
        /// Refuse at once, saying who holds it, when another command is changing this testbed
        /// (by default: wait for it, saying who holds the lock).
        #[arg(long)]
        no_wait: bool,
    },
}

/// The testbeds `bench --testbed` chooses among (others come from the settings file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchTestbed {
    /// The node's simulator: the committee under virtual time in one process, one run per
    /// seed (`node sim`).
    Sim,
    /// Validators as processes on this machine.
    Local,
    /// The settings' testbed (`cloud_provider`), e.g. to run a preset on a cloud.
    Settings,
}

/// `cargo xtask bench ...`
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Run on this testbed instead of the settings' `cloud_provider` (keeping the settings'
    /// ports and directories): `sim` simulates the committee (`node sim`, virtual time),
    /// `local` runs validators as processes here, `settings` the settings' testbed.
    #[arg(long, value_enum, value_name = "TESTBED")]
    pub testbed: Option<BenchTestbed>,
    /// Sim testbed: the seed of each point's first repeat; repeat r runs seed + r. Default:
    /// the settings' `sim_seed` (1).
    #[arg(long, value_name = "S")]
    pub sim_seed: Option<u64>,
    /// Run a preset experiment: a name in `assets/presets/` (e.g. `mysticeti-wan`) or a JSON
    /// file. Its committees, loads, latency matrix, warm-up and window replace those flags;
    /// it runs on the sim testbed unless --testbed says otherwise, and its published points
    /// are drawn beside ours on the L-graph.
    #[arg(long, value_name = "NAME|FILE")]
    pub preset: Option<String>,
    /// Number of validators.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub committee: usize,
    /// Offered loads in transactions per second for the whole system, comma-separated: one run
    /// per load (a sweep), each with a fresh genesis.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10000",
        value_name = "TX/S,..."
    )]
    pub loads: Vec<u64>,
    /// Validators crashed from the start (permanent faults).
    #[arg(long, default_value_t = 0, value_name = "F")]
    pub faults: usize,
    /// Instead of permanent crashes, kill the faulty validators and restart them from their
    /// write-ahead log, every `--crash-interval` seconds.
    #[arg(long)]
    pub crash_recovery: bool,
    /// Byzantine validators (benchmarks of attacks): K validators, just below the crashed ones
    /// by index, run the node with `--byzantine MODE`. Crashed and Byzantine together must
    /// stay within f. Needs `--behaviour`.
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub byzantine: usize,
    /// What the Byzantine validators do (the node's `--byzantine` modes).
    #[arg(long, value_enum, value_name = "MODE")]
    pub behaviour: Option<crate::protocol::Behaviour>,
    /// Seconds between crash-recovery events.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub crash_interval: u64,
    /// Seconds a crashed validator stays down before its restart (crash-recovery; default:
    /// `--crash-interval`). Down longer than the peers' WAL retention, it rejoins from a sync
    /// point; the `rejoin` column says how long that took.
    #[arg(long, value_name = "SECONDS")]
    pub down_time: Option<u64>,
    /// Runs per load.
    #[arg(long, default_value_t = 1, value_name = "K")]
    pub repeat: usize,
    /// Size of each transaction in bytes.
    #[arg(long, default_value_t = defaults::TRANSACTION_SIZE, value_name = "BYTES")]
    pub transaction_size: usize,
    /// Measured window in seconds (after the warm-up).
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub duration: u64,
    /// Seconds of load before measurement starts; excluded from the results.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub warmup: u64,
    /// Seconds between two scrapes of every validator's metrics.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    pub scrape_interval: f64,
    /// Protocol: wave length (3 for Mysticeti-C; 4 or 5 for the Mahi-Mahi variant).
    #[arg(long, default_value_t = defaults::WAVE_LENGTH, value_name = "ROUNDS")]
    pub wave_length: u32,
    /// Protocol: leaders per round.
    #[arg(long, default_value_t = defaults::LEADERS, value_name = "L")]
    pub leaders: u32,
    /// Protocol: propose without waiting for the previous round's leader (Mahi-Mahi).
    #[arg(long)]
    pub no_leader_wait: bool,
    /// Protocol: how long to wait for a leader before proposing anyway.
    #[arg(long, default_value_t = defaults::LEADER_TIMEOUT_MS, value_name = "MS")]
    pub leader_timeout_ms: u64,
    /// Geo emulation: a latency matrix (CSV of one-way delays in ms between regions) or the
    /// name of a preset in `assets/latency/` (e.g. `aws`). Validators are assigned to its
    /// regions round-robin and the node delays each message accordingly. Off by default.
    #[arg(long, value_name = "FILE|PRESET")]
    pub latency_matrix: Option<String>,
    /// The network the node emulates: a profile, a bandwidth cap, scheduled faults.
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Name of the run directory under the results directory. Default: date and time.
    #[arg(long, value_name = "NAME")]
    pub run_id: Option<String>,
    /// Remote testbeds: send nothing; check (by hash) that every host already has the binary
    /// built from the settings' code, and stop if one lacks it.
    #[arg(long)]
    pub skip_update: bool,
    /// Remote testbeds: skip the host set-up (check of the commands the run uses, removal of
    /// validators and files left by earlier runs in the working directory).
    #[arg(long)]
    pub skip_configure: bool,
    /// Remote testbeds: refuse at once, saying who holds it, when another command is changing
    /// the testbed (the set-up and update hold the testbed's lock; by default: wait).
    #[arg(long)]
    pub no_wait: bool,
    /// Tests of the safety audit only: start this validator with a corrupted linearizer, so
    /// its committed sequence forks from the others' (the run must report the fork and fail).
    #[arg(long, hide = true, value_name = "VALIDATOR")]
    pub plant_fork: Option<usize>,
    /// Tests of the saturation search only: cap each block's transaction payload at this
    /// many bytes (the node's `max_block_bytes`), which caps the committee's throughput.
    #[arg(long, hide = true, value_name = "BYTES")]
    pub plant_max_block_bytes: Option<usize>,
    /// Tests of the saturation search only: the node's `min_round_delay_ms` (at most one own
    /// block per this many milliseconds).
    #[arg(long, hide = true, value_name = "MS")]
    pub plant_min_round_delay_ms: Option<u64>,
    /// The saturation search (`--find-saturation` and its flags).
    #[command(flatten)]
    pub saturation: SaturationArgs,
}

/// `cargo xtask explore ...`
#[derive(Debug, Clone, Args)]
pub struct ExploreArgs {
    /// Simulations to run.
    #[arg(long, default_value_t = 100, value_name = "R")]
    pub runs: u64,
    /// Validators in the committee.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub committee: usize,
    /// Byzantine validators (the highest indices). Needs `--behaviour`.
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub byzantine: usize,
    /// What the Byzantine validators do (the node's `--byzantine` modes).
    #[arg(long, value_enum, value_name = "MODE")]
    pub behaviour: Option<crate::protocol::Behaviour>,
    /// Seed the runs' seeds are derived from: one seed, the same runs.
    #[arg(long, default_value_t = 0, value_name = "S")]
    pub seed: u64,
    /// Virtual seconds per run (faults end by the middle).
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub duration: f64,
    /// Threads running simulations. Default: the machine's cores.
    #[arg(long, value_name = "J")]
    pub jobs: Option<usize>,
    /// Run exactly the run of this seed (as printed for a violation) instead of R runs.
    #[arg(long, value_name = "RUN_SEED")]
    pub replay: Option<u64>,
    /// Name of the results directory (`results/explore-<id>/`). Default: date and time.
    #[arg(long, value_name = "NAME")]
    pub run_id: Option<String>,
    /// Tests of the explorer only: the validators run an unsafe commit rule (the node's
    /// `--plant-unsafe-rule`: votes and direct skips counted against f+1).
    #[arg(long, hide = true)]
    pub plant_unsafe_rule: bool,
}

/// `cargo xtask build ...`
#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    /// Rust target triple to build for. Default: this machine's for the local testbed; for
    /// remote hosts (static, or running cloud instances) the architecture their `uname -m`
    /// names, as `bench` does: `<arch>-unknown-linux-musl` when that target is installed (a
    /// static binary), else `<arch>-unknown-linux-gnu` (then the hosts need the glibc version
    /// printed).
    #[arg(long, value_name = "TRIPLE")]
    pub target: Option<String>,
}

/// `cargo xtask plot ...`
#[derive(Debug, Clone, Args)]
pub struct PlotArgs {
    /// Run directories, or run ids under the results directory. Default: the last run.
    #[arg(value_name = "RUN")]
    pub runs: Vec<PathBuf>,
    /// Where the SVG and PNG files go. Default: `plots/` inside the first run directory.
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
}

/// `cargo xtask compare BASE HEAD` or `cargo xtask compare --base REV [--head REV]`
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The reference result set: a run directory, a run id under the results directory, or a
    /// summary CSV (`summary.csv`, `runs.csv`). Not with --base.
    #[arg(value_name = "BASE", required_unless_present = "base_rev")]
    pub base: Option<PathBuf>,
    /// The candidate result set: a run directory, a run id, or a summary CSV.
    #[arg(value_name = "HEAD", required_unless_present = "base_rev")]
    pub head: Option<PathBuf>,
    /// Benchmark this revision (commit, branch or tag; built in a cached checkout unless it is
    /// the clean working tree's HEAD) against --head, with the sweep flags below, both sides
    /// interleaved on this testbed, then compare.
    #[arg(long = "base", value_name = "REV", conflicts_with_all = ["base", "head"])]
    pub base_rev: Option<String>,
    /// The revision to check. Default: the working tree as it is (uncommitted changes
    /// included, and recorded as dirty).
    #[arg(long = "head", value_name = "REV", requires = "base_rev")]
    pub head_rev: Option<String>,
    /// With --base: the sweep both sides run (the flags of `bench`; here --repeat defaults to
    /// 3, --duration to 20 and --warmup to 5).
    #[command(flatten)]
    pub sweep: BenchArgs,
    /// Largest accepted throughput drop, as `5%` or `0.05`.
    #[arg(long, default_value = "5%", value_name = "FRACTION", value_parser = parse_fraction)]
    pub max_throughput_drop: f64,
    /// Largest accepted rise of p50 or p99 latency, as `10%` or `0.1`.
    #[arg(long, default_value = "10%", value_name = "FRACTION", value_parser = parse_fraction)]
    pub max_latency_rise: f64,
    /// Output: a terminal table, a Markdown table (for a pull-request comment) or JSON.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Judge points with a disturbed run (a stall, a trend, a busy host: the summary's
    /// `disturbed` column) like the others; by default they are inconclusive.
    #[arg(long)]
    pub accept_disturbed: bool,
    /// Seed of the bootstrap's random generator: the same results and seed give the same
    /// intervals.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub seed: u64,
}

fn parse_fraction(text: &str) -> Result<f64, String> {
    crate::results::compare::parse_fraction(text).map_err(|e| e.to_string())
}

/// `cargo xtask logs [RUN]`
#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// A run directory, or a run id under the results directory. Default: the last run.
    #[arg(value_name = "RUN")]
    pub run: Option<PathBuf>,
    /// Error and panic lines to show per log file.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub lines: usize,
}

/// `cargo xtask monitoring ...`
#[derive(Debug, Clone, Args)]
pub struct MonitoringArgs {
    /// Validators to scrape: validator i on instance i mod (instances), metrics port
    /// `metrics_base_port + i`, as the benchmark places them. Default: 4 on the local testbed,
    /// one per running instance elsewhere.
    #[arg(long, value_name = "N")]
    pub committee: Option<usize>,
    /// Where `prometheus.yml` and the Grafana provisioning files go.
    /// Default: `monitoring/` in the results directory.
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Cloud or static testbed: upload the config and dashboard to this instance (id or IP)
    /// over SSH, install Prometheus and Grafana there if missing, and (re)start them.
    #[arg(long, value_name = "INSTANCE")]
    pub install: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn loads_parse_as_a_comma_separated_sweep() {
        let cli = Cli::try_parse_from(["xtask", "bench", "--loads", "10000,50000"]).expect("parse");
        let Command::Bench(args) = cli.command else {
            panic!("not bench")
        };
        assert_eq!(args.loads, vec![10000, 50000]);
        assert_eq!(args.committee, 4);
    }

    #[test]
    fn deploy_requires_instances() {
        assert!(Cli::try_parse_from(["xtask", "testbed", "deploy"]).is_err());
        assert!(Cli::try_parse_from(["xtask", "testbed", "deploy", "--instances", "2"]).is_ok());
    }

    #[test]
    fn compare_thresholds_accept_percent_or_fraction() {
        let cli = Cli::try_parse_from([
            "xtask",
            "compare",
            "a",
            "b",
            "--max-throughput-drop",
            "0.02",
            "--max-latency-rise",
            "15%",
        ])
        .expect("parse");
        let Command::Compare(args) = cli.command else {
            panic!("not compare")
        };
        assert_eq!(
            (args.max_throughput_drop, args.max_latency_rise),
            (0.02, 0.15)
        );
        let cli = Cli::try_parse_from(["xtask", "compare", "a", "b"]).expect("defaults");
        let Command::Compare(args) = cli.command else {
            panic!("not compare")
        };
        assert_eq!(
            (args.max_throughput_drop, args.max_latency_rise),
            (0.05, 0.10)
        );
        assert!(
            Cli::try_parse_from(["xtask", "compare", "a", "b", "--max-latency-rise", "10"])
                .is_err()
        );
    }
}
