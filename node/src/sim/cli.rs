//! `node sim` and `node explore`: their flags, the checks of what they are given, and the
//! configuration they run.

use std::{path::PathBuf, time::Duration};

use anyhow::{bail, Context, Result};
use clap::Parser;

use super::{
    faults::{Crash, Loss, Partition},
    Latency, SimConfig, DEFAULT_BANDWIDTH_BPS, DEFAULT_DELAY, DEFAULT_EXTRA_JITTER,
    DEFAULT_JITTER_FRACTION, DEFAULT_SNAPSHOT_INTERVAL,
};
use crate::{
    byzantine::Behaviour, committee::AuthorityIndex, network::LatencyMatrix,
    transactions::MIN_TRANSACTION_SIZE,
};

/// `node sim`: one simulated run.
#[derive(Parser, Debug)]
pub struct SimArgs {
    /// Validators in the committee.
    #[arg(long, default_value_t = 4)]
    pub committee: usize,
    /// Seed of everything random (keys, jitter, loss, retries): one seed, one run.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// CSV of one-way delays between regions (as `node run --latency-matrix`); validators
    /// are placed on its regions in turn. Without it every link takes 0.5 ms.
    #[arg(long, value_name = "FILE")]
    pub latency_matrix: Option<PathBuf>,
    /// Offered load in transactions per second, shared by the honest validators.
    #[arg(long, default_value_t = 10_000)]
    pub load: u64,
    /// Transaction size in bytes.
    #[arg(long, default_value_t = 512)]
    pub tx_size: usize,
    /// Warm-up before the measured window, in virtual seconds.
    #[arg(long, default_value_t = 5.0)]
    pub warmup: f64,
    /// Measured window, in virtual seconds.
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,
    /// Bandwidth of every link, in Mbit/s.
    #[arg(long, default_value_t = (DEFAULT_BANDWIDTH_BPS / 1_000_000) as f64)]
    pub bandwidth: f64,
    /// Byzantine validators (the highest indices that do not crash).
    #[arg(long, default_value_t = 0)]
    pub byzantine: usize,
    /// What the Byzantine validators do (equivocate, withhold, spam, silent-leader,
    /// late-leader, split-vote).
    #[arg(long, value_name = "MODE")]
    pub behaviour: Option<Behaviour>,
    /// A crash: `I@T` (validator I crashes at T seconds, for good) or `I@T+DOWN` (restarts
    /// from its WAL DOWN seconds later). Repeatable.
    #[arg(long, value_name = "SPEC")]
    pub crash: Vec<Crash>,
    /// A partition: `I,J,...@T1-T2` cuts these validators off from the others from T1 to
    /// T2 seconds; messages are held and arrive after the heal, in order. Repeatable.
    #[arg(long, value_name = "SPEC")]
    pub partition: Vec<Partition>,
    /// Loss on a link: `A-B@FRACTION` drops that fraction of the messages between A and B,
    /// both ways. Repeatable.
    #[arg(long, value_name = "SPEC")]
    pub loss: Vec<Loss>,
    /// Virtual seconds between two snapshots of every validator's metrics.
    #[arg(long, default_value_t = DEFAULT_SNAPSHOT_INTERVAL.as_secs_f64())]
    pub snapshot_interval: f64,
    /// Output directory: summary.json, validators.csv and, per validator, commits.csv and
    /// metrics/MILLIS.prom.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

fn seconds(value: f64, flag: &str) -> Result<Duration> {
    if !(0.0..=1e6).contains(&value) {
        bail!("{flag} must be between 0 and 1000000 seconds (got {value})");
    }
    Ok(Duration::from_secs_f64(value))
}

/// f: the most faulty validators a committee of `n` tolerates.
pub fn max_faulty(n: usize) -> usize {
    n.saturating_sub(1) / 3
}

/// The `k` highest indices that are not in `crashed`.
pub fn byzantine_indices(n: usize, k: usize, crashed: &[AuthorityIndex]) -> Vec<AuthorityIndex> {
    (0..n as AuthorityIndex)
        .rev()
        .filter(|v| !crashed.contains(v))
        .take(k)
        .collect()
}

/// Checks what a run is given; names the flag and the limit.
pub fn check(config: &SimConfig) -> Result<()> {
    let n = config.committee;
    if n == 0 {
        bail!("--committee must be at least 1");
    }
    let exists = |v: AuthorityIndex, flag: &str| -> Result<()> {
        if v as usize >= n {
            bail!(
                "{flag} names validator {v}, but the committee has {n} (indices 0 to {})",
                n - 1
            );
        }
        Ok(())
    };
    for c in &config.crashes {
        exists(c.validator, "--crash")?;
    }
    for p in &config.partitions {
        for v in &p.side {
            exists(*v, "--partition")?;
        }
    }
    for l in &config.losses {
        exists(l.a, "--loss")?;
        exists(l.b, "--loss")?;
    }
    if config.byzantine.is_empty() != config.behaviour.is_none() {
        bail!("--byzantine K and --behaviour MODE go together");
    }
    let mut faulty: Vec<AuthorityIndex> = config.crashes.iter().map(|c| c.validator).collect();
    faulty.extend(&config.byzantine);
    faulty.sort_unstable();
    faulty.dedup();
    let f = max_faulty(n);
    if faulty.len() > f {
        bail!(
            "{} crashed plus {} Byzantine validators are {} faulty ones; a committee of {n} \
             tolerates f = {f}: use fewer, or a larger --committee",
            config.crashes.len(),
            config.byzantine.len(),
            faulty.len()
        );
    }
    if config.load > 0 && config.transaction_size < MIN_TRANSACTION_SIZE {
        bail!("--tx-size must be at least {MIN_TRANSACTION_SIZE} bytes");
    }
    config.parameters.validate()
}

impl SimArgs {
    /// The run these flags describe.
    pub fn config(&self) -> Result<SimConfig> {
        let crashed: Vec<AuthorityIndex> = self.crash.iter().map(|c| c.validator).collect();
        if self.byzantine > 0 && self.behaviour.is_none() {
            bail!("--byzantine {} needs --behaviour MODE", self.byzantine);
        }
        let (latency, regions, matrix) = match &self.latency_matrix {
            Some(path) => {
                let m = LatencyMatrix::load(path)?;
                let regions: Vec<String> = (0..self.committee)
                    .map(|i| m.regions()[i % m.regions().len()].clone())
                    .collect();
                let name = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| path.display().to_string());
                (Latency::Matrix(m), Some(regions), Some(name))
            }
            None => (Latency::Uniform(DEFAULT_DELAY), None, None),
        };
        if !(self.bandwidth > 0.0 && self.bandwidth.is_finite()) {
            bail!("--bandwidth must be a positive number of Mbit/s");
        }
        let config = SimConfig {
            committee: self.committee,
            seed: self.seed,
            latency,
            regions,
            matrix,
            load: self.load,
            transaction_size: self.tx_size,
            warmup: seconds(self.warmup, "--warmup")?,
            duration: seconds(self.duration, "--duration")?,
            bandwidth_bps: (self.bandwidth * 1e6) as u64,
            jitter_fraction: DEFAULT_JITTER_FRACTION,
            extra_jitter: DEFAULT_EXTRA_JITTER,
            byzantine: byzantine_indices(self.committee, self.byzantine, &crashed),
            behaviour: if self.byzantine > 0 {
                self.behaviour
            } else {
                None
            },
            crashes: self.crash.clone(),
            partitions: self.partition.clone(),
            losses: self.loss.clone(),
            slow: Vec::new(),
            out: Some(self.out.clone()),
            snapshot_interval: seconds(self.snapshot_interval, "--snapshot-interval")?,
            unsafe_rule: false,
            parameters: super::parameters(),
        };
        if self.byzantine > config.byzantine.len() {
            bail!(
                "--byzantine {} is more than the {} validators that do not crash",
                self.byzantine,
                config.byzantine.len()
            );
        }
        check(&config)?;
        Ok(config)
    }
}

/// Runs `node sim`: prints the summary, writes the outputs; fails if safety was violated.
pub fn sim(args: SimArgs) -> Result<()> {
    let config = args.config()?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the output directory {}", args.out.display()))?;
    let started = std::time::Instant::now();
    let outcome = super::run(config)?;
    let s = &outcome.summary;
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.0} ms", v * 1000.0));
    println!(
        "simulated {} validators, seed {}, {:.0} s + {:.0} s virtual: {:.0} tx/s committed, \
         p50 {}, p99 {}, commits {}..{}, safety {}",
        s.committee,
        s.seed,
        s.warmup_s,
        s.duration_s,
        s.committed_tx_per_s,
        ms(s.latency_p50_s),
        ms(s.latency_p99_s),
        s.commits_min,
        s.commits_max,
        s.safety
    );
    eprintln!(
        "wall time {:.1} s; outputs in {}",
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    if outcome.divergence.is_some() {
        bail!(
            "safety violated: {} (see {})",
            s.safety,
            args.out.join("divergence.csv").display()
        );
    }
    Ok(())
}
