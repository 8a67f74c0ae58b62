//! The fault schedule of a run: which validators crash, and when they come back.

use serde::Serialize;

use crate::experiment::{Experiment, Faults};

/// What happens to a validator (the `event` of `faults.csv`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum FaultKind {
    /// Never started (permanent fault).
    CrashedFromStart,
    /// Killed with SIGKILL.
    Crash,
    /// Restarted from its write-ahead log.
    Recover,
}

crate::value_name::display_as_value_name!(FaultKind);

/// One scheduled event, `at_s` seconds after the validators started.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct FaultEvent {
    pub(crate) at_s: f64,
    pub(crate) validator: usize,
    pub(crate) event: FaultKind,
}

/// The events of one run, in time order: faulty validators crash after `crash_interval` up
/// and recover after `down_time` down, in turn (crash-recovery), or never start (permanent).
pub(crate) fn schedule(experiment: &Experiment) -> Vec<FaultEvent> {
    let faulty: Vec<usize> = (0..experiment.committee)
        .filter(|&i| experiment.is_faulty(i))
        .collect();
    match experiment.faults {
        Faults::None => Vec::new(),
        Faults::Crash { .. } => faulty
            .into_iter()
            .map(|validator| FaultEvent {
                at_s: 0.0,
                validator,
                event: FaultKind::CrashedFromStart,
            })
            .collect(),
        Faults::CrashRecovery {
            interval_s,
            down_time_s,
            ..
        } => {
            let mut events = Vec::new();
            let up = interval_s.max(1);
            let down = down_time_s.max(1);
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
    use crate::experiment::{Network, Protocol};

    fn experiment(faults: Faults) -> Experiment {
        Experiment {
            committee: 4,
            faults,
            byzantine: None,
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
            network: Network::default(),
            plant_fork: None,
            planted_ceiling: Default::default(),
        }
    }

    /// One validator killed every 10 s, down `down_time_s`.
    fn recovery(down_time_s: u64) -> Faults {
        Faults::CrashRecovery {
            validators: 1,
            interval_s: 10,
            down_time_s,
        }
    }

    #[test]
    fn crash_recovery_alternates_within_the_run() {
        let events = schedule(&experiment(recovery(10)));
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
        let e = experiment(recovery(22));
        let times: Vec<(f64, FaultKind)> = schedule(&e).iter().map(|e| (e.at_s, e.event)).collect();
        assert_eq!(
            times,
            vec![(10.0, FaultKind::Crash), (32.0, FaultKind::Recover)]
        );
    }

    #[test]
    fn permanent_faults_are_the_last_validators() {
        let events = schedule(&experiment(Faults::Crash { validators: 1 }));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].validator, 3);
        assert_eq!(events[0].event, FaultKind::CrashedFromStart);
        assert!(schedule(&experiment(Faults::None)).is_empty());
    }
}
