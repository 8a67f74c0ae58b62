//! The measured part of a run: readiness, scraping every validator on a fixed interval, and
//! applying the fault schedule.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use anyhow::{bail, Result};
use indicatif::ProgressBar;

use super::{
    executor::{Executor, Launch},
    faults::{FaultEvent, FaultKind},
    plan::Plan,
};
use crate::{
    interrupt,
    measurement::{host::HostCounters, scrape, Snapshot},
    protocol::files::log_file,
};

/// How long validators may take to serve their metrics after starting.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// One successful scrape.
#[derive(Clone, Debug)]
pub struct ScrapeRecord {
    pub validator: usize,
    /// Seconds since the validators started.
    pub elapsed_s: f64,
    pub snapshot: Snapshot,
}

/// Everything observed during one run.
#[derive(Debug, Default)]
pub struct Recording {
    pub scrapes: Vec<ScrapeRecord>,
    /// Each scheduled event with the time it was applied (`None`: the run ended first).
    pub faults: Vec<(FaultEvent, Option<f64>)>,
    /// The user interrupted the run.
    pub interrupted: bool,
    /// The host's load counters at each scrape (seconds since start), where recorded.
    pub host: Vec<(f64, HostCounters)>,
}

/// ", whose last lines are:" and the end of validator `i`'s log, or nothing when it cannot be
/// read.
fn tail(executor: &mut dyn Executor, i: usize) -> String {
    match executor.log_tail(i) {
        Some(lines) if !lines.is_empty() => format!(", which ends with:\n{lines}"),
        _ => String::new(),
    }
}

/// Waits until every validator in `validators` serves its metrics.
pub fn wait_ready(executor: &mut dyn Executor, validators: &[usize]) -> Result<()> {
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
pub fn measure(
    executor: &mut dyn Executor,
    plan: &Plan,
    launches: &BTreeMap<usize, Launch>,
    schedule: &[FaultEvent],
    progress: &ProgressBar,
) -> Result<Recording> {
    let agent = scrape::agent();
    let start = Instant::now();
    let total = plan.run_seconds() as f64;
    let interval = Duration::from_secs_f64(plan.scrape_interval_s);
    let mut recording = Recording {
        faults: schedule.iter().map(|e| (e.clone(), None)).collect(),
        ..Recording::default()
    };
    let mut up: Vec<usize> = launches.keys().copied().collect();
    let mut tick = 0u32;
    loop {
        let elapsed = start.elapsed().as_secs_f64();
        for (event, applied) in recording.faults.iter_mut() {
            if applied.is_none() && event.at_s <= elapsed {
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
        }
        for &i in &up {
            if !executor.is_alive(i)? {
                bail!(
                    "validator {i} died {elapsed:.1} s into the run (not a scheduled fault): see {}{}",
                    log_file(i),
                    tail(executor, i)
                );
            }
        }
        let urls: Vec<(usize, String)> = up
            .iter()
            .map(|&i| executor.metrics_url(i).map(|url| (i, url)))
            .collect::<Result<_>>()?;
        let scraped: Vec<(usize, Result<Snapshot>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = urls
                .iter()
                .map(|(i, url)| {
                    let agent = &agent;
                    (*i, scope.spawn(move || scrape::scrape(agent, url)))
                })
                .collect();
            handles
                .into_iter()
                .map(|(i, h)| {
                    let result = h
                        .join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("scraper thread panicked")));
                    (i, result)
                })
                .collect()
        });
        let scraped_at = start.elapsed().as_secs_f64();
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
        let phase = if scraped_at < plan.warmup_s as f64 {
            "warm-up"
        } else {
            "measuring"
        };
        progress.set_position(scraped_at.min(total) as u64);
        progress.set_message(format!("{phase}, {committed:.0} tx committed"));
        if scraped_at >= total {
            break;
        }
        if interrupt::requested() {
            recording.interrupted = true;
            break;
        }
        tick += 1;
        let next = start + interval * tick;
        while Instant::now() < next && !interrupt::requested() {
            std::thread::sleep((next - Instant::now()).min(Duration::from_millis(100)));
        }
    }
    Ok(recording)
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
        fn start(&mut self, _: &Launch) -> Result<()> {
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
