//! The orchestrator's contract with the node it benchmarks: the subcommands and flags of
//! `node genesis`, `node run`, `node sim` and `node explore`, the files genesis writes and a run leaves, the metric names
//! the scraper reads, and the protocol's defaults. Everything else in the orchestrator asks
//! this module.
//!
//! The orchestrator also benchmarks other commits of the node, so this is its own copy of the
//! contract, not the node crate's: `xtask/tests/node_contract.rs` runs the built node's
//! `--help` and `genesis` against it and fails on drift.

use serde::{Deserialize, Serialize};

/// The node's defaults the orchestrator relies on.
pub mod defaults {
    /// Rounds per wave (3: Mysticeti-C).
    pub const WAVE_LENGTH: u32 = 3;
    /// Leaders per round.
    pub const LEADERS: u32 = 1;
    /// How long a validator waits for a leader's block before proposing anyway.
    pub const LEADER_TIMEOUT_MS: u64 = 1000;
    /// Transaction size of the load generator, in bytes.
    pub const TRANSACTION_SIZE: usize = 512;
    /// Validator i listens on `BASE_PORT + i`...
    pub const BASE_PORT: u16 = 26000;
    /// ...and serves `/metrics` on `METRICS_BASE_PORT + i`.
    pub const METRICS_BASE_PORT: u16 = 27000;
}

/// Files of a run: written by `node genesis` into its working directory, or by a validator.
pub mod files {
    pub const COMMITTEE_FILE: &str = "committee.json";
    pub const PARAMETERS_FILE: &str = "parameters.json";
    /// The latency matrix a run with geo emulation reads (copied next to the genesis files).
    pub const LATENCY_FILE: &str = "latency.csv";
    /// A network profile file a run passes by path (copied next to the genesis files).
    pub const NETWORK_PROFILE_FILE: &str = "network-profile.json";

    /// The private key file of validator `i`.
    pub fn private_key_file(validator: usize) -> String {
        format!("private-{validator}.key")
    }

    /// The storage (WAL) directory of validator `i`.
    pub fn storage_dir(validator: usize) -> String {
        format!("storage-{validator}")
    }

    /// The log file of validator `i` (its standard output and error).
    pub fn log_file(validator: usize) -> String {
        format!("validator-{validator}.log")
    }

    /// The commit log of validator `i` (its commit chain, read by the safety audit), next to
    /// its log.
    pub fn commit_log_file(validator: usize) -> String {
        format!("commits-{validator}.csv")
    }
}

/// Names of the node's metrics the orchestrator reads.
pub mod metrics {
    pub const COMMITTED_TRANSACTIONS: &str = "node_committed_transactions_total";
    pub const COMMITTED_BYTES: &str = "node_committed_bytes_total";
    pub const LATENCY: &str = "node_transaction_latency_seconds";
    pub const COMMITTED_LEADERS: &str = "node_committed_leaders_total";
    pub const CURRENT_ROUND: &str = "node_current_round";
    pub const LAST_COMMITTED_ROUND: &str = "node_last_committed_round";
    pub const COMMIT_INDEX: &str = "node_commit_index";
    pub const BLOCKS_PROPOSED: &str = "node_blocks_proposed_total";
    pub const BLOCKS_RECEIVED: &str = "node_blocks_received_total";
    pub const MISSING_BLOCK_REQUESTS: &str = "node_missing_block_requests_total";
    pub const LEADER_TIMEOUTS: &str = "node_leader_timeouts_total";
    pub const BENCHMARK_DURATION: &str = "node_benchmark_duration_seconds";
    pub const SUBMITTED: &str = "node_submitted_transactions_total";
    pub const REJECTED: &str = "node_rejected_transactions_total";
    pub const CPU_SECONDS: &str = "process_cpu_seconds_total";
    pub const RESIDENT_MEMORY: &str = "process_resident_memory_bytes";
    /// Every name above, for the drift test.
    pub const ALL: [&str; 16] = [
        COMMITTED_TRANSACTIONS,
        COMMITTED_BYTES,
        LATENCY,
        COMMITTED_LEADERS,
        CURRENT_ROUND,
        LAST_COMMITTED_ROUND,
        COMMIT_INDEX,
        BLOCKS_PROPOSED,
        BLOCKS_RECEIVED,
        MISSING_BLOCK_REQUESTS,
        LEADER_TIMEOUTS,
        BENCHMARK_DURATION,
        SUBMITTED,
        REJECTED,
        CPU_SECONDS,
        RESIDENT_MEMORY,
    ];
}

/// What a Byzantine validator does: the node's `node run --byzantine MODE` (see its README).
/// The names are the variants' (kebab-case, for clap and serde alike).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Behaviour {
    /// A different block for each peer every round.
    Equivocate,
    /// Never votes for leaders; its blocks reach only f peers.
    Withhold,
    /// Invalid blocks, forged far-future blocks and garbage frames at a bounded rate.
    Spam,
    /// Proposes nothing in the rounds it leads.
    SilentLeader,
    /// In the rounds it leads, in turn: proposes just before the leader timeout, nothing,
    /// in time.
    LateLeader,
    /// Every round, one version of its block to half of its peers, another to the others.
    SplitVote,
}

crate::value_name::display_as_value_name!(Behaviour);

impl Behaviour {
    /// Every mode's name, in order.
    pub fn names() -> Vec<String> {
        <Self as clap::ValueEnum>::value_variants()
            .iter()
            .map(Self::to_string)
            .collect()
    }
}

/// Protocol parameters passed to the node's genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Protocol {
    pub wave_length: u32,
    pub leaders: u32,
    pub leader_wait: bool,
    pub leader_timeout_ms: u64,
}

/// `node genesis`: writes a fresh committee, parameters and keys.
pub mod genesis {
    pub const COMMAND: &str = "genesis";
    pub const IPS: &str = "--ips";
    pub const WORKING_DIRECTORY: &str = "--working-directory";
    pub const BASE_PORT: &str = "--base-port";
    pub const METRICS_BASE_PORT: &str = "--metrics-base-port";
    pub const WAVE_LENGTH: &str = "--wave-length";
    pub const LEADERS: &str = "--leaders";
    pub const LEADER_TIMEOUT_MS: &str = "--leader-timeout-ms";
    pub const NO_LEADER_WAIT: &str = "--no-leader-wait";
    pub const REGIONS: &str = "--regions";
    /// Node parameters a test plants a throughput ceiling with.
    pub const MAX_BLOCK_BYTES: &str = "--max-block-bytes";
    pub const MIN_ROUND_DELAY_MS: &str = "--min-round-delay-ms";
    /// Every flag above, for the drift test.
    pub const FLAGS: [&str; 11] = [
        IPS,
        WORKING_DIRECTORY,
        BASE_PORT,
        METRICS_BASE_PORT,
        WAVE_LENGTH,
        LEADERS,
        LEADER_TIMEOUT_MS,
        NO_LEADER_WAIT,
        REGIONS,
        MAX_BLOCK_BYTES,
        MIN_ROUND_DELAY_MS,
    ];
}

/// The command line of `node genesis` for validators at `ips` (one per validator), writing
/// into `directory`; `regions` (one per validator) when the run emulates geo latency.
pub fn genesis_args(
    ips: &[String],
    directory: &str,
    (base_port, metrics_base_port): (u16, u16),
    protocol: &Protocol,
    regions: Option<Vec<String>>,
) -> Vec<String> {
    use genesis::*;
    let mut args = vec![COMMAND.to_string(), IPS.into()];
    args.extend(ips.iter().cloned());
    args.extend([
        WORKING_DIRECTORY.into(),
        directory.into(),
        BASE_PORT.into(),
        base_port.to_string(),
        METRICS_BASE_PORT.into(),
        metrics_base_port.to_string(),
        WAVE_LENGTH.into(),
        protocol.wave_length.to_string(),
        LEADERS.into(),
        protocol.leaders.to_string(),
        LEADER_TIMEOUT_MS.into(),
        protocol.leader_timeout_ms.to_string(),
    ]);
    if !protocol.leader_wait {
        args.push(NO_LEADER_WAIT.into());
    }
    if let Some(regions) = regions {
        args.push(REGIONS.into());
        args.extend(regions);
    }
    args
}

/// `node run`: one validator.
pub mod run {
    pub const COMMAND: &str = "run";
    pub const AUTHORITY: &str = "--authority";
    pub const COMMITTEE: &str = "--committee";
    pub const PARAMETERS: &str = "--parameters";
    pub const PRIVATE: &str = "--private";
    pub const STORAGE: &str = "--storage";
    pub const LOAD: &str = "--load";
    pub const TRANSACTION_SIZE: &str = "--transaction-size";
    pub const COMMIT_LOG: &str = "--commit-log";
    pub const PLANT_FORK_AT: &str = "--plant-fork-at";
    pub const LATENCY_MATRIX: &str = "--latency-matrix";
    pub const BYZANTINE: &str = "--byzantine";
    pub const ALLOW_BYZANTINE: &str = "--allow-byzantine";
    /// Listen on every interface, not only the committee's address (hosts behind NAT).
    pub const BIND_ALL: &str = "--bind-all";
    /// Every flag above, for the drift test.
    pub const FLAGS: [&str; 13] = [
        AUTHORITY,
        COMMITTEE,
        PARAMETERS,
        PRIVATE,
        STORAGE,
        LOAD,
        TRANSACTION_SIZE,
        COMMIT_LOG,
        PLANT_FORK_AT,
        LATENCY_MATRIX,
        BYZANTINE,
        ALLOW_BYZANTINE,
        BIND_ALL,
    ];
}

/// Flags of `node run` passed through to every validator with the value the experiment gives,
/// in the node's syntax (the command line checks what the orchestrator reasons about). A new
/// one is a variant here with its name in [`NodeFlag::name`] and in [`NodeFlag::ALL`] (the
/// drift test's list), and a flag of the command line that gives it a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NodeFlag {
    /// A built-in network profile's name or a profile file.
    NetworkProfile,
    /// The validator's egress cap in Mbit/s.
    EgressMbps,
    /// A scheduled partition (repeatable).
    Partition,
    /// A slow validator (repeatable).
    Slow,
    /// A flapping link (repeatable).
    Flap,
    /// The Unix time in ms the fault windows count from: the end of the warm-up.
    FaultEpoch,
}

impl NodeFlag {
    /// Every pass-through flag, for the drift test.
    pub const ALL: [Self; 6] = [
        Self::NetworkProfile,
        Self::EgressMbps,
        Self::Partition,
        Self::Slow,
        Self::Flap,
        Self::FaultEpoch,
    ];

    /// The flag as the node spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::NetworkProfile => "--network-profile",
            Self::EgressMbps => "--egress-mbps",
            Self::Partition => "--partition",
            Self::Slow => "--slow",
            Self::Flap => "--flap",
            Self::FaultEpoch => "--fault-epoch",
        }
    }
}

/// The value of a pass-through flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeValue {
    /// Passed as it is.
    Text(String),
    /// A file of the run's directory on the host, passed by its path there.
    RunFile(&'static str),
}

/// One pass-through flag with its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeArg {
    pub flag: NodeFlag,
    pub value: NodeValue,
}

impl NodeArg {
    /// `flag` with the text `value`.
    pub fn text(flag: NodeFlag, value: impl ToString) -> Self {
        Self {
            flag,
            value: NodeValue::Text(value.to_string()),
        }
    }

    /// The flag and its value on the command line of a run whose files are in `dir`.
    fn args(&self, dir: &str) -> [String; 2] {
        let value = match &self.value {
            NodeValue::Text(text) => text.clone(),
            NodeValue::RunFile(file) => format!("{dir}/{file}"),
        };
        [self.flag.name().to_string(), value]
    }
}

/// `node sim`: a committee simulated under virtual time (the sim testbed's points).
pub mod sim {
    pub const COMMAND: &str = "sim";
    pub const COMMITTEE: &str = "--committee";
    pub const SEED: &str = "--seed";
    pub const LATENCY_MATRIX: &str = "--latency-matrix";
    pub const LOAD: &str = "--load";
    pub const TX_SIZE: &str = "--tx-size";
    pub const WARMUP: &str = "--warmup";
    pub const DURATION: &str = "--duration";
    pub const BANDWIDTH: &str = "--bandwidth";
    pub const BYZANTINE: &str = "--byzantine";
    pub const BEHAVIOUR: &str = "--behaviour";
    pub const CRASH: &str = "--crash";
    pub const PARTITION: &str = "--partition";
    pub const SNAPSHOT_INTERVAL: &str = "--snapshot-interval";
    pub const OUT: &str = "--out";
    /// Every flag above, for the drift test.
    pub const FLAGS: [&str; 14] = [
        COMMITTEE,
        SEED,
        LATENCY_MATRIX,
        LOAD,
        TX_SIZE,
        WARMUP,
        DURATION,
        BANDWIDTH,
        BYZANTINE,
        BEHAVIOUR,
        CRASH,
        PARTITION,
        SNAPSHOT_INTERVAL,
        OUT,
    ];
}

/// `node explore`: simulations under adversarial schedules, checked for safety and liveness.
pub mod explore {
    pub const COMMAND: &str = "explore";
    pub const RUNS: &str = "--runs";
    pub const COMMITTEE: &str = "--committee";
    pub const BYZANTINE: &str = "--byzantine";
    pub const BEHAVIOUR: &str = "--behaviour";
    pub const SEED: &str = "--seed";
    pub const DURATION: &str = "--duration";
    pub const JOBS: &str = "--jobs";
    pub const REPLAY: &str = "--replay";
    pub const OUT: &str = "--out";
    /// Every flag above, for the drift test.
    pub const FLAGS: [&str; 9] = [
        RUNS, COMMITTEE, BYZANTINE, BEHAVIOUR, SEED, DURATION, JOBS, REPLAY, OUT,
    ];
    /// Hidden switch of the explorer's tests (no value; exercised by `tests/sim_bench.rs`).
    pub const PLANT_UNSAFE_RULE: &str = "--plant-unsafe-rule";
    /// How `node explore` starts the line naming a violation's run seed.
    pub const VIOLATION: &str = "violation in run seed ";
    /// How it starts the line with its own replay command.
    pub const REPLAY_LINE: &str = "replay: node explore";
}

/// How one validator is run (and started by the deployment).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunOptions {
    /// Validator index in the committee.
    pub validator: usize,
    /// Load generator rate in tx/s (0: none).
    pub load: u64,
    /// Transaction size in bytes.
    pub transaction_size: usize,
    /// Whether the run emulates geo latency with [`files::LATENCY_FILE`].
    pub latency_matrix: bool,
    /// Tests of the safety audit: the commit index from which its committed sequence forks.
    pub plant_fork_at: Option<u64>,
    /// A Byzantine behaviour (the node refuses it without `--allow-byzantine`).
    pub byzantine: Option<Behaviour>,
    /// Flags every validator gets as the experiment gives them (network emulation).
    pub pass_through: Vec<NodeArg>,
}

/// From which commit index a validator started with `--plant-fork` forks.
pub const PLANTED_FORK_AT: u64 = 20;

/// The command line of `node run`, with the run's files in directory `dir` on the host.
pub fn run_args(options: &RunOptions, dir: &str) -> Vec<String> {
    use files::*;
    use run::*;
    let i = options.validator;
    let mut args = vec![
        COMMAND.to_string(),
        AUTHORITY.into(),
        i.to_string(),
        COMMITTEE.into(),
        format!("{dir}/{COMMITTEE_FILE}"),
        PARAMETERS.into(),
        format!("{dir}/{PARAMETERS_FILE}"),
        PRIVATE.into(),
        format!("{dir}/{}", private_key_file(i)),
        STORAGE.into(),
        format!("{dir}/{}", storage_dir(i)),
        LOAD.into(),
        options.load.to_string(),
        TRANSACTION_SIZE.into(),
        options.transaction_size.to_string(),
        COMMIT_LOG.into(),
        format!("{dir}/{}", commit_log_file(i)),
    ];
    if let Some(index) = options.plant_fork_at {
        args.extend([PLANT_FORK_AT.into(), index.to_string()]);
    }
    if options.latency_matrix {
        args.extend([LATENCY_MATRIX.into(), format!("{dir}/{LATENCY_FILE}")]);
    }
    if let Some(behaviour) = options.byzantine {
        args.extend([
            BYZANTINE.into(),
            behaviour.to_string(),
            ALLOW_BYZANTINE.into(),
        ]);
    }
    for arg in &options.pass_through {
        args.extend(arg.args(dir));
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pass-through reaches the command line as given, files by their path in the run's
    /// directory, after the flags the orchestrator sets itself.
    #[test]
    fn pass_through_flags_follow_the_validators_own() {
        let options = RunOptions {
            validator: 2,
            load: 2500,
            transaction_size: 512,
            pass_through: vec![
                NodeArg {
                    flag: NodeFlag::NetworkProfile,
                    value: NodeValue::RunFile(files::NETWORK_PROFILE_FILE),
                },
                NodeArg::text(NodeFlag::EgressMbps, 100),
                NodeArg::text(NodeFlag::Partition, "0,1,2/3@2s+3s"),
                NodeArg::text(NodeFlag::Partition, "0/1@5s+1s"),
                NodeArg::text(NodeFlag::FaultEpoch, 1_765_000_000_000u64),
            ],
            ..RunOptions::default()
        };
        let args = run_args(&options, "/w");
        let tail: Vec<&str> = args[args.len() - 10..].iter().map(String::as_str).collect();
        assert_eq!(
            tail,
            [
                "--network-profile",
                "/w/network-profile.json",
                "--egress-mbps",
                "100",
                "--partition",
                "0,1,2/3@2s+3s",
                "--partition",
                "0/1@5s+1s",
                "--fault-epoch",
                "1765000000000",
            ]
        );
        assert_eq!(&args[..3], ["run", "--authority", "2"]);
        let plain = run_args(
            &RunOptions {
                pass_through: Vec::new(),
                ..options
            },
            "/w",
        );
        assert_eq!(plain.len(), args.len() - 10);
    }
}
