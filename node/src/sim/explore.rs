//! `node explore`: many simulations with adversarial schedules derived from one seed,
//! checked for safety (honest committed sequences are prefixes of one another) and
//! liveness (every running honest validator commits after the last fault ends). Runs are
//! spread over threads; each stays on one thread and is deterministic, so a violation is
//! replayed from its seed alone.

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Mutex,
    },
    time::Duration,
};

use anyhow::{bail, Context, Result};
use clap::Parser;
use rand::{rngs::StdRng, Rng, SeedableRng};

use super::{
    cli::{byzantine_indices, check, max_faulty},
    faults::{Crash, Loss, Partition, SlowLink},
    report::{describe_divergence, Outcome},
    Latency, SimConfig, DEFAULT_BANDWIDTH_BPS,
};
use crate::{byzantine::Behaviour, committee::AuthorityIndex};

/// Separates the schedule's random stream from the run's own.
const SCHEDULE_STREAM: u64 = 0x7363_6865;

/// `node explore`: hunts safety and liveness violations over seeds.
#[derive(Parser, Debug, Clone)]
pub struct ExploreArgs {
    /// Simulations to run.
    #[arg(long, default_value_t = 100)]
    pub runs: u64,
    /// Validators in the committee.
    #[arg(long, default_value_t = 4)]
    pub committee: usize,
    /// Byzantine validators (the highest indices).
    #[arg(long, default_value_t = 0)]
    pub byzantine: usize,
    /// What the Byzantine validators do.
    #[arg(long, value_name = "MODE")]
    pub behaviour: Option<Behaviour>,
    /// Seed the runs' seeds are derived from.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Virtual seconds per run (faults end by the middle).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Offered load per run, tx/s.
    #[arg(long, default_value_t = 1_000)]
    pub load: u64,
    /// Threads (default: the machine's cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Where a violation's sequences are written.
    #[arg(long, value_name = "DIR", default_value = "explore")]
    pub out: PathBuf,
    /// Runs exactly the run of this seed (as printed for a violation) instead of R runs.
    #[arg(long, value_name = "RUN_SEED")]
    pub replay: Option<u64>,
    /// Tests of the explorer only: validators run an unsafe commit rule (votes and direct
    /// skips counted against f+1 instead of a quorum).
    #[arg(long, hide = true)]
    pub plant_unsafe_rule: bool,
}

/// The seed of run `i` of an exploration seeded with `seed` (splitmix64).
pub fn run_seed(seed: u64, i: u64) -> u64 {
    let mut z = seed.wrapping_add(i.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn secs(rng: &mut StdRng, low: f64, high: f64) -> Duration {
    Duration::from_secs_f64(rng.gen_range(low..high))
}

/// The adversarial run of `seed`: random one-way delays per link (1-150 ms), jitter that
/// reorders messages across links (up to 0.3 s), and, ending by the middle of the run, a
/// partition of at most f validators, a crash-recovery within what f leaves after the
/// Byzantine ones, a lossy link and slow links (0.5-2 s more, so that leaders miss some
/// voters' timeouts and not others').
pub fn adversarial(args: &ExploreArgs, seed: u64) -> Result<SimConfig> {
    let n = args.committee;
    let total = Duration::from_secs_f64(args.duration.clamp(2.0, 1e6));
    let mid = total.as_secs_f64() / 2.0;
    let mut rng = StdRng::seed_from_u64(seed ^ SCHEDULE_STREAM);
    let f = max_faulty(n);
    let links = (0..n)
        .map(|a| {
            (0..n)
                .map(|b| {
                    if a == b {
                        Duration::ZERO
                    } else {
                        secs(&mut rng, 0.001, 0.150)
                    }
                })
                .collect()
        })
        .collect();
    let extra_jitter = secs(&mut rng, 0.0, 0.3);
    let mut crashes = Vec::new();
    let mut partitions = Vec::new();
    let mut losses = Vec::new();
    if f > 0 && rng.gen_bool(0.7) {
        let size = rng.gen_range(1..=f);
        let mut side: Vec<AuthorityIndex> = Vec::new();
        while side.len() < size {
            let v = rng.gen_range(0..n as AuthorityIndex);
            if !side.contains(&v) {
                side.push(v);
            }
        }
        side.sort_unstable();
        let from = secs(&mut rng, 0.5, mid - 1.0);
        let until = from + secs(&mut rng, 0.2, 3.0);
        partitions.push(Partition {
            side,
            from,
            until: until.min(Duration::from_secs_f64(mid)),
        });
    }
    let honest: Vec<AuthorityIndex> = (0..n as AuthorityIndex)
        .filter(|v| !byzantine_indices(n, args.byzantine, &[]).contains(v))
        .collect();
    if f > args.byzantine && !honest.is_empty() && rng.gen_bool(0.6) {
        let validator = honest[rng.gen_range(0..honest.len())];
        let at = secs(&mut rng, 0.5, mid - 1.0);
        let down = secs(&mut rng, 0.2, 2.5).min(Duration::from_secs_f64(mid) - at);
        crashes.push(Crash {
            validator,
            at,
            down: Some(down),
        });
    }
    if n > 1 && rng.gen_bool(0.3) {
        let a = rng.gen_range(0..n as AuthorityIndex);
        let b = (a + rng.gen_range(1..n as AuthorityIndex)) % n as AuthorityIndex;
        let from = secs(&mut rng, 0.0, mid - 1.0);
        losses.push(Loss {
            a,
            b,
            fraction: rng.gen_range(0.05..0.3),
            from,
            until: Duration::from_secs_f64(mid),
        });
    }
    let mut slow = Vec::new();
    if n > 1 && rng.gen_bool(0.8) {
        for _ in 0..rng.gen_range(1..=n) {
            let a = rng.gen_range(0..n as AuthorityIndex);
            let b = (a + rng.gen_range(1..n as AuthorityIndex)) % n as AuthorityIndex;
            let from = secs(&mut rng, 0.0, mid - 1.0);
            slow.push(SlowLink {
                a,
                b,
                extra: secs(&mut rng, 0.5, 2.0),
                from,
                until: (from + secs(&mut rng, 0.5, 3.0)).min(Duration::from_secs_f64(mid)),
            });
        }
    }
    let config = SimConfig {
        committee: n,
        seed,
        latency: Latency::Links(links),
        regions: None,
        matrix: None,
        load: args.load,
        transaction_size: 512,
        warmup: Duration::ZERO,
        duration: total,
        bandwidth_bps: DEFAULT_BANDWIDTH_BPS,
        jitter_fraction: 0.5,
        extra_jitter,
        byzantine: byzantine_indices(n, args.byzantine, &[]),
        behaviour: if args.byzantine > 0 {
            args.behaviour
        } else {
            None
        },
        crashes,
        partitions,
        losses,
        slow,
        out: None,
        snapshot_interval: Duration::ZERO,
        unsafe_rule: args.plant_unsafe_rule,
        parameters: super::parameters(),
    };
    check(&config)?;
    Ok(config)
}

/// What one run found.
pub enum Verdict {
    /// Safe and live.
    Ok {
        /// Commit indices compared.
        checked: u64,
    },
    /// Honest sequences diverge (or the core detected a broken slot and stopped).
    Unsafe(String),
    /// A running honest validator committed nothing after the last fault.
    Stalled(Vec<AuthorityIndex>),
}

/// Runs the adversarial run of `seed` and judges it.
pub fn judge(args: &ExploreArgs, seed: u64) -> Result<Verdict> {
    let config = adversarial(args, seed)?;
    let run = std::panic::catch_unwind(|| super::run(config));
    let outcome: Outcome = match run {
        Ok(result) => result?,
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a validator panicked".to_string());
            return Ok(Verdict::Unsafe(what));
        }
    };
    if let Some(d) = &outcome.divergence {
        return Ok(Verdict::Unsafe(describe_divergence(&outcome, d)));
    }
    match outcome.stalled {
        Some(stalled) if !stalled.is_empty() => Ok(Verdict::Stalled(stalled)),
        _ => Ok(Verdict::Ok {
            checked: outcome.summary.commits_checked,
        }),
    }
}

/// The command that replays the run of `seed` exactly.
pub fn replay_command(args: &ExploreArgs, seed: u64) -> String {
    let mut cmd = format!(
        "node explore --committee {} --duration {} --load {} --replay {seed}",
        args.committee, args.duration, args.load
    );
    if let (k @ 1.., Some(b)) = (args.byzantine, args.behaviour) {
        cmd.push_str(&format!(" --byzantine {k} --behaviour {b}"));
    }
    if args.plant_unsafe_rule {
        cmd.push_str(" --plant-unsafe-rule");
    }
    cmd
}

/// A violation found by [`explore`].
pub struct Violation {
    /// The run's seed.
    pub seed: u64,
    /// What was violated, and how.
    pub description: String,
}

/// The end of an exploration.
pub struct Exploration {
    /// Runs done.
    pub runs: u64,
    /// Commit indices compared over all runs.
    pub checked: u64,
    /// Violations, by run seed.
    pub violations: Vec<Violation>,
}

/// Runs the exploration on `jobs` threads; `progress` is called after each run with
/// (runs done, violations so far).
pub fn explore(args: &ExploreArgs, progress: &(dyn Fn(u64, usize) + Sync)) -> Result<Exploration> {
    let seeds: Vec<u64> = match args.replay {
        Some(seed) => vec![seed],
        None => (0..args.runs).map(|i| run_seed(args.seed, i)).collect(),
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, seeds.len().max(1));
    let next = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    let checked = AtomicU64::new(0);
    let violations = Mutex::new(Vec::new());
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = seeds.get(i) else { break };
                let verdict = judge(args, seed);
                let mut found = violations.lock().unwrap_or_else(|p| p.into_inner());
                match verdict {
                    Ok(Verdict::Ok { checked: c }) => {
                        checked.fetch_add(c, Ordering::Relaxed);
                    }
                    Ok(Verdict::Unsafe(description)) => found.push(Violation {
                        seed,
                        description: format!("safety: {description}"),
                    }),
                    Ok(Verdict::Stalled(v)) => found.push(Violation {
                        seed,
                        description: format!(
                            "liveness: honest validators {v:?} committed nothing after the \
                             last fault ended"
                        ),
                    }),
                    Err(e) => errors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!("run {seed}: {e:#}")),
                }
                let count = found.len();
                drop(found);
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, count);
            });
        }
    });
    let errors = errors.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = errors.first() {
        bail!("{} runs failed to run, first: {e}", errors.len());
    }
    let mut violations = violations.into_inner().unwrap_or_else(|p| p.into_inner());
    violations.sort_by_key(|v| v.seed);
    Ok(Exploration {
        runs: done.into_inner(),
        checked: checked.into_inner(),
        violations,
    })
}

/// Runs `node explore`: prints progress and the totals; a violation is written to the
/// output directory, named with its seed and replay command, and makes it fail.
pub fn command(args: ExploreArgs) -> Result<()> {
    if args.byzantine > 0 && args.behaviour.is_none() {
        bail!("--byzantine {} needs --behaviour MODE", args.byzantine);
    }
    adversarial(&args, args.seed)?;
    let total = if args.replay.is_some() { 1 } else { args.runs };
    let started = std::time::Instant::now();
    let result = explore(&args, &|done, violations| {
        eprint!("\rexplore: {done}/{total} runs, {violations} violations");
    })?;
    eprintln!();
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    println!(
        "runs {}, commits checked {}, violations {} ({:.0} runs/min)",
        result.runs,
        result.checked,
        result.violations.len(),
        result.runs as f64 / minutes.max(1e-9)
    );
    if result.violations.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for v in &result.violations {
        let path = args.out.join(format!("violation-{}.txt", v.seed));
        let replay = replay_command(&args, v.seed);
        std::fs::write(&path, format!("replay: {replay}\n{}\n", v.description))
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!(
            "violation in run seed {}: {}\n  replay: {replay}\n  details: {}",
            v.seed,
            v.description.lines().next().unwrap_or_default(),
            path.display()
        );
    }
    bail!(
        "{} of {} runs violated safety or liveness",
        result.violations.len(),
        result.runs
    )
}
