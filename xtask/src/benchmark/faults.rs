//! The fault schedule of a run: which validators crash, and when they come back.

use serde::Serialize;

use super::experiment::{Experiment, FaultMode};

/// What happens to a validator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// Never started (permanent fault).
    CrashedFromStart,
    /// Killed with SIGKILL.
    Crash,
    /// Restarted from its write-ahead log.
    Recover,
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::CrashedFromStart => "crashed-from-start",
            Self::Crash => "crash",
            Self::Recover => "recover",
        })
    }
}

/// One scheduled event, `at_s` seconds after the validators started.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaultEvent {
    pub at_s: f64,
    pub validator: usize,
    pub event: FaultKind,
}

/// The events of one run, in time order: faulty validators crash after `crash_interval` up
/// and recover after `down_time` down, in turn (crash-recovery), or never start (permanent).
pub fn schedule(experiment: &Experiment) -> Vec<FaultEvent> {
    let faulty: Vec<usize> = (0..experiment.committee)
        .filter(|&i| experiment.is_faulty(i))
        .collect();
    match experiment.fault_mode {
        FaultMode::None => Vec::new(),
        FaultMode::Permanent => faulty
            .into_iter()
            .map(|validator| FaultEvent {
                at_s: 0.0,
                validator,
                event: FaultKind::CrashedFromStart,
            })
            .collect(),
        FaultMode::CrashRecovery => {
            let mut events = Vec::new();
            let up = experiment.crash_interval_s.max(1);
            let down = experiment.down_time_s.max(1);
            let mut at = up;
            let mut event = FaultKind::Crash;
            while at < experiment.run_seconds() {
                for &validator in &faulty {
                    events.push(FaultEvent {
                        at_s: at as f64,
                        validator,
                        event,
                    });
                }
                (at, event) = match event {
                    FaultKind::Crash => (at + down, FaultKind::Recover),
                    _ => (at + up, FaultKind::Crash),
                };
            }
            events
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::benchmark::experiment::Protocol;

    fn experiment(faults: usize, mode: FaultMode) -> Experiment {
        Experiment {
            committee: 4,
            faults,
            fault_mode: mode,
            crash_interval_s: 10,
            down_time_s: 10,
            loads: vec![1000],
            repeat: 1,
            transaction_size: 512,
            warmup_s: 5,
            duration_s: 30,
            scrape_interval_s: 1.0,
            protocol: Protocol {
                wave_length: 3,
                leaders: 1,
                leader_wait: true,
                leader_timeout_ms: 1000,
            },
            latency_matrix: None,
            plant_fork: None,
            byzantine: 0,
            behaviour: None,
        }
    }

    #[test]
    fn crash_recovery_alternates_within_the_run() {
        let events = schedule(&experiment(1, FaultMode::CrashRecovery));
        let summary: Vec<(f64, usize, FaultKind)> = events
            .iter()
            .map(|e| (e.at_s, e.validator, e.event))
            .collect();
        assert_eq!(
            summary,
            vec![
                (10.0, 3, FaultKind::Crash),
                (20.0, 3, FaultKind::Recover),
                (30.0, 3, FaultKind::Crash),
            ]
        );
    }

    #[test]
    fn a_down_time_longer_than_the_interval_delays_the_recovery() {
        let mut e = experiment(1, FaultMode::CrashRecovery);
        e.down_time_s = 22;
        let times: Vec<(f64, FaultKind)> = schedule(&e).iter().map(|e| (e.at_s, e.event)).collect();
        assert_eq!(
            times,
            vec![(10.0, FaultKind::Crash), (32.0, FaultKind::Recover)]
        );
    }

    #[test]
    fn permanent_faults_are_the_last_validators() {
        let events = schedule(&experiment(1, FaultMode::Permanent));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].validator, 3);
        assert_eq!(events[0].event, FaultKind::CrashedFromStart);
        assert!(schedule(&experiment(0, FaultMode::None)).is_empty());
    }
}
