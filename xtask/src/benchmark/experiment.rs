//! The experiment a benchmark runs (committee, faults, Byzantine validators, loads and
//! repetitions, protocol parameters, timing, latency matrix), validated before anything starts.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::cli::BenchArgs;

/// How faulty validators fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultMode {
    /// No faults.
    None,
    /// Crashed from the start, never started.
    Permanent,
    /// Killed and restarted from their write-ahead log on a schedule.
    CrashRecovery,
}

impl std::fmt::Display for FaultMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::Permanent => "permanent",
            Self::CrashRecovery => "crash-recovery",
        })
    }
}

/// What Byzantine validators do: the node's `node run --byzantine MODE` (see its README).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
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

impl std::fmt::Display for Behaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Equivocate => "equivocate",
            Self::Withhold => "withhold",
            Self::Spam => "spam",
            Self::SilentLeader => "silent-leader",
            Self::LateLeader => "late-leader",
            Self::SplitVote => "split-vote",
        })
    }
}

pub use crate::protocol::Protocol;

/// A latency matrix: one-way delays in milliseconds between regions.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyMatrix {
    /// The CSV file.
    pub path: PathBuf,
    /// Short name for results (the preset or file stem).
    pub name: String,
    /// Its regions, in file order.
    pub regions: Vec<String>,
}

impl LatencyMatrix {
    /// Loads a preset from `assets/latency/<name>.csv` or a CSV file path.
    pub fn resolve(spec: &str, assets: &Path) -> Result<Self> {
        let preset = assets.join("latency").join(format!("{spec}.csv"));
        let path = if preset.is_file() {
            preset
        } else {
            PathBuf::from(spec)
        };
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "--latency-matrix {spec}: neither a preset in {} nor a readable file",
                assets.join("latency").display()
            )
        })?;
        let regions = Self::parse_regions(&text)
            .with_context(|| format!("--latency-matrix: {} is malformed", path.display()))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| spec.to_string());
        Ok(Self {
            path,
            name,
            regions,
        })
    }

    /// Checks the matrix is square, numeric and non-negative; returns its regions.
    fn parse_regions(text: &str) -> Result<Vec<String>> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(text.as_bytes());
        let header = reader.headers().context("no header row")?.clone();
        let regions: Vec<String> = header.iter().skip(1).map(str::to_string).collect();
        if regions.is_empty() {
            bail!("the header row names no region");
        }
        let mut rows = 0;
        for (i, record) in reader.records().enumerate() {
            let record = record.with_context(|| format!("row {}", i + 2))?;
            let region = record.get(0).unwrap_or_default();
            if regions.get(i).map(String::as_str) != Some(region) {
                bail!(
                    "row {} is region {region:?}, expected {:?} (rows must follow the header's order)",
                    i + 2,
                    regions.get(i)
                );
            }
            for (j, cell) in record.iter().skip(1).enumerate() {
                let ms: f64 = cell.trim().parse().with_context(|| {
                    format!("delay {region} -> {} is not a number: {cell:?}", regions[j])
                })?;
                if !(0.0..=10_000.0).contains(&ms) {
                    bail!("delay {region} -> {} = {ms} ms is out of range", regions[j]);
                }
            }
            if record.len() != regions.len() + 1 {
                bail!(
                    "row {} has {} delays, expected {}",
                    i + 2,
                    record.len() - 1,
                    regions.len()
                );
            }
            rows += 1;
        }
        if rows != regions.len() {
            bail!(
                "{} rows for {} regions: the matrix must be square",
                rows,
                regions.len()
            );
        }
        Ok(regions)
    }

    /// The region of validator `i` (assigned round-robin).
    pub fn region_of(&self, validator: usize) -> &str {
        &self.regions[validator % self.regions.len()]
    }
}

/// A validated experiment: what `bench` (and each side of `compare --base`) runs.
#[derive(Clone, Debug)]
pub struct Experiment {
    pub committee: usize,
    pub faults: usize,
    pub fault_mode: FaultMode,
    pub crash_interval_s: u64,
    /// Seconds a crashed validator stays down (crash-recovery).
    pub down_time_s: u64,
    pub loads: Vec<u64>,
    pub repeat: usize,
    pub transaction_size: usize,
    pub warmup_s: u64,
    pub duration_s: u64,
    pub scrape_interval_s: f64,
    pub protocol: Protocol,
    pub latency_matrix: Option<LatencyMatrix>,
    /// Tests of the safety audit: a validator whose committed sequence forks.
    pub plant_fork: Option<usize>,
    /// Byzantine validators (just below the crashed ones by index) and what they do.
    pub byzantine: usize,
    pub behaviour: Option<Behaviour>,
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
        let byzantine = match experiment.behaviour {
            Some(b) if experiment.byzantine > 0 => format!("-b{}-{b}", experiment.byzantine),
            _ => String::new(),
        };
        format!(
            "n{}-f{}{byzantine}-load{}-r{}",
            experiment.committee, experiment.faults, self.load, self.repeat
        )
    }
}

impl Experiment {
    /// Validates the command line.
    pub fn from_args(args: &BenchArgs, assets: &Path) -> Result<Self> {
        if args.committee == 0 {
            bail!("--committee must be at least 1");
        }
        if 3 * args.faults + 1 > args.committee {
            bail!(
                "--committee {} cannot tolerate --faults {}: BFT needs at least 3f+1 = {} validators",
                args.committee,
                args.faults,
                3 * args.faults + 1
            );
        }
        match (args.byzantine, args.behaviour) {
            (0, Some(b)) => bail!("--behaviour {b} needs --byzantine K > 0 validators"),
            (k, None) if k > 0 => bail!(
                "--byzantine {k} needs --behaviour MODE (equivocate, withhold, spam, silent-leader, late-leader or split-vote)"
            ),
            _ => {}
        }
        let faulty = args.faults + args.byzantine;
        if args.byzantine > 0 && 3 * faulty + 1 > args.committee {
            bail!(
                "--committee {} cannot tolerate --faults {} plus --byzantine {}: BFT needs at \
                 least 3f+1 = {} validators for f = {faulty} faulty ones",
                args.committee,
                args.faults,
                args.byzantine,
                3 * faulty + 1
            );
        }
        if args.loads.is_empty() {
            bail!("--loads needs at least one load");
        }
        if let Some(zero) = args.loads.iter().find(|l| **l == 0) {
            bail!("--loads: a load of {zero} tx/s measures nothing; give loads above 0");
        }
        if args.repeat == 0 {
            bail!("--repeat must be at least 1");
        }
        if args.transaction_size < 16 {
            bail!(
                "--transaction-size {} is too small: a transaction carries a 16-byte timestamp and counter",
                args.transaction_size
            );
        }
        if args.duration == 0 {
            bail!("--duration must be at least 1 second");
        }
        if !(args.scrape_interval >= 0.1 && args.scrape_interval <= args.duration as f64) {
            bail!(
                "--scrape-interval {} must be between 0.1 s and --duration ({} s)",
                args.scrape_interval,
                args.duration
            );
        }
        if args.crash_recovery && args.faults == 0 {
            bail!("--crash-recovery needs --faults F > 0 validators to crash");
        }
        if args.crash_recovery && args.crash_interval == 0 {
            bail!("--crash-interval must be at least 1 second");
        }
        match args.down_time {
            Some(_) if !args.crash_recovery => {
                bail!("--down-time needs --crash-recovery (validators that come back)")
            }
            Some(0) => bail!("--down-time must be at least 1 second"),
            _ => {}
        }
        if args.wave_length < 3 {
            bail!(
                "--wave-length {} is below 3 (propose, vote, certify)",
                args.wave_length
            );
        }
        if args.leaders == 0 || args.leaders as usize > args.committee {
            bail!(
                "--leaders {} must be between 1 and the committee size {}",
                args.leaders,
                args.committee
            );
        }
        let latency_matrix = args
            .latency_matrix
            .as_deref()
            .map(|spec| LatencyMatrix::resolve(spec, assets))
            .transpose()?;
        if let Some(v) = args.plant_fork.filter(|&v| v >= args.committee) {
            bail!(
                "--plant-fork {v} is not a validator of a committee of {}",
                args.committee
            );
        }
        let fault_mode = match (args.faults, args.crash_recovery) {
            (0, _) => FaultMode::None,
            (_, false) => FaultMode::Permanent,
            (_, true) => FaultMode::CrashRecovery,
        };
        Ok(Self {
            committee: args.committee,
            faults: args.faults,
            fault_mode,
            crash_interval_s: args.crash_interval,
            down_time_s: args.down_time.unwrap_or(args.crash_interval),
            loads: args.loads.clone(),
            repeat: args.repeat,
            transaction_size: args.transaction_size,
            warmup_s: args.warmup,
            duration_s: args.duration,
            scrape_interval_s: args.scrape_interval,
            protocol: Protocol {
                wave_length: args.wave_length,
                leaders: args.leaders,
                leader_wait: !args.no_leader_wait,
                leader_timeout_ms: args.leader_timeout_ms,
            },
            latency_matrix,
            plant_fork: args.plant_fork,
            byzantine: args.byzantine,
            behaviour: args.behaviour.filter(|_| args.byzantine > 0),
        })
    }

    /// Every run of the sweep, in order.
    pub fn points(&self) -> Vec<Point> {
        self.loads
            .iter()
            .flat_map(|&load| (0..self.repeat).map(move |repeat| Point { load, repeat }))
            .collect()
    }

    /// Validators that fail (the last `faults` indices).
    pub fn is_faulty(&self, validator: usize) -> bool {
        validator >= self.committee - self.faults
    }

    /// Byzantine validators: the `byzantine` indices just below the crashed ones.
    pub fn is_byzantine(&self, validator: usize) -> bool {
        let below = self.committee - self.faults;
        validator < below && validator >= below - self.byzantine
    }

    /// The behaviour of a validator, if it is Byzantine.
    pub fn behaviour_of(&self, validator: usize) -> Option<Behaviour> {
        self.behaviour.filter(|_| self.is_byzantine(validator))
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
            .filter(|&i| self.fault_mode != FaultMode::Permanent || !self.is_faulty(i))
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

#[cfg(test)]
mod tests;
