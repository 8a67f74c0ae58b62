//! The `rejoin` column: how long a restarted validator took to follow the committee again,
//! from the scraped `node_last_committed_round` (the restart's applied time until its last
//! committed round is within [`REJOIN_ROUNDS`] of the correct validators' highest).

use std::fmt;

use crate::benchmark::{faults::FaultKind, recording::Recording};

/// A restarted validator has rejoined once its last committed round is at most this many
/// rounds below the correct validators' highest.
pub(crate) const REJOIN_ROUNDS: f64 = 10.0;

/// The slowest rejoin of a run.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Rejoin {
    /// No validator was restarted (in time to be scraped).
    None,
    /// Every restarted validator rejoined; the longest took this many seconds.
    Rejoined(f64),
    /// A restarted validator had not rejoined when it crashed again or the run ended, this
    /// many seconds after its restart.
    NotWithin(f64),
}

impl fmt::Display for Rejoin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => Ok(()),
            Self::Rejoined(s) => write!(f, "{s:.1} s"),
            Self::NotWithin(s) => write!(f, "not within {s:.1} s"),
        }
    }
}

/// The slowest rejoin of the restarts in `recording`, measured against the validators in
/// `correct` (never crashed, not Byzantine).
pub(crate) fn rejoin(recording: &Recording, correct: &[usize]) -> Rejoin {
    let end = recording
        .scrapes
        .iter()
        .map(|r| r.elapsed_s)
        .fold(0.0, f64::max);
    let mut slowest = Rejoin::None;
    for (event, applied) in &recording.faults {
        let (FaultKind::Recover, Some(restart)) = (event.event, *applied) else {
            continue;
        };
        let v = event.validator;
        // Until its next crash, or the end of the run.
        let until = recording
            .faults
            .iter()
            .filter(|(e, _)| e.validator == v && e.event == FaultKind::Crash)
            .filter_map(|(_, at)| *at)
            .filter(|at| *at > restart)
            .fold(end, f64::min);
        let rejoined = recording
            .scrapes
            .iter()
            .filter(|r| r.validator == v && r.elapsed_s >= restart && r.elapsed_s <= until)
            .find(|r| {
                let highest = correct
                    .iter()
                    .filter_map(|&c| {
                        recording
                            .scrapes
                            .iter()
                            .rfind(|o| o.validator == c && o.elapsed_s <= r.elapsed_s)
                    })
                    .map(|o| o.snapshot.last_committed_round)
                    .fold(0.0, f64::max);
                r.snapshot.last_committed_round > 0.0
                    && r.snapshot.last_committed_round + REJOIN_ROUNDS >= highest
            })
            .map(|r| r.elapsed_s - restart);
        slowest = match (slowest, rejoined) {
            (Rejoin::NotWithin(s), _) => Rejoin::NotWithin(s),
            (_, None) => Rejoin::NotWithin(until - restart),
            (Rejoin::Rejoined(s), Some(t)) => Rejoin::Rejoined(s.max(t)),
            (Rejoin::None, Some(t)) => Rejoin::Rejoined(t),
        };
    }
    slowest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        benchmark::{faults::FaultEvent, recording::ScrapeRecord},
        metrics::Snapshot,
    };

    fn event(at_s: f64, validator: usize, event: FaultKind) -> (FaultEvent, Option<f64>) {
        (
            FaultEvent {
                at_s,
                validator,
                event,
            },
            Some(at_s + 0.2),
        )
    }

    /// One scrape a second of `validator`, whose last committed round is `round(t)`.
    fn scrapes(validator: usize, seconds: u32, round: impl Fn(f64) -> f64) -> Vec<ScrapeRecord> {
        (0..=seconds)
            .map(|t| ScrapeRecord {
                validator,
                elapsed_s: t as f64,
                snapshot: Snapshot {
                    last_committed_round: round(t as f64),
                    ..Snapshot::default()
                },
            })
            .collect()
    }

    fn recording(restarted: impl Fn(f64) -> f64) -> Recording {
        let mut recording = Recording {
            faults: vec![
                event(10.0, 3, FaultKind::Crash),
                event(20.0, 3, FaultKind::Recover),
            ],
            ..Recording::default()
        };
        recording.scrapes.extend(scrapes(0, 40, |t| 50.0 * t));
        recording.scrapes.extend(scrapes(1, 40, |t| 50.0 * t - 3.0));
        recording.scrapes.extend(scrapes(3, 40, restarted));
        recording
    }

    #[test]
    fn the_rejoin_ends_when_the_restarted_validator_is_within_a_few_rounds() {
        // Down from 10 s to 20 s, back at its old round, then at the others' from 24 s.
        let r = recording(|t| match t {
            t if t < 10.0 => 50.0 * t,
            t if t < 24.0 => 500.0,
            t => 50.0 * t - 5.0,
        });
        assert_eq!(rejoin(&r, &[0, 1]), Rejoin::Rejoined(24.0 - 20.2));
        assert_eq!(rejoin(&r, &[0, 1]).to_string(), "3.8 s");
    }

    #[test]
    fn a_validator_that_never_catches_up_is_reported() {
        let r = recording(|t| if t < 10.0 { 50.0 * t } else { 500.0 + t });
        assert_eq!(rejoin(&r, &[0, 1]).to_string(), "not within 19.8 s");
        let mut none = r;
        none.faults.truncate(1);
        assert_eq!(rejoin(&none, &[0, 1]), Rejoin::None);
    }
}
