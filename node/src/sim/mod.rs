//! The simulated testbed: a whole committee of the node's real code ([`Core`] with its WAL,
//! the load generator's transactions, the commit observer's accounting) in one thread,
//! under virtual time. Only the clock and the network are simulated: one event queue
//! ordered by (virtual time, sequence number) drives every validator, tokio's paused clock
//! is what the cores read as `Instant::now()`, and [`crate::world`] gives them a virtual
//! Unix clock and a seeded generator. Nothing depends on wall time, thread scheduling or
//! hash-map order, so one seed gives one run.

pub mod cli;
mod engine;
pub mod explore;
pub mod faults;
mod net;
mod node;
mod queue;
pub mod report;
mod verified;

use std::{path::PathBuf, time::Duration};

use crate::{byzantine::Behaviour, committee::AuthorityIndex, parameters::Parameters};

pub use engine::run;
pub use node::CommitEntry;

/// One-way delay between validators without a latency matrix (loopback plus the kernel).
pub const DEFAULT_DELAY: Duration = Duration::from_micros(500);

/// Default per-link bandwidth: 1 Gbit/s.
pub const DEFAULT_BANDWIDTH_BPS: u64 = 1_000_000_000;

/// Default jitter: up to this fraction of a link's delay, plus [`DEFAULT_EXTRA_JITTER`].
pub const DEFAULT_JITTER_FRACTION: f64 = 0.05;

/// Default jitter independent of the delay.
pub const DEFAULT_EXTRA_JITTER: Duration = Duration::from_micros(200);

/// Virtual interval between two snapshots of every validator's metrics.
pub const DEFAULT_SNAPSHOT_INTERVAL: Duration = Duration::from_secs(1);

/// The Unix time (microseconds) virtual time starts at: 2026-01-01 00:00 UTC.
pub const VIRTUAL_EPOCH_MICROS: u64 = 1_767_225_600_000_000;

/// Where the one-way delays between validators come from.
#[derive(Clone, Debug)]
pub enum Latency {
    /// The same delay between every two validators.
    Uniform(Duration),
    /// A region matrix, validators placed on its regions in turn (as `cargo xtask` places
    /// them for the geo emulation); needs `regions`.
    Matrix(crate::network::LatencyMatrix),
    /// `delays[a][b]` for every ordered pair (the explorer's random links).
    Links(Vec<Vec<Duration>>),
}

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Validators.
    pub committee: usize,
    /// The seed of everything random: keys, jitter, loss, the cores' retries.
    pub seed: u64,
    /// One-way delays between validators.
    pub latency: Latency,
    /// Region of each validator (from the latency matrix), for the records.
    pub regions: Option<Vec<String>>,
    /// Name of the latency matrix (for the records).
    pub matrix: Option<String>,
    /// Offered load in tx/s, shared by the honest validators.
    pub load: u64,
    /// Transaction size in bytes.
    pub transaction_size: usize,
    /// Warm-up before the measured window.
    pub warmup: Duration,
    /// Measured window.
    pub duration: Duration,
    /// Per-link bandwidth in bits per second.
    pub bandwidth_bps: u64,
    /// Jitter: up to this fraction of a link's delay...
    pub jitter_fraction: f64,
    /// ...plus up to this.
    pub extra_jitter: Duration,
    /// Byzantine validators: the highest indices that do not crash.
    pub byzantine: Vec<AuthorityIndex>,
    /// Their behaviour.
    pub behaviour: Option<Behaviour>,
    /// Crashes.
    pub crashes: Vec<faults::Crash>,
    /// Partitions.
    pub partitions: Vec<faults::Partition>,
    /// Lossy links.
    pub losses: Vec<faults::Loss>,
    /// Slow links.
    pub slow: Vec<faults::SlowLink>,
    /// Where to write the outputs (None: in memory only, as the explorer runs).
    pub out: Option<PathBuf>,
    /// Virtual interval between metrics snapshots.
    pub snapshot_interval: Duration,
    /// The explorer's test-only unsafe commit rule.
    pub unsafe_rule: bool,
    /// The validators' parameters.
    pub parameters: Parameters,
}

impl SimConfig {
    /// The total simulated time.
    pub fn total(&self) -> Duration {
        self.warmup + self.duration
    }

    /// Whether `v` is Byzantine.
    pub fn is_byzantine(&self, v: AuthorityIndex) -> bool {
        self.byzantine.contains(&v)
    }
}

/// The parameters the simulator runs validators with: the defaults, except that the WAL is
/// fsynced only when a segment is full (crashes here are process crashes) and keeps less on
/// disk (many validators share one disk).
pub fn parameters() -> Parameters {
    Parameters {
        wal_sync: crate::parameters::WalSync::Never,
        wal_segment_bytes: 16 * 1024 * 1024,
        wal_retention_bytes: 64 * 1024 * 1024,
        ..Parameters::default()
    }
}
