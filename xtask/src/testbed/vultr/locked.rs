//! Instances Vultr keeps locked. A new instance goes `server_status` none -> locked ->
//! installingbooting -> ok; while it is `none` or `locked`, deleting or powering it answers
//! `500 "Server is currently locked"` (see the Vultr notes in cloud-apis.md). The lock usually
//! clears within minutes: the action is retried until then, with a line per instance.

use std::time::{Duration, Instant};

use super::client::{ApiError, Progress};
use crate::testbed::Instance;

/// How long an action on a locked instance is retried.
#[derive(Clone, Debug)]
pub struct LockWait {
    /// Waiting longer than this gives up (the error says to run the command again).
    pub limit: Duration,
    /// Pause before the first retry; doubled at each further one.
    pub first_pause: Duration,
    /// Longest pause between two retries.
    pub max_pause: Duration,
}

impl Default for LockWait {
    fn default() -> Self {
        Self {
            limit: Duration::from_secs(15 * 60),
            first_pause: Duration::from_secs(1),
            max_pause: Duration::from_secs(15),
        }
    }
}

/// Runs `action` (`what`: "delete", "halt", ...) on `instance` until Vultr no longer answers
/// that it is locked, or `wait.limit` has passed.
pub fn retry_while_locked(
    progress: &Progress,
    wait: &LockWait,
    instance: &Instance,
    what: &str,
    action: impl Fn() -> Result<(), ApiError>,
) -> Result<(), String> {
    let started = Instant::now();
    let mut pause = wait.first_pause.max(Duration::from_millis(1));
    loop {
        match action() {
            Ok(()) => return Ok(()),
            Err(error) if error.is_locked() => {
                let waited = started.elapsed();
                if waited + pause > wait.limit {
                    return Err(format!(
                        "{error}; still locked after {} s: Vultr is still installing it, run \
                         the command again in a few minutes",
                        waited.as_secs()
                    ));
                }
                progress.say(&format!(
                    "instance {} ({}): locked while Vultr installs it; {what} again in {:.1} s \
                     (waited {} s of at most {} s)",
                    instance.id,
                    instance.region,
                    pause.as_secs_f64(),
                    waited.as_secs(),
                    wait.limit.as_secs()
                ));
                std::thread::sleep(pause);
                pause = (pause * 2).min(wait.max_pause.max(Duration::from_millis(1)));
            }
            Err(error) => return Err(error.to_string()),
        }
    }
}
