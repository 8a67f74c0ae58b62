//! The contract with `node sim` and the one mapping of an experiment's point onto its flags:
//! committee, latency matrix, total load, transaction size, warm-up and window, link
//! bandwidth, Byzantine validators, crashes from the fault schedule, seed and snapshot
//! interval. What the simulator cannot model is refused here, with a sentence that says so.

use std::{ffi::OsString, path::Path};

use anyhow::{bail, Result};

use crate::{
    benchmark::faults::{self, FaultEvent, FaultKind},
    experiment::{Experiment, FaultWindow, Network, NetworkFaultKind, Point, Protocol},
    protocol::{defaults, sim as flags},
    settings::SimTestbed,
};

/// The largest committee the sim testbed runs: memory grows with the square of the committee
/// (200 validators took 19 GB and 20 minutes for 5 simulated seconds, `node/README.md`).
pub(crate) const MAX_COMMITTEE: usize = 200;

/// The seed of repeat `repeat` of a point: the testbed's seed plus the repeat.
pub(crate) fn seed(sim: SimTestbed, point: &Point) -> u64 {
    sim.seed.wrapping_add(point.repeat as u64)
}

/// Refuses what the simulator cannot run, naming the option and what to do instead.
pub(crate) fn check(experiment: &Experiment) -> Result<()> {
    if experiment.committee > MAX_COMMITTEE {
        bail!(
            "--committee {}: the sim testbed runs at most {MAX_COMMITTEE} validators (its memory \
             grows with the square of the committee); use a smaller committee",
            experiment.committee
        );
    }
    let Protocol {
        wave_length,
        leaders,
        leader_wait,
        leader_timeout_ms,
    } = experiment.protocol;
    if wave_length != defaults::WAVE_LENGTH
        || leaders != defaults::LEADERS
        || !leader_wait
        || leader_timeout_ms != defaults::LEADER_TIMEOUT_MS
    {
        bail!(
            "the sim testbed runs the node's default protocol parameters only (wave length {}, \
             {} leader, leader wait, {} ms timeout): drop --wave-length, --leaders, \
             --no-leader-wait and --leader-timeout-ms, or use --testbed local",
            defaults::WAVE_LENGTH,
            defaults::LEADERS,
            defaults::LEADER_TIMEOUT_MS
        );
    }
    if experiment.plant_fork.is_some() {
        bail!("--plant-fork is not available on the sim testbed: use --testbed local");
    }
    network_flags(experiment).map(|_| ())
}

/// The network conditions as `node sim` flags. The simulator models a latency matrix
/// (placing validators on its regions in turn, as the other testbeds do) and partitions that
/// cut one group of validators off from all the others (`--partition I,J@T1-T2`, in virtual
/// seconds from the start of the run, warm-up included). Every field of [`Network`] is
/// matched here, so a new network condition must say what the simulator does with it: map
/// it, or refuse it with a sentence naming the option.
pub(crate) fn network_flags(experiment: &Experiment) -> Result<Vec<OsString>> {
    let Network {
        latency_matrix,
        profile,
        egress_mbps,
        faults,
        // The pass-through of the fields above to `node run`: nothing of its own.
        node_args: _,
    } = &experiment.network;
    let mut args = Vec::new();
    if let Some(matrix) = latency_matrix {
        args.push(flags::LATENCY_MATRIX.into());
        args.push(matrix.path.clone().into_os_string());
    }
    if let Some(profile) = profile {
        bail!(
            "--network {}: the sim testbed models a latency matrix's delays (with its own \
             jitter and link bandwidth), not network profiles; use --latency-matrix, or run \
             the profile with --testbed local",
            profile.name
        );
    }
    if egress_mbps.is_some() {
        bail!(
            "--egress-mbps: the sim testbed caps every link at its `sim_bandwidth_mbps` \
             setting, not each validator's egress; set that, or use --testbed local"
        );
    }
    for fault in faults {
        match (fault.kind, fault.window) {
            (NetworkFaultKind::Partition, Some(window)) => {
                args.push(flags::PARTITION.into());
                args.push(partition(experiment, &fault.spec, window)?.into());
            }
            _ => bail!(
                "--{} {}: the sim testbed schedules partitions only; use --testbed local for \
                 slow validators and flapping links",
                fault.kind.word(),
                fault.spec
            ),
        }
    }
    Ok(args)
}

/// `node sim --partition` for a partition of `bench` (`SIDES@START+DURATION`, from the start
/// of the measured window): the simulator cuts one side off from every other validator, so
/// the two sides must hold the whole committee.
fn partition(experiment: &Experiment, spec: &str, window: FaultWindow) -> Result<String> {
    let sides_text = spec.split('@').next().unwrap_or_default();
    let sides: Vec<Vec<usize>> = sides_text
        .split('/')
        .map(|side| {
            side.split(',')
                .map(|v| v.trim().parse::<usize>())
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow::anyhow!("--partition {spec}: expected SIDES@START+DURATION"))?;
    let mut covered: Vec<usize> = sides.iter().flatten().copied().collect();
    covered.sort_unstable();
    covered.dedup();
    if sides.len() != 2 || covered != (0..experiment.committee).collect::<Vec<_>>() {
        bail!(
            "--partition {spec}: the sim testbed cuts one group off from all the others, so \
             give two sides that hold every validator (0 to {}), e.g. 0,1/2,3",
            experiment.committee.saturating_sub(1)
        );
    }
    let start = experiment.warmup_s as f64 + window.start.as_secs_f64();
    let end = experiment.warmup_s as f64 + window.end().as_secs_f64();
    let side: Vec<String> = sides[0].iter().map(ToString::to_string).collect();
    Ok(format!("{}@{start}-{end}", side.join(",")))
}

/// `I@T` (crashed at T for good) or `I@T+DOWN` (restarted DOWN seconds later) for each crash
/// of the schedule: a validator crashed from the start is `I@0`, a crash-recovery one crashes
/// and comes back at the schedule's times.
pub(crate) fn crashes(schedule: &[FaultEvent]) -> Vec<String> {
    schedule
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e.event {
            FaultKind::CrashedFromStart => Some(format!("{}@0", e.validator)),
            FaultKind::Crash => {
                let recovery = schedule[i + 1..]
                    .iter()
                    .find(|r| r.validator == e.validator && r.event == FaultKind::Recover);
                Some(match recovery {
                    Some(r) => format!("{}@{}+{}", e.validator, e.at_s, r.at_s - e.at_s),
                    None => format!("{}@{}", e.validator, e.at_s),
                })
            }
            FaultKind::Recover => None,
        })
        .collect()
}

/// The arguments of `node sim` for `point` of `experiment` on the sim testbed `sim`, writing
/// into `out`.
pub(crate) fn node_sim_args(
    experiment: &Experiment,
    point: &Point,
    sim: SimTestbed,
    out: &Path,
) -> Result<Vec<OsString>> {
    check(experiment)?;
    let mut args: Vec<OsString> = Vec::new();
    let mut flag = |name: &str, value: String| {
        args.push(name.into());
        args.push(value.into());
    };
    flag(flags::COMMITTEE, experiment.committee.to_string());
    flag(flags::SEED, seed(sim, point).to_string());
    flag(flags::LOAD, point.load.to_string());
    flag(flags::TX_SIZE, experiment.transaction_size.to_string());
    flag(flags::WARMUP, experiment.warmup_s.to_string());
    flag(flags::DURATION, experiment.duration_s.to_string());
    flag(flags::BANDWIDTH, sim.bandwidth_mbps.to_string());
    flag(
        flags::SNAPSHOT_INTERVAL,
        experiment.scrape_interval_s.to_string(),
    );
    if let Some(b) = experiment.byzantine {
        flag(flags::BYZANTINE, b.validators.to_string());
        flag(flags::BEHAVIOUR, b.behaviour.to_string());
    }
    for crash in crashes(&faults::schedule(experiment)) {
        flag(flags::CRASH, crash);
    }
    let mut command: Vec<OsString> = vec![flags::COMMAND.into()];
    command.extend(args);
    command.extend(network_flags(experiment)?);
    command.push(flags::OUT.into());
    command.push(out.as_os_str().to_owned());
    Ok(command)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn experiment(line: &str) -> Experiment {
        let argv = ["xtask", "bench"]
            .into_iter()
            .chain(line.split_whitespace());
        let Command::Bench(args) = Cli::try_parse_from(argv).expect("parse").command else {
            panic!("not bench")
        };
        args.experiment(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../assets"))
            .expect("valid experiment")
    }

    fn sim_args(line: &str, repeat: usize) -> Vec<String> {
        let sim = SimTestbed {
            seed: 40,
            bandwidth_mbps: 100.0,
        };
        let point = Point { load: 5000, repeat };
        node_sim_args(&experiment(line), &point, sim, Path::new("/out"))
            .expect("mapped")
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// The value after `flag` each time it appears.
    fn values(args: &[String], flag: &str) -> Vec<String> {
        args.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].clone())
            .collect()
    }

    #[test]
    fn a_point_maps_onto_the_flags_of_node_sim() {
        let args = sim_args(
            "--committee 7 --transaction-size 256 --warmup 2 --duration 8 --scrape-interval 0.5 \
             --byzantine 1 --behaviour split-vote --latency-matrix aws",
            2,
        );
        assert_eq!(args[0], flags::COMMAND);
        for (flag, value) in [
            (flags::COMMITTEE, "7"),
            (flags::SEED, "42"),
            (flags::LOAD, "5000"),
            (flags::TX_SIZE, "256"),
            (flags::WARMUP, "2"),
            (flags::DURATION, "8"),
            (flags::BANDWIDTH, "100"),
            (flags::SNAPSHOT_INTERVAL, "0.5"),
            (flags::BYZANTINE, "1"),
            (flags::BEHAVIOUR, "split-vote"),
            (flags::OUT, "/out"),
        ] {
            assert_eq!(values(&args, flag), vec![value.to_string()], "{flag}");
        }
        let matrix = values(&args, flags::LATENCY_MATRIX);
        assert!(matrix[0].ends_with("assets/latency/aws.csv"), "{matrix:?}");
        assert!(values(&args, flags::CRASH).is_empty());
    }

    #[test]
    fn crashes_come_from_the_fault_schedule() {
        let crashed = sim_args("--committee 7 --faults 2", 0);
        assert_eq!(values(&crashed, flags::CRASH), vec!["5@0", "6@0"]);
        // Up 10 s, down 4 s, in turn, within 2 + 30 s: crashes at 10 and 24, back at 14 and 28.
        let recovering = sim_args(
            "--committee 4 --faults 1 --crash-recovery --crash-interval 10 --down-time 4 \
             --warmup 2 --duration 30",
            0,
        );
        assert_eq!(values(&recovering, flags::CRASH), vec!["3@10+4", "3@24+4"]);
        // A crash the run ends before its recovery is for good.
        let cut = sim_args(
            "--committee 4 --faults 1 --crash-recovery --crash-interval 10 --down-time 30 \
             --warmup 2 --duration 10",
            0,
        );
        assert_eq!(values(&cut, flags::CRASH), vec!["3@10"]);
    }

    #[test]
    fn a_partition_maps_onto_the_simulator_counted_from_the_start_of_the_run() {
        let args = sim_args(
            "--committee 4 --warmup 5 --duration 30 --partition 0,1,2/3@10s+15s",
            0,
        );
        assert_eq!(values(&args, flags::PARTITION), vec!["0,1,2@15-30"]);
    }

    #[test]
    fn network_conditions_the_simulator_does_not_model_are_refused() {
        for (line, names) in [
            ("--committee 4 --network lan", "--network lan"),
            ("--committee 4 --egress-mbps 10", "--egress-mbps"),
            ("--committee 4 --slow 3:+200ms", "--slow 3:+200ms"),
            (
                "--committee 4 --partition 0/3@1s+2s",
                "two sides that hold every validator",
            ),
        ] {
            let error = node_sim_args(
                &experiment(line),
                &Point {
                    load: 1000,
                    repeat: 0,
                },
                SimTestbed {
                    seed: 1,
                    bandwidth_mbps: 100.0,
                },
                Path::new("/out"),
            )
            .expect_err(line);
            assert!(format!("{error:#}").contains(names), "{line}: {error:#}");
        }
    }
}
