//! The experiment: the typed description of what a benchmark runs. The command line (`cli`)
//! validates its arguments into an [`Experiment`] (and a [`Bench`] around it); the benchmark,
//! the deployment and the results read only this model, which imports nothing above it.
//!
//! Its parts: the committee and where each validator runs ([`host_index`]); the offered loads,
//! repeats and transaction size; the [`Faults`] (none, crashed from the start, crash-recovery
//! with its interval and down time); the [`Byzantine`] validators and their [`Behaviour`]; the
//! [`Network`] conditions; the node's [`Protocol`] parameters and the timing.

mod latency_matrix;
mod network;

use serde::{Deserialize, Serialize};

pub use crate::protocol::{Behaviour, Protocol};
pub use latency_matrix::LatencyMatrix;
pub use network::{
    FaultWindow, Network, NetworkFault, NetworkFaultKind, NetworkProfile, ProfileSource,
};

/// The host a validator runs on: validator `i` on host `i mod hosts` (and, with a latency
/// matrix or a network profile, in region `i mod regions`). The one placement rule of every testbed.
pub fn host_index(validator: usize, hosts: usize) -> usize {
    validator % hosts.max(1)
}

/// How faulty validators fail, as the results name it (`fault_mode`).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum FaultMode {
    /// No faults.
    #[default]
    None,
    /// Crashed from the start, never started.
    Permanent,
    /// Killed and restarted from their write-ahead log on a schedule.
    CrashRecovery,
}

crate::value_name::display_as_value_name!(FaultMode);

/// The faulty validators (the last indices of the committee) and how they fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Faults {
    /// Every validator runs throughout.
    None,
    /// `validators` never start.
    Crash { validators: usize },
    /// `validators` are killed after `interval_s` up and restarted from their write-ahead log
    /// after `down_time_s` down, in turn.
    CrashRecovery {
        validators: usize,
        interval_s: u64,
        down_time_s: u64,
    },
}

impl Faults {
    /// How many validators fail.
    pub fn count(&self) -> usize {
        match *self {
            Self::None => 0,
            Self::Crash { validators } | Self::CrashRecovery { validators, .. } => validators,
        }
    }

    /// The mode the results record.
    pub fn mode(&self) -> FaultMode {
        match self {
            Self::None => FaultMode::None,
            Self::Crash { .. } => FaultMode::Permanent,
            Self::CrashRecovery { .. } => FaultMode::CrashRecovery,
        }
    }
}

/// Byzantine validators: how many (just below the crashed ones by index) and what they do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Byzantine {
    pub validators: usize,
    pub behaviour: Behaviour,
}

/// A validated experiment: what `bench` (and each side of `compare --base`) runs.
#[derive(Clone, Debug)]
pub struct Experiment {
    pub committee: usize,
    pub faults: Faults,
    pub byzantine: Option<Byzantine>,
    pub loads: Vec<u64>,
    pub repeat: usize,
    pub transaction_size: usize,
    pub warmup_s: u64,
    pub duration_s: u64,
    pub scrape_interval_s: f64,
    pub protocol: Protocol,
    pub network: Network,
    /// Tests of the safety audit: a validator whose committed sequence forks.
    pub plant_fork: Option<usize>,
    /// Tests of the saturation search: node parameters that cap the throughput.
    pub planted_ceiling: PlantedCeiling,
}

/// Node parameters a test sets to plant a throughput ceiling (`node genesis` flags); none by
/// default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlantedCeiling {
    /// Cap on each block's transaction payload.
    pub max_block_bytes: Option<usize>,
    /// Least time between two own proposals.
    pub min_round_delay_ms: Option<u64>,
}

/// What one `bench` is asked for: the experiment, the run's name and how the hosts are
/// prepared.
#[derive(Clone, Debug)]
pub struct Bench {
    pub experiment: Experiment,
    /// The run directory's name (default: date and time).
    pub run_id: Option<String>,
    /// Find the saturation point instead of running the sweep of `loads`.
    pub saturation: Option<crate::saturation::Search>,
    pub hosts: HostPreparation,
}

/// How a remote testbed's hosts are prepared before the first point.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostPreparation {
    /// Send nothing; check that every host has the binary built from the settings' code.
    pub skip_update: bool,
    /// Skip the host set-up (commands check, removal of what earlier runs left).
    pub skip_configure: bool,
    /// Refuse at once when another command holds the testbed's lock.
    pub no_wait: bool,
}

/// One run of a benchmark: a load and a repetition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Point {
    pub load: u64,
    pub repeat: usize,
}

impl Point {
    /// Directory name of this point inside the run directory.
    pub fn name(&self, experiment: &Experiment) -> String {
        let byzantine = match experiment.byzantine {
            Some(b) => format!("-b{}-{}", b.validators, b.behaviour),
            None => String::new(),
        };
        format!(
            "n{}-f{}{byzantine}-load{}-r{}",
            experiment.committee,
            experiment.faults.count(),
            self.load,
            self.repeat
        )
    }
}

impl Experiment {
    /// Every run of the sweep, in order.
    pub fn points(&self) -> Vec<Point> {
        self.loads
            .iter()
            .flat_map(|&load| (0..self.repeat).map(move |repeat| Point { load, repeat }))
            .collect()
    }

    /// Validators that fail (the last `faults` indices).
    pub fn is_faulty(&self, validator: usize) -> bool {
        validator >= self.committee - self.faults.count()
    }

    /// Byzantine validators: the `byzantine` indices just below the crashed ones.
    pub fn is_byzantine(&self, validator: usize) -> bool {
        let below = self.committee - self.faults.count();
        let count = self.byzantine.map_or(0, |b| b.validators);
        validator < below && validator >= below - count
    }

    /// The behaviour of a validator, if it is Byzantine.
    pub fn behaviour_of(&self, validator: usize) -> Option<Behaviour> {
        self.byzantine
            .map(|b| b.behaviour)
            .filter(|_| self.is_byzantine(validator))
    }

    /// The Byzantine validators, for the results (`5;6`).
    pub fn byzantine_validators(&self) -> String {
        (0..self.committee)
            .filter(|&i| self.is_byzantine(i))
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(";")
    }

    /// Validators started at the beginning of a run.
    pub fn started_validators(&self) -> Vec<usize> {
        (0..self.committee)
            .filter(|&i| self.faults.mode() != FaultMode::Permanent || !self.is_faulty(i))
            .collect()
    }

    /// Load of each validator's generator, in tx/s, so that the started honest ones offer
    /// `load` together (a permanently crashed or a Byzantine validator's share goes to the
    /// others: clients would not rely on them).
    pub fn load_per_validator(&self, load: u64) -> Vec<u64> {
        let started: Vec<usize> = self
            .started_validators()
            .into_iter()
            .filter(|&i| !self.is_byzantine(i))
            .collect();
        let share = load / started.len() as u64;
        let extra = (load % started.len() as u64) as usize;
        (0..self.committee)
            .map(|i| match started.iter().position(|&s| s == i) {
                Some(rank) => share + u64::from(rank < extra),
                None => 0,
            })
            .collect()
    }

    /// Total seconds of load in one run.
    pub fn run_seconds(&self) -> u64 {
        self.warmup_s + self.duration_s
    }
}
