//! The deploy attempt: an id that makes a deploy's creates idempotent. A deploy begins one and
//! removes it once everything it planned exists; a deploy that crashed, failed or was
//! interrupted leaves it behind, and the next deploy resumes it, so a create whose answer was
//! lost is answered again by the provider instead of creating twice (AWS client tokens). The
//! attempt keeps its dead-man switch deadline, so a resumed create asks for exactly what the
//! first one did (AWS refuses a client token reused with other parameters); an attempt whose
//! deadline is less than an hour away is not resumed.

use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use rand::Rng;

use crate::workspace::testbed_state_dir;

/// File name of the attempt in the testbed's state directory.
const FILE: &str = "deploy-attempt";

/// A deploy attempt of one testbed.
#[derive(Debug)]
pub struct Attempt {
    /// The id (hex).
    pub id: String,
    /// Whether it was left by an earlier deploy that did not finish.
    pub resumed: bool,
    /// The dead-man switch deadline of what it creates.
    pub deadline: DateTime<Utc>,
    path: PathBuf,
}

impl Attempt {
    /// The unfinished attempt of `testbed_id`, or a new one with `deadline`, recorded before
    /// anything is created.
    pub fn resume_or_begin(testbed_id: &str, deadline: DateTime<Utc>) -> Result<Self> {
        let path = testbed_state_dir(testbed_id).join(FILE);
        if let Some((id, kept)) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| parse(&text))
        {
            if kept - Utc::now() >= Duration::hours(1) {
                return Ok(Self {
                    id,
                    resumed: true,
                    deadline: kept,
                    path,
                });
            }
        }
        let id = hex::encode(rand::thread_rng().gen::<[u8; 8]>());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create directory {}", dir.display()))?;
        }
        std::fs::write(&path, format!("{id} {}\n", deadline.timestamp()))
            .with_context(|| format!("cannot record the deploy attempt in {}", path.display()))?;
        Ok(Self {
            id,
            resumed: false,
            deadline,
            path,
        })
    }

    /// Ends the attempt: everything it planned exists.
    pub fn finish(self) -> Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot remove {}", self.path.display()))
            }
            _ => Ok(()),
        }
    }
}

/// `<hex id> <deadline, seconds since the epoch>`.
fn parse(text: &str) -> Option<(String, DateTime<Utc>)> {
    let mut words = text.split_whitespace();
    let id = words.next()?;
    let deadline = DateTime::from_timestamp(words.next()?.parse().ok()?, 0)?;
    (id.len() <= 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| (id.to_string(), deadline))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An unfinished attempt is resumed with its id and deadline until an hour before that
    /// deadline; a finished one is not.
    #[test]
    fn unfinished_attempts_are_resumed_with_their_deadline() {
        let testbed = format!("attempt-test-{:08x}", rand::random::<u32>());
        let later = DateTime::from_timestamp(Utc::now().timestamp() + 6 * 3600, 0).expect("time");
        let first = Attempt::resume_or_begin(&testbed, later).expect("begin");
        assert!(!first.resumed);
        let again = Attempt::resume_or_begin(&testbed, later + Duration::hours(1)).expect("resume");
        assert!(again.resumed);
        assert_eq!(
            (again.id.as_str(), again.deadline),
            (first.id.as_str(), later)
        );
        again.finish().expect("finish");
        let next = Attempt::resume_or_begin(&testbed, later).expect("begin");
        assert!(!next.resumed);
        assert_ne!(next.id, first.id);
        // Too close to its deadline: a new attempt.
        std::fs::write(
            &next.path,
            format!("{} {}\n", next.id, Utc::now().timestamp() + 600),
        )
        .expect("write");
        let fresh = Attempt::resume_or_begin(&testbed, later).expect("begin");
        assert!(!fresh.resumed);
        assert_ne!(fresh.id, next.id);
        fresh.finish().expect("finish");
        let _ = std::fs::remove_dir_all(testbed_state_dir(&testbed));
    }
}
