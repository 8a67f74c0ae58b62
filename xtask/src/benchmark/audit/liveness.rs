//! The `liveness` column: leaders the correct validators committed while the faults were in
//! effect (crashes, and network partitions for their windows; the whole measured window when
//! the run has no fault), from the scraped `node_commit_index`.

use std::fmt;

use crate::benchmark::{
    faults::{FaultEvent, FaultKind},
    recording::Recording,
};

/// Commits made in the faulty part of the measured window.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Liveness {
    /// Leaders committed (by the correct validator that committed the most).
    pub(crate) commits: u64,
    /// Seconds between the scrapes that bound those commits.
    pub(crate) seconds: f64,
    /// Whether the window is the time faults were in effect (else the whole measured window).
    pub(crate) under_faults: bool,
}

impl fmt::Display for Liveness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} commits in {:.1} s", self.commits, self.seconds)?;
        if self.under_faults {
            f.write_str(" under faults")?;
        }
        Ok(())
    }
}

/// The intervals of `[from, to]` during which at least one fault was in effect, merged and in
/// time order: a crashed validator is faulty from its crash until its recovery (or the end);
/// a partition over its window (in `partitions`).
pub(crate) fn faulty_windows(
    faults: &[(FaultEvent, Option<f64>)],
    partitions: &[(f64, f64)],
    from: f64,
    to: f64,
) -> Vec<(f64, f64)> {
    let mut down: Vec<(usize, f64)> = Vec::new();
    let mut windows = Vec::new();
    let mut events: Vec<(f64, &FaultEvent)> = faults
        .iter()
        .filter_map(|(e, applied)| applied.map(|t| (t, e)))
        .collect();
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (at, event) in events {
        match event.event {
            FaultKind::CrashedFromStart | FaultKind::Crash => down.push((event.validator, at)),
            FaultKind::Recover => {
                if let Some(k) = down.iter().position(|(v, _)| *v == event.validator) {
                    let (_, since) = down.remove(k);
                    windows.push((since, at));
                }
            }
        }
    }
    windows.extend(down.into_iter().map(|(_, since)| (since, f64::INFINITY)));
    windows.extend_from_slice(partitions);
    let mut clipped: Vec<(f64, f64)> = windows
        .into_iter()
        .map(|(a, b)| (a.max(from), b.min(to)))
        .filter(|(a, b)| a < b)
        .collect();
    clipped.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut merged: Vec<(f64, f64)> = Vec::new();
    for (a, b) in clipped {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// Liveness over the measured window (from `warmup_s` to the last scrape), counted on the
/// validators in `correct` (neither crashed nor Byzantine at any time). With
/// `faulty_throughout` (Byzantine validators run from the start) the whole window is faulty;
/// `partitions` are the network partitions' windows (seconds since start).
pub(crate) fn liveness(
    recording: &Recording,
    warmup_s: f64,
    correct: &[usize],
    faulty_throughout: bool,
    partitions: &[(f64, f64)],
) -> Liveness {
    let end = recording
        .scrapes
        .iter()
        .map(|r| r.elapsed_s)
        .fold(warmup_s, f64::max);
    let under_faults = faulty_throughout || !recording.faults.is_empty() || !partitions.is_empty();
    let windows = if under_faults && !faulty_throughout {
        faulty_windows(&recording.faults, partitions, warmup_s, end)
    } else {
        vec![(warmup_s, end)]
    };
    let mut total = Liveness {
        commits: 0,
        seconds: 0.0,
        under_faults,
    };
    for (from, to) in windows {
        let best = correct
            .iter()
            .filter_map(|&v| {
                let mut inside = recording
                    .scrapes
                    .iter()
                    .filter(|r| r.validator == v && r.elapsed_s >= from && r.elapsed_s <= to);
                let first = inside.next()?;
                let last = inside.next_back().unwrap_or(first);
                let commits = (last.snapshot.commit_index - first.snapshot.commit_index).max(0.0);
                Some((commits as u64, last.elapsed_s - first.elapsed_s))
            })
            .max_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        if let Some((commits, seconds)) = best {
            total.commits += commits;
            total.seconds += seconds;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{benchmark::recording::ScrapeRecord, metrics::Snapshot};

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

    fn scrapes(validator: usize, per_second: f64, seconds: u32) -> Vec<ScrapeRecord> {
        (0..=seconds)
            .map(|t| ScrapeRecord {
                validator,
                elapsed_s: t as f64,
                snapshot: Snapshot {
                    commit_index: per_second * t as f64,
                    ..Snapshot::default()
                },
            })
            .collect()
    }

    #[test]
    fn crash_windows_run_from_crash_to_recovery_inside_the_measured_window() {
        let faults = vec![
            event(10.0, 3, FaultKind::Crash),
            event(20.0, 3, FaultKind::Recover),
            event(30.0, 3, FaultKind::Crash),
            event(3.0, 2, FaultKind::Crash),
            event(12.0, 2, FaultKind::Recover),
        ];
        assert_eq!(
            faulty_windows(&faults, &[], 5.0, 35.0),
            vec![(5.0, 20.2), (30.2, 35.0)]
        );
        // An event the run did not reach is not applied.
        let unapplied = vec![(
            FaultEvent {
                at_s: 50.0,
                validator: 3,
                event: FaultKind::Crash,
            },
            None,
        )];
        assert!(faulty_windows(&unapplied, &[], 5.0, 35.0).is_empty());
        let permanent = vec![event(0.0, 3, FaultKind::CrashedFromStart)];
        assert_eq!(
            faulty_windows(&permanent, &[], 5.0, 35.0),
            vec![(5.0, 35.0)]
        );
    }

    #[test]
    fn counts_the_most_commits_of_a_correct_validator_in_the_faulty_windows() {
        let mut recording = Recording {
            faults: vec![
                event(10.0, 3, FaultKind::Crash),
                event(20.0, 3, FaultKind::Recover),
            ],
            ..Recording::default()
        };
        recording.scrapes.extend(scrapes(0, 10.0, 30));
        recording.scrapes.extend(scrapes(1, 20.0, 30));
        // Validator 3 restarts: not a correct validator, not counted.
        recording.scrapes.extend(scrapes(3, 100.0, 30));
        let l = liveness(&recording, 5.0, &[0, 1], false, &[]);
        // Scrapes at 11..=20 s inside the window 10.2..20.2 s: 9 s of validator 1.
        assert_eq!((l.commits, l.seconds), (180, 9.0));
        assert_eq!(l.to_string(), "180 commits in 9.0 s under faults");

        // Byzantine validators from the start: the whole window is faulty.
        let l = liveness(&recording, 5.0, &[0, 1], true, &[]);
        assert_eq!(l.to_string(), "500 commits in 25.0 s under faults");

        // A partition from 8 s to 12 s merges with the crash (10.2 s to 20.2 s): 8..=20 s.
        let l = liveness(&recording, 5.0, &[0, 1], false, &[(8.0, 12.0)]);
        assert_eq!(l.to_string(), "240 commits in 12.0 s under faults");

        recording.faults.clear();
        let l = liveness(&recording, 5.0, &[0, 1], false, &[]);
        assert_eq!(l.to_string(), "500 commits in 25.0 s");
        // Partitions alone are faults for their windows.
        let l = liveness(
            &recording,
            5.0,
            &[0, 1],
            false,
            &[(8.0, 12.0), (25.0, 28.0)],
        );
        assert_eq!(l.to_string(), "140 commits in 7.0 s under faults");
        // Nothing committed is reported as such, not hidden.
        let l = liveness(&recording, 5.0, &[], false, &[]);
        assert_eq!(l.to_string(), "0 commits in 0.0 s");
    }
}
