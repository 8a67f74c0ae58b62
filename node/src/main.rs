//! The `node` command line: `genesis`, `run`, `sim` and `explore`.

use std::{net::IpAddr, path::PathBuf, sync::Arc};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use node::{
    byzantine::Behaviour,
    committee::Committee,
    crypto, descriptors,
    genesis::{self, GenesisConfig},
    network::{
        profile::{mbps_to_bytes, Fault, FaultSchedule, Outbound, Profile},
        EmulationConfig, LatencyMatrix,
    },
    parameters::Parameters,
    transactions::MIN_TRANSACTION_SIZE,
    validator::{Validator, ValidatorConfig},
};

#[derive(Parser)]
#[command(
    name = "node",
    about = "A BFT consensus validator (uncertified DAG, Mysticeti-C commit rule)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes committee.json, parameters.json and private-{i}.key for a new network.
    Genesis(GenesisArgs),
    /// Runs one validator.
    Run(RunArgs),
    /// Simulates a whole committee of this node in one process, under virtual time.
    Sim(node::sim::cli::SimArgs),
    /// Runs many simulations with adversarial schedules and checks safety and liveness.
    Explore(node::sim::explore::ExploreArgs),
}

#[derive(Parser)]
struct GenesisArgs {
    /// One IP per validator.
    #[arg(long, num_args = 1.., required = true)]
    ips: Vec<IpAddr>,
    /// Where to write the files.
    #[arg(long)]
    working_directory: PathBuf,
    /// Consensus port of validator 0; validator i uses base + i.
    #[arg(long, default_value_t = 26000)]
    base_port: u16,
    /// Metrics port of validator 0; validator i uses base + i.
    #[arg(long, default_value_t = 27000)]
    metrics_base_port: u16,
    /// Region of each validator (for --latency-matrix).
    #[arg(long, num_args = 1..)]
    regions: Option<Vec<String>>,
    /// Wave length (3 = Mysticeti-C; 4 or 5 = Mahi-Mahi variant).
    #[arg(long, default_value_t = 3)]
    wave_length: u64,
    /// Leaders per round.
    #[arg(long, default_value_t = 1)]
    leaders: usize,
    /// Do not wait for the previous round's leaders before proposing.
    #[arg(long)]
    no_leader_wait: bool,
    /// Leader timeout in milliseconds.
    #[arg(long, default_value_t = 1000)]
    leader_timeout_ms: u64,
    /// Minimum delay between own proposals (default from parameters).
    #[arg(long)]
    min_round_delay_ms: Option<u64>,
    /// Cap on a block's transaction payload in bytes.
    #[arg(long)]
    max_block_bytes: Option<usize>,
    /// Rounds kept below the last committed round.
    #[arg(long)]
    retention_rounds: Option<u64>,
}

#[derive(Parser)]
struct RunArgs {
    /// This validator's index in the committee.
    #[arg(long)]
    authority: u32,
    /// committee.json
    #[arg(long)]
    committee: PathBuf,
    /// parameters.json
    #[arg(long)]
    parameters: PathBuf,
    /// private-{i}.key
    #[arg(long)]
    private: PathBuf,
    /// Storage directory (WAL).
    #[arg(long)]
    storage: PathBuf,
    /// Load generator rate in transactions per second (0 = none).
    #[arg(long, default_value_t = 0)]
    load: u64,
    /// Transaction size in bytes.
    #[arg(long, default_value_t = 512)]
    transaction_size: usize,
    /// CSV of one-way delays between regions: a network profile of constant delays.
    #[arg(long, conflicts_with = "network_profile")]
    latency_matrix: Option<PathBuf>,
    /// Network profile: a built-in name (lan, aws, degraded) or a JSON file; validators are
    /// placed on regions by the committee file.
    #[arg(long, value_name = "NAME|FILE")]
    network_profile: Option<String>,
    /// Cap on this validator's outgoing bandwidth, in megabits per second (overrides the
    /// profile's cap for its region).
    #[arg(long, value_name = "MBPS")]
    egress_mbps: Option<f64>,
    /// A scheduled partition, SIDES@START+DURATION after --fault-epoch, e.g.
    /// 0,1/2,3@20s+15s: messages between the sides are held until it heals. Repeatable.
    #[arg(long, value_name = "SPEC")]
    partition: Vec<String>,
    /// A slow validator, V:+DELAY[@START+DURATION], e.g. 3:+200ms: its messages leave that
    /// late. Repeatable.
    #[arg(long, value_name = "SPEC")]
    slow: Vec<String>,
    /// A flapping link, A-B:PERIOD,DOWN%[@START+DURATION], e.g. 0-1:2s,25%: down for the
    /// first DOWN% of every period. Repeatable.
    #[arg(long, value_name = "SPEC")]
    flap: Vec<String>,
    /// Unix time in milliseconds the fault windows count from: the same on every validator.
    #[arg(long, value_name = "UNIX_MS")]
    fault_epoch: Option<u64>,
    /// Listen on every interface (0.0.0.0 or ::) at this validator's committee ports instead
    /// of on its committee addresses: needed on clouds, where the public address peers use is
    /// not on the instance's own interface.
    #[arg(long)]
    bind_all: bool,
    /// Where to write the commit log: the commit index and chain hash every 10 commits and at
    /// a clean stop (default: commits.csv in the storage directory).
    #[arg(long, value_name = "FILE")]
    commit_log: Option<PathBuf>,
    /// Tests of the safety audit only: from this commit index on, commit every sub-DAG in
    /// reverse order, so this validator's committed sequence forks from the others'.
    #[arg(long, hide = true, value_name = "INDEX")]
    plant_fork_at: Option<u64>,
    /// Benchmarks only: make this validator attack the others (equivocate, withhold, spam,
    /// silent-leader, late-leader; see node/README.md). Refused without --allow-byzantine.
    #[arg(long, value_name = "MODE")]
    byzantine: Option<Behaviour>,
    /// Confirms --byzantine: this validator will misbehave on purpose.
    #[arg(long, requires = "byzantine")]
    allow_byzantine: bool,
}

fn genesis(args: GenesisArgs) -> Result<()> {
    let mut parameters = Parameters {
        wave_length: args.wave_length,
        leaders_per_round: args.leaders,
        leader_wait: !args.no_leader_wait,
        leader_timeout_ms: args.leader_timeout_ms,
        ..Parameters::default()
    };
    if let Some(d) = args.min_round_delay_ms {
        parameters.min_round_delay_ms = d;
    }
    if let Some(b) = args.max_block_bytes {
        parameters.max_block_bytes = b;
        parameters.max_pending_bytes = parameters.max_pending_bytes.max(b * 4);
    }
    if let Some(r) = args.retention_rounds {
        parameters.retention_rounds = r;
    }
    genesis::generate(
        &args.working_directory,
        &GenesisConfig {
            ips: &args.ips,
            base_port: args.base_port,
            metrics_base_port: args.metrics_base_port,
            regions: args.regions.as_deref(),
            parameters: &parameters,
        },
    )?;
    println!(
        "wrote genesis for {} validators to {}",
        args.ips.len(),
        args.working_directory.display()
    );
    Ok(())
}

fn run(args: RunArgs) -> Result<()> {
    if args.transaction_size < MIN_TRANSACTION_SIZE {
        bail!("--transaction-size must be at least {MIN_TRANSACTION_SIZE} bytes");
    }
    if let Some(mode) = args.byzantine {
        if !args.allow_byzantine {
            bail!(
                "--byzantine {mode} makes this validator attack the others; it is for \
                 benchmarks only: add --allow-byzantine to confirm"
            );
        }
        tracing::warn!(
            authority = args.authority,
            "BYZANTINE VALIDATOR: behaviour `{mode}` (benchmarks only; this validator attacks the others)"
        );
    }
    let committee = Arc::new(Committee::load(&args.committee)?);
    let parameters = Parameters::load(&args.parameters)?;
    let key = crypto::read_private_key(&args.private)?;
    let network = network_emulation(&args, &committee)?;
    raise_open_files_limit();
    let config = ValidatorConfig {
        authority: args.authority,
        committee,
        parameters,
        key,
        storage: args.storage,
        load: args.load,
        transaction_size: args.transaction_size,
        network,
        serve_metrics: true,
        bind_all: args.bind_all,
        record_commits: false,
        commit_log: args.commit_log,
        plant_fork_at: args.plant_fork_at,
        byzantine: args.byzantine,
    };
    config.validate().with_context(|| {
        format!(
            "{} / {} do not fit together",
            args.committee.display(),
            args.private.display()
        )
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let mut validator = Validator::start(config).await?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot install the SIGTERM handler")?;
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
            r = validator.wait() => {
                r?;
                bail!("the core stopped unexpectedly");
            }
        }
        validator.shutdown().await
    })
}

/// The emulated network of `run`: a profile (or a latency matrix), an egress cap and the
/// scheduled faults; None when nothing is emulated.
fn network_emulation(args: &RunArgs, committee: &Committee) -> Result<Option<EmulationConfig>> {
    let mut faults = Vec::new();
    for (specs, parse) in [
        (
            &args.partition,
            Fault::parse_partition as fn(&str) -> Result<Fault, String>,
        ),
        (&args.slow, Fault::parse_slow),
        (&args.flap, Fault::parse_flap),
    ] {
        for spec in specs {
            faults.push(parse(spec).map_err(anyhow::Error::msg)?);
        }
    }
    let faults = FaultSchedule::new(faults);
    faults
        .check_committee(committee.size())
        .map_err(anyhow::Error::msg)?;
    if !faults.is_empty() && args.fault_epoch.is_none() {
        bail!(
            "--partition, --slow and --flap count their windows from --fault-epoch: give it, \
             the same unix time in milliseconds to every validator"
        );
    }
    if let Some(mbps) = args.egress_mbps {
        if !mbps.is_finite() || mbps <= 0.0 {
            bail!("--egress-mbps is {mbps}: give a positive number of megabits per second");
        }
    }
    let egress = args.egress_mbps.map(mbps_to_bytes);
    let profile = match (&args.network_profile, &args.latency_matrix) {
        (Some(name), _) => Some(Profile::load(name)?),
        (None, Some(path)) => Some(Profile::from_latency_matrix(&LatencyMatrix::load(path)?)),
        (None, None) => None,
    };
    let me = args.authority;
    let outbound = match profile {
        Some(profile) => profile
            .outbound(committee, me, egress, faults)
            .with_context(|| {
                format!(
                    "{} does not fit the network profile",
                    args.committee.display()
                )
            })?,
        None if faults.is_empty() && egress.is_none() => return Ok(None),
        None => Outbound::ideal(me, committee.size(), egress, faults),
    };
    Ok(Some(EmulationConfig {
        outbound,
        epoch_unix_ms: args.fault_epoch,
    }))
}

/// Raises the soft open-files limit to the hard one and logs the limit.
fn raise_open_files_limit() {
    let show = |limit: Option<u64>| limit.map_or("unlimited".to_string(), |l| l.to_string());
    match descriptors::raise_limit() {
        Ok((before, after)) if before.soft != after.soft => tracing::info!(
            "open-files limit raised from {} to {} (the hard limit)",
            show(before.soft),
            show(after.soft)
        ),
        Ok((_, after)) => tracing::info!("open-files limit: {}", show(after.soft)),
        Err(e) => tracing::warn!("{e:#}; keeping the current open-files limit"),
    }
}

fn main() {
    use std::io::IsTerminal;
    let cli = Cli::parse();
    // A simulation runs many validators: only their warnings by default.
    let default_filter = match cli.command {
        Command::Sim(_) | Command::Explore(_) => "warn",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .init();
    let result = match cli.command {
        Command::Genesis(args) => genesis(args),
        Command::Run(args) => run(args),
        Command::Sim(args) => node::sim::cli::sim(args),
        Command::Explore(args) => node::sim::explore::command(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
