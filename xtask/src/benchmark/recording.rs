//! Owns the measuring loop of one point: waiting for the validators to serve their metrics,
//! then scraping every validator on a fixed interval until the warm-up and the measured window
//! have passed, applying the fault schedule and watching that no validator dies on the way.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant, SystemTime},
};

use anyhow::{anyhow, bail, Result};
use indicatif::ProgressBar;

use super::faults::{FaultEvent, FaultKind};
use crate::{
    deployment::Executor,
    experiment::Experiment,
    interrupt,
    metrics::{host::HostCounters, scrape, Snapshot},
    parallel,
    protocol::{files::log_file, RunOptions},
    results::TimeseriesRow,
};

/// How long validators may take to serve their metrics after starting.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// One successful scrape.
#[derive(Clone, Debug)]
pub(crate) struct ScrapeRecord {
    pub(crate) validator: usize,
    /// Seconds since the validators started.
    pub(crate) elapsed_s: f64,
    pub(crate) snapshot: Snapshot,
}

/// Everything observed during one run.
#[derive(Debug, Default)]
pub(crate) struct Recording {
    pub(crate) scrapes: Vec<ScrapeRecord>,
    /// Each scheduled event with the time it was applied (`None`: the run ended first).
    pub(crate) faults: Vec<(FaultEvent, Option<f64>)>,
    /// The user interrupted the run.
    pub(crate) interrupted: bool,
    /// The host's load counters at each scrape (seconds since start), where recorded.
    pub(crate) host: Vec<(f64, HostCounters)>,
}

/// ", which ends with:" and the end of validator `i`'s log, or nothing when it cannot be read.
fn tail(executor: &mut dyn Executor, i: usize) -> String {
    match executor.log_tail(i) {
        Some(lines) if !lines.is_empty() => format!(", which ends with:\n{lines}"),
        _ => String::new(),
    }
}

/// Waits until every validator in `validators` serves its metrics.
pub(crate) fn wait_ready(executor: &mut dyn Executor, validators: &[usize]) -> Result<()> {
    let agent = scrape::agent();
    let deadline = Instant::now() + READY_TIMEOUT;
    for &i in validators {
        let url = executor.metrics_url(i)?;
        loop {
            if interrupt::requested() {
                bail!("interrupted while waiting for validator {i} to start");
            }
            if scrape::fetch(&agent, &url).is_ok() {
                break;
            }
            if !executor.is_alive(i)? {
                bail!(
                    "validator {i} exited before serving its metrics at {url}: see {}{}",
                    log_file(i),
                    tail(executor, i)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "validator {i} did not serve its metrics at {url} within {} s: see {}",
                    READY_TIMEOUT.as_secs(),
                    log_file(i)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

/// Scrapes the validators until the warm-up and the measured window have passed (or the user
/// interrupts), applying `schedule` on the way. `launches` says how to restart a validator.
/// The clock starts now, or at `start_at` (the fault epoch's plan: waiting for it, or counting
/// from it when the validators were ready late).
pub(crate) fn record(
    executor: &mut dyn Executor,
    experiment: &Experiment,
    launches: &BTreeMap<usize, RunOptions>,
    schedule: &[FaultEvent],
    progress: &ProgressBar,
    start_at: Option<SystemTime>,
) -> Result<Recording> {
    let agent = scrape::agent();
    let start = match start_at {
        Some(at) => clock_start(at, progress),
        None => Instant::now(),
    };
    let interval = Duration::from_secs_f64(experiment.scrape_interval_s);
    let mut recording = Recording {
        faults: schedule.iter().map(|e| (e.clone(), None)).collect(),
        ..Recording::default()
    };
    let mut up: Vec<usize> = launches.keys().copied().collect();
    for tick in 1u32.. {
        let elapsed = start.elapsed().as_secs_f64();
        apply_due_faults(executor, launches, &mut recording.faults, &mut up, elapsed)?;
        check_alive(executor, &up, elapsed)?;
        let scraped = scrape_all(executor, &agent, &up)?;
        let scraped_at = start.elapsed().as_secs_f64();
        let committed = keep(executor, &mut recording, scraped, scraped_at, progress);
        show_progress(progress, experiment, scraped_at, committed);
        if scraped_at >= experiment.run_seconds() as f64 {
            break;
        }
        if interrupt::requested() {
            recording.interrupted = true;
            break;
        }
        pause_until(start + interval * tick);
    }
    Ok(recording)
}

/// The instant of the wall-clock time `at`: waited for when ahead; when it has passed, the
/// warm-up is that much shorter (the measured window keeps its place), and the user is told.
fn clock_start(at: SystemTime, progress: &ProgressBar) -> Instant {
    let now = Instant::now();
    match at.duration_since(SystemTime::now()) {
        Ok(ahead) => {
            pause_until(now + ahead);
            now + ahead
        }
        Err(late) => {
            let late = late.duration();
            progress.println(format!(
                "warning: the validators were ready {:.1} s after the planned start: the \
                 warm-up is that much shorter, so that the network faults keep their times in \
                 the measured window",
                late.as_secs_f64()
            ));
            now.checked_sub(late).unwrap_or(now)
        }
    }
}

/// Applies every fault event due by `elapsed` seconds that is not applied yet, keeping `up`
/// (the validators that should be running) in step.
fn apply_due_faults(
    executor: &mut dyn Executor,
    launches: &BTreeMap<usize, RunOptions>,
    faults: &mut [(FaultEvent, Option<f64>)],
    up: &mut Vec<usize>,
    elapsed: f64,
) -> Result<()> {
    let due = faults
        .iter_mut()
        .filter(|(event, applied)| applied.is_none() && event.at_s <= elapsed);
    for (event, applied) in due {
        match event.event {
            FaultKind::CrashedFromStart => {}
            FaultKind::Crash => {
                executor.kill(event.validator)?;
                up.retain(|&v| v != event.validator);
            }
            FaultKind::Recover => {
                if let Some(launch) = launches.get(&event.validator) {
                    executor.start(launch)?;
                    up.push(event.validator);
                }
            }
        }
        *applied = Some(elapsed);
    }
    Ok(())
}

/// Fails naming the first validator of `up` that died without a scheduled fault.
fn check_alive(executor: &mut dyn Executor, up: &[usize], elapsed: f64) -> Result<()> {
    for &i in up {
        if !executor.is_alive(i)? {
            bail!(
                "validator {i} died {elapsed:.1} s into the run (not a scheduled fault): see {}{}",
                log_file(i),
                tail(executor, i)
            );
        }
    }
    Ok(())
}

/// Scrapes every validator of `up` at once.
fn scrape_all(
    executor: &mut dyn Executor,
    agent: &ureq::Agent,
    up: &[usize],
) -> Result<Vec<(usize, Result<Snapshot>)>> {
    let urls: Vec<(usize, String)> = up
        .iter()
        .map(|&i| executor.metrics_url(i).map(|url| (i, url)))
        .collect::<Result<_>>()?;
    let snapshots = parallel::map(
        &urls,
        urls.len(),
        |(_, url)| scrape::scrape(agent, url),
        || Err(anyhow!("the scraper thread panicked")),
    );
    Ok(urls.iter().map(|(i, _)| *i).zip(snapshots).collect())
}

/// Records the scrapes taken `scraped_at` seconds into the run, and the host's load counters
/// where the executor has them; warns about each failed scrape. Returns the most transactions
/// any validator has committed.
fn keep(
    executor: &mut dyn Executor,
    recording: &mut Recording,
    scraped: Vec<(usize, Result<Snapshot>)>,
    scraped_at: f64,
    progress: &ProgressBar,
) -> f64 {
    if let Some(counters) = executor.host_counters() {
        recording.host.push((scraped_at, counters));
    }
    let mut committed = 0.0f64;
    for (validator, result) in scraped {
        match result {
            Ok(snapshot) => {
                committed = committed.max(snapshot.committed_transactions);
                recording.scrapes.push(ScrapeRecord {
                    validator,
                    elapsed_s: scraped_at,
                    snapshot,
                });
            }
            Err(e) => progress.println(format!("warning: validator {validator}: {e:#}")),
        }
    }
    committed
}

/// Moves the progress bar to `scraped_at` seconds and says the phase and what is committed.
fn show_progress(progress: &ProgressBar, experiment: &Experiment, scraped_at: f64, committed: f64) {
    let in_warmup =
        TimeseriesRow::phase_at(scraped_at, experiment.warmup_s as f64) == TimeseriesRow::WARMUP;
    let phase = if in_warmup { "warm-up" } else { "measuring" };
    progress.set_position(scraped_at.min(experiment.run_seconds() as f64) as u64);
    progress.set_message(format!("{phase}, {committed:.0} tx committed"));
}

/// Sleeps until `next`, waking early when the user interrupts.
fn pause_until(next: Instant) {
    while Instant::now() < next && !interrupt::requested() {
        std::thread::sleep((next - Instant::now()).min(Duration::from_millis(100)));
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::builder::NodeBinary;

    /// A validator that never comes up, whose log says why.
    struct DeadOnArrival;

    impl Executor for DeadOnArrival {
        fn stage(&mut self, _: &NodeBinary, _: &Path) -> Result<()> {
            Ok(())
        }
        fn check_ports(&mut self, _: &[u16]) -> Result<()> {
            Ok(())
        }
        fn start(&mut self, _: &RunOptions) -> Result<()> {
            Ok(())
        }
        fn kill(&mut self, _: usize) -> Result<()> {
            Ok(())
        }
        fn is_alive(&mut self, _: usize) -> Result<bool> {
            Ok(false)
        }
        fn metrics_url(&mut self, _: usize) -> Result<String> {
            // Nothing listens on port 9 of loopback (discard): the fetch fails at once.
            Ok("http://127.0.0.1:9/metrics".into())
        }
        fn stop_all(&mut self) -> Result<()> {
            Ok(())
        }
        fn collect_logs(&mut self, _: &Path) -> Result<()> {
            Ok(())
        }
        fn log_tail(&mut self, _: usize) -> Option<String> {
            Some("ERROR node: cannot write the WAL: No space left on device".into())
        }
    }

    #[test]
    fn a_validator_that_exits_is_reported_with_the_end_of_its_log() {
        let err = wait_ready(&mut DeadOnArrival, &[2]).expect_err("never ready");
        let message = format!("{err:#}");
        assert!(message.contains("validator 2 exited"), "{message}");
        assert!(message.contains("No space left on device"), "{message}");
    }
}
