//! Owns one point of a sweep: fresh genesis, validators up, measure, everything stopped, its
//! time series, validator and fault rows written, and its summary row put together from the
//! point's parameters, the measured window and the checks.

use std::{collections::BTreeMap, path::Path};

use anyhow::{Context as _, Result};
use indicatif::ProgressBar;

use super::{
    audit::{self, liveness, rejoin},
    fault_epoch::{self, FaultEpoch},
    faults::{self, FaultEvent},
    figures, genesis, recording, RunContext,
};
use crate::{
    deployment::Executor,
    experiment::{Experiment, Point},
    metrics::host::HostPressure,
    progress,
    protocol::{
        files::{COMMITTEE_FILE, LATENCY_FILE, NETWORK_PROFILE_FILE, PARAMETERS_FILE},
        NodeArg, NodeFlag, RunOptions, PLANTED_FORK_AT,
    },
    results::{
        self,
        disturbance::{self, Disturbance},
        seconds, Checks, FaultRow, NetworkColumns, PointParameters, Safety, SummaryRow,
        TimeseriesRow, ValidatorRow,
    },
};

/// Runs one point and writes its time series, validator figures and fault events; returns its
/// summary row. Every process started is stopped before this returns, on success or error.
pub(crate) fn run(context: &RunContext, point: &Point, label: &str) -> Result<SummaryRow> {
    let experiment = &context.experiment;
    let name = point.name(experiment);
    let point_dir = context.run_dir.join(&name);
    let logs = context.logs_dir(&name)?;
    std::fs::create_dir_all(&point_dir)
        .with_context(|| format!("cannot create {}", point_dir.display()))?;

    let genesis_dir = tempfile::Builder::new()
        .prefix("consensus-bench-genesis-")
        .tempdir()
        .context("cannot create a genesis directory")?;
    let ips: Vec<String> = (0..experiment.committee)
        .map(|i| context.peer_address(i))
        .collect::<Result<_>>()?;
    genesis::generate(
        &context.local_tool,
        experiment,
        &ips,
        &context.settings.common.ports,
        genesis_dir.path(),
    )?;
    for file in [
        COMMITTEE_FILE,
        PARAMETERS_FILE,
        LATENCY_FILE,
        NETWORK_PROFILE_FILE,
    ] {
        let source = genesis_dir.path().join(file);
        if source.exists() {
            std::fs::copy(&source, point_dir.join(file))
                .with_context(|| format!("cannot copy {file} into {}", point_dir.display()))?;
        }
    }

    let schedule = faults::schedule(experiment);
    let epoch = fault_epoch::plan(experiment, context.settings.testbed.is_local());
    let launches = launches(experiment, point, epoch);

    let mut executor = context.executor(&name, &logs)?;
    let progress = progress::bar(
        experiment.run_seconds(),
        "{prefix} [{bar:30}] {pos}/{len} s, {eta} left: {msg}",
    );
    progress.set_prefix(label.to_string());
    let progress = match &context.progress {
        Some(multi) => multi.add(progress),
        None => progress,
    };
    let outcome = drive(
        executor.as_mut(),
        context,
        genesis_dir.path(),
        &launches,
        &schedule,
        &progress,
        epoch,
    );
    let stopped = executor.stop_all();
    let collected = executor.collect_logs(&logs);
    progress.finish_and_clear();
    let recording =
        outcome.with_context(|| format!("point {name} failed (logs in {})", logs.display()))?;
    stopped.context("cannot stop every validator")?;
    collected.with_context(|| format!("cannot collect logs into {}", logs.display()))?;

    let started: Vec<usize> = launches.keys().copied().collect();
    row(
        context, point, &name, &schedule, &recording, &logs, &started,
    )
}

/// The checks and the summary row of a point whose `started` validators left their commit
/// logs in `logs` and whose metrics are in `recording` (real scrapes, or a simulation's
/// snapshots); writes its time series, validator figures and fault events.
pub(crate) fn row(
    context: &RunContext,
    point: &Point,
    name: &str,
    schedule: &[FaultEvent],
    recording: &recording::Recording,
    logs: &Path,
    started: &[usize],
) -> Result<SummaryRow> {
    let experiment = &context.experiment;
    // Crashed validators are audited on what they committed; those never started have no
    // commit log; Byzantine ones are not audited (only honest validators must agree).
    let audited: Vec<usize> = started
        .iter()
        .copied()
        .filter(|&i| !experiment.is_byzantine(i))
        .collect();
    let safety = audit::audit(logs, &audited);
    if !matches!(safety, Safety::Ok { .. }) {
        eprintln!(
            "warning: point {name}: safety {safety} (commit logs in {})",
            logs.display()
        );
    }
    let correct: Vec<usize> = audited
        .iter()
        .copied()
        .filter(|&i| !experiment.is_faulty(i))
        .collect();
    let partitions = experiment
        .network
        .partition_windows(experiment.warmup_s as f64);
    let liveness = liveness::liveness(
        recording,
        experiment.warmup_s as f64,
        &correct,
        false,
        &partitions,
    );
    let rejoin = rejoin::rejoin(recording, &correct);

    let disturbance = write_details(context, point, name, recording)?;
    // The figures are the honest validators' (what a Byzantine one reports is its own).
    let measured = figures::window_summary(recording, experiment.warmup_s as f64, |v| {
        !experiment.is_byzantine(v)
    });
    Ok(SummaryRow {
        provenance: context.provenance.clone(),
        point: parameters(experiment, point, schedule),
        measured,
        checks: Checks {
            safety,
            liveness: liveness.to_string(),
            rejoin: rejoin.to_string(),
            interrupted: recording.interrupted,
            disturbed: disturbance.summary(),
        },
        network: NetworkColumns {
            network: experiment.network.name(),
            network_faults: experiment.network.faults_summary(),
        },
        round_trips: context.round_trips.clone(),
        simulation: results::Simulation::default(),
    })
}

/// How each validator started at the beginning of `point` runs (and is restarted): its load,
/// its role, and every network flag of the experiment with the fault epoch.
fn launches(
    experiment: &Experiment,
    point: &Point,
    epoch: Option<FaultEpoch>,
) -> BTreeMap<usize, RunOptions> {
    let loads = experiment.load_per_validator(point.load);
    let mut pass_through = experiment.network.node_args.clone();
    if let Some(epoch) = epoch {
        pass_through.push(NodeArg::text(NodeFlag::FaultEpoch, epoch.unix_ms));
    }
    experiment
        .started_validators()
        .into_iter()
        .map(|i| {
            let launch = RunOptions {
                validator: i,
                load: loads[i],
                transaction_size: experiment.transaction_size,
                latency_matrix: experiment.network.latency_matrix.is_some(),
                plant_fork_at: (experiment.plant_fork == Some(i)).then_some(PLANTED_FORK_AT),
                byzantine: experiment.behaviour_of(i),
                pass_through: pass_through.clone(),
            };
            (i, launch)
        })
        .collect()
}

/// Starts the validators and measures; the caller stops them whatever happens.
fn drive(
    executor: &mut dyn Executor,
    context: &RunContext,
    genesis: &Path,
    launches: &BTreeMap<usize, RunOptions>,
    schedule: &[FaultEvent],
    progress: &ProgressBar,
    epoch: Option<FaultEpoch>,
) -> Result<recording::Recording> {
    executor.check_ports(
        &context
            .settings
            .common
            .ports
            .all(context.experiment.committee)?,
    )?;
    executor.stage(&context.node, genesis)?;
    for launch in launches.values() {
        executor.start(launch)?;
    }
    let started: Vec<usize> = launches.keys().copied().collect();
    recording::wait_ready(executor, &started)?;
    recording::record(
        executor,
        &context.experiment,
        launches,
        schedule,
        progress,
        epoch.map(|e| e.start),
    )
}

fn write_details(
    context: &RunContext,
    point: &Point,
    name: &str,
    recording: &recording::Recording,
) -> Result<Disturbance> {
    let experiment = &context.experiment;
    let warmup = experiment.warmup_s as f64;
    // The host's load over each scrape interval, by the scrape's time.
    let pressure: BTreeMap<u64, HostPressure> = recording
        .host
        .windows(2)
        .filter_map(|w| {
            let pressure = w[1].1.since(&w[0].1, w[1].0 - w[0].0)?;
            Some((w[1].0.to_bits(), pressure))
        })
        .collect();
    let mut timeseries: Vec<TimeseriesRow> = figures::intervals(recording)
        .into_iter()
        .map(|interval| {
            let r = interval.record;
            let machine = context.host_of(r.validator);
            let host = pressure.get(&r.elapsed_s.to_bits()).copied();
            TimeseriesRow {
                run_id: context.run_id.clone(),
                point: name.to_string(),
                load: point.load,
                repeat: point.repeat,
                validator: r.validator,
                host: machine.label(),
                region: context.region_of(r.validator),
                instance_type: machine.specs.clone(),
                elapsed_s: r.elapsed_s,
                phase: TimeseriesRow::phase_at(r.elapsed_s, warmup).into(),
                committed_transactions: r.snapshot.committed_transactions,
                throughput_tps: interval.throughput_tps,
                latency_p50_s: interval.latency_p50_s,
                latency_p99_s: interval.latency_p99_s,
                current_round: r.snapshot.current_round,
                last_committed_round: r.snapshot.last_committed_round,
                cpu_cores: interval.cpu_cores,
                memory_mib: r.snapshot.resident_memory_bytes / (1024.0 * 1024.0),
                submitted_transactions: r.snapshot.submitted,
                rejected_transactions: r.snapshot.rejected,
                host_cpu_busy: host.map(|h| h.cpu_busy),
                host_iowait: host.map(|h| h.iowait),
                host_steal: host.map(|h| h.steal),
                host_cpu_pressure: host.and_then(|h| h.cpu_pressure),
                host_io_pressure: host.and_then(|h| h.io_pressure),
                disturbed: String::new(),
                network_faults: experiment.network.active_faults(r.elapsed_s, warmup),
            }
        })
        .collect();
    // Crash events are instants; partitions last their window.
    let fault_spans: Vec<(f64, f64)> = recording
        .faults
        .iter()
        .filter_map(|(_, at)| at.map(|t| (t, t)))
        .chain(experiment.network.partition_windows(warmup))
        .collect();
    let window = seconds::seconds(&timeseries)
        .into_values()
        .next()
        .unwrap_or_default();
    let disturbance = disturbance::detect(&window, point.load as f64, &fault_spans);
    for (second, _) in window.iter().zip(&disturbance.stalled).filter(|(_, s)| **s) {
        for row in timeseries.iter_mut().filter(|r| r.elapsed_s == second.at_s) {
            row.disturbed = "stall".into();
        }
    }
    results::append_rows(&context.run_dir.join(results::TIMESERIES_FILE), &timeseries)?;

    let validators: Vec<ValidatorRow> = figures::observations(recording, warmup)
        .into_iter()
        .map(|o| {
            let latency = o.end.latency.since(&o.start.latency);
            let rate = |end: f64, start: f64| (end - start) / o.seconds.max(f64::EPSILON);
            let host = context.host_of(o.validator);
            ValidatorRow {
                run_id: context.run_id.clone(),
                point: name.to_string(),
                load: point.load,
                repeat: point.repeat,
                validator: o.validator,
                host: host.label(),
                region: context.region_of(o.validator),
                instance_type: host.specs.clone(),
                faulty: experiment.is_faulty(o.validator) && experiment.faults.count() > 0,
                byzantine: experiment.is_byzantine(o.validator),
                throughput_tps: o.throughput(),
                latency_p50_s: latency.quantile(0.5),
                latency_p99_s: latency.quantile(0.99),
                cpu_cores: o.cpu_cores(),
                memory_mib: o.end.resident_memory_bytes / (1024.0 * 1024.0),
                submitted_tps: rate(o.end.submitted, o.start.submitted),
                rejected_tps: rate(o.end.rejected, o.start.rejected),
            }
        })
        .collect();
    results::append_rows(&context.run_dir.join(results::VALIDATORS_FILE), &validators)?;

    let faults: Vec<FaultRow> = recording
        .faults
        .iter()
        .map(|(event, applied)| FaultRow {
            run_id: context.run_id.clone(),
            point: name.to_string(),
            at_s: event.at_s,
            validator: event.validator,
            event: event.event.to_string(),
            applied_at_s: *applied,
        })
        .collect();
    if !faults.is_empty() {
        results::append_rows(&context.run_dir.join(results::FAULTS_FILE), &faults)?;
    }
    Ok(disturbance)
}

/// What ran at `point`: the experiment's committee, faults and protocol with the point's load.
fn parameters(experiment: &Experiment, point: &Point, schedule: &[FaultEvent]) -> PointParameters {
    PointParameters {
        committee: experiment.committee,
        faults: experiment.faults.count(),
        fault_mode: experiment.faults.mode(),
        fault_schedule: schedule
            .iter()
            .map(|e| format!("{}@{}s:{}", e.event, e.at_s, e.validator))
            .collect::<Vec<_>>()
            .join(";"),
        byzantine: experiment.byzantine.map_or(0, |b| b.validators),
        behaviour: experiment.byzantine.map(|b| b.behaviour),
        byzantine_validators: experiment.byzantine_validators(),
        load: point.load,
        repeat: point.repeat,
        transaction_size: experiment.transaction_size,
        warmup_s: experiment.warmup_s,
        duration_s: experiment.duration_s,
        wave_length: experiment.protocol.wave_length,
        leaders: experiment.protocol.leaders,
        leader_wait: experiment.protocol.leader_wait,
        leader_timeout_ms: experiment.protocol.leader_timeout_ms,
        latency_matrix: experiment
            .network
            .latency_matrix
            .as_ref()
            .map(|m| m.name.clone())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use clap::Parser;

    use super::*;
    use crate::{
        cli::{Cli, Command},
        protocol::run_args,
    };

    fn experiment(extra: &[&str]) -> Experiment {
        let mut argv = vec!["xtask", "bench", "--warmup", "5", "--duration", "20"];
        argv.extend_from_slice(extra);
        let Command::Bench(args) = Cli::try_parse_from(argv).expect("parse").command else {
            panic!("not bench")
        };
        let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets");
        args.experiment(&assets).expect("experiment")
    }

    /// The `node run` line each validator gets from `bench`'s network flags: the profile by
    /// name, the cap, every fault as given, and one fault epoch (the end of the warm-up) for
    /// all, also for a validator restarted later.
    #[test]
    fn every_validator_gets_the_network_flags_and_one_fault_epoch() {
        let e = experiment(&[
            "--network",
            "lan",
            "--egress-mbps",
            "100",
            "--partition",
            "0,1,2/3@2s+3s",
            "--flap",
            "0-1:2s,25%",
            "--faults",
            "1",
            "--crash-recovery",
        ]);
        let epoch = fault_epoch::plan(&e, true).expect("faults need an epoch");
        let since_start = epoch
            .start
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("after 1970");
        assert_eq!(
            epoch.unix_ms,
            (since_start + Duration::from_secs(5)).as_millis() as u64,
            "the epoch is the end of the warm-up"
        );
        let started = launches(
            &e,
            &Point {
                load: 1000,
                repeat: 0,
            },
            Some(epoch),
        );
        assert_eq!(started.len(), 4);
        for (i, launch) in &started {
            let line = run_args(launch, "/run").join(" ");
            let expected = format!(
                "--network-profile lan --egress-mbps 100 --partition 0,1,2/3@2s+3s \
                 --flap 0-1:2s,25% --fault-epoch {}",
                epoch.unix_ms
            );
            assert!(line.ends_with(&expected), "validator {i}: {line}");
        }
        // No network fault: no epoch, and no flag at all without emulation.
        let first_line = |e: &Experiment| {
            let point = Point {
                load: 1000,
                repeat: 0,
            };
            run_args(&launches(e, &point, None)[&0], "/run")
        };
        let e = experiment(&["--network", "aws"]);
        assert_eq!(fault_epoch::plan(&e, true), None);
        let line = first_line(&e);
        assert!(
            line.ends_with(&["--network-profile".into(), "aws".into()]),
            "{line:?}"
        );
        let line = first_line(&experiment(&[]));
        assert!(!line
            .iter()
            .any(|a| a.starts_with("--network") || a.starts_with("--fault")));
    }
}
