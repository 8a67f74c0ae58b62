//! The fault epoch of a point. Network faults count from the start of the measured window, and
//! every validator must be given that instant before it starts (`--fault-epoch UNIX_MS`, the
//! same on every host): so a point with network faults fixes, before starting anything, the
//! wall-clock time its recording starts (a lead for the validators to come up) and passes the
//! end of the warm-up after it as the epoch. The recording's clock then starts at that time
//! (`recording::record`), whenever the validators were ready.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::experiment::Experiment;

/// When a point's recording starts and its network faults count from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FaultEpoch {
    /// The recording's start (its second 0).
    pub(crate) start: SystemTime,
    /// The end of the warm-up after it, in Unix milliseconds: the node's `--fault-epoch`.
    pub(crate) unix_ms: u64,
}

/// How long validators get to start and serve their metrics before the recording starts:
/// local processes come up in well under a second; remote ones are started one SSH command
/// each.
fn lead(local: bool, validators: usize) -> Duration {
    let validators = validators as u32;
    if local {
        Duration::from_secs(2) + Duration::from_millis(100) * validators
    } else {
        Duration::from_secs(5) + Duration::from_secs(1) * validators
    }
}

/// The epoch of a point of `experiment` planned now, on a local testbed or not; None when it
/// has no network fault.
pub(crate) fn plan(experiment: &Experiment, local: bool) -> Option<FaultEpoch> {
    if experiment.network.faults.is_empty() {
        return None;
    }
    let start = SystemTime::now() + lead(local, experiment.committee);
    let end_of_warmup = start + Duration::from_secs(experiment.warmup_s);
    let unix_ms = end_of_warmup
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Some(FaultEpoch { start, unix_ms })
}
