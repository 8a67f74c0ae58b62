//! The deploy attempt: an id that makes a deploy's creates idempotent. A deploy begins one and
//! removes it once everything it planned exists; a deploy that crashed, failed or was
//! interrupted leaves it behind, and the next deploy resumes it, so a create whose answer was
//! lost is answered again by the provider instead of creating twice (AWS client tokens). The
//! attempt keeps its dead-man switch deadline, so a resumed create asks for exactly what the
//! first one did (AWS refuses a client token reused with other parameters); an attempt whose
//! deadline is less than an hour away, or made with other options (`--instances`, `--region`,
//! `--ttl`), is not resumed: a new deploy with new options is a new attempt. `testbed destroy`
//! forgets the attempt once nothing of the testbed is left ([`Attempt::forget`]).

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
    /// The options it was begun with, as words (`--instances 2 --ttl 6`).
    pub options: String,
    /// An unfinished attempt that was not resumed, and why (begun with other options, or too
    /// close to its deadline).
    pub replaced: Option<String>,
    path: PathBuf,
}

impl Attempt {
    /// The unfinished attempt of `testbed_id` if it was begun with the same `options` (the
    /// deploy's options in words, e.g. `--instances 2 --ttl 6`), or a new one with
    /// `deadline`, recorded before anything is created.
    pub fn resume_or_begin(
        testbed_id: &str,
        deadline: DateTime<Utc>,
        options: &str,
    ) -> Result<Self> {
        let path = testbed_state_dir(testbed_id).join(FILE);
        let mut replaced = None;
        if let Some((id, kept, kept_options)) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| parse(&text))
        {
            if kept_options != options {
                replaced = Some(format!(
                    "the unfinished deploy attempt {id} was begun with other options ({}): \
                     starting a new attempt",
                    if kept_options.is_empty() {
                        "not recorded"
                    } else {
                        &kept_options
                    }
                ));
            } else if kept - Utc::now() < Duration::hours(1) {
                replaced = Some(format!(
                    "the unfinished deploy attempt {id} powers off within the hour: starting a \
                     new attempt"
                ));
            } else {
                return Ok(Self {
                    id,
                    resumed: true,
                    deadline: kept,
                    options: kept_options,
                    replaced: None,
                    path,
                });
            }
        }
        let id = hex::encode(rand::thread_rng().gen::<[u8; 8]>());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create directory {}", dir.display()))?;
        }
        std::fs::write(&path, format!("{id} {} {options}\n", deadline.timestamp()))
            .with_context(|| format!("cannot record the deploy attempt in {}", path.display()))?;
        Ok(Self {
            id,
            resumed: false,
            deadline,
            options: options.to_string(),
            replaced,
            path,
        })
    }

    /// Forgets the unfinished attempt of `testbed_id`, if any (`testbed destroy` left nothing
    /// for it to resume).
    pub fn forget(testbed_id: &str) -> Result<()> {
        remove(&testbed_state_dir(testbed_id).join(FILE))
    }

    /// Ends the attempt: everything it planned exists.
    pub fn finish(self) -> Result<()> {
        remove(&self.path)
    }
}

/// Removes `path`; already gone is fine.
fn remove(path: &std::path::Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// `<hex id> <deadline, seconds since the epoch> <options in words>`.
fn parse(text: &str) -> Option<(String, DateTime<Utc>, String)> {
    let mut words = text.split_whitespace();
    let id = words.next()?;
    let deadline = DateTime::from_timestamp(words.next()?.parse().ok()?, 0)?;
    let options = words.collect::<Vec<_>>().join(" ");
    (id.len() <= 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| (id.to_string(), deadline, options))
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
        let options = "--instances 2 --ttl 6";
        let first = Attempt::resume_or_begin(&testbed, later, options).expect("begin");
        assert!(!first.resumed);
        let again = Attempt::resume_or_begin(&testbed, later + Duration::hours(1), options)
            .expect("resume");
        assert!(again.resumed);
        assert_eq!(
            (again.id.as_str(), again.deadline),
            (first.id.as_str(), later)
        );
        again.finish().expect("finish");
        let next = Attempt::resume_or_begin(&testbed, later, options).expect("begin");
        assert!(!next.resumed);
        assert_ne!(next.id, first.id);
        // Too close to its deadline: a new attempt.
        std::fs::write(
            &next.path,
            format!("{} {} {options}\n", next.id, Utc::now().timestamp() + 600),
        )
        .expect("write");
        let fresh = Attempt::resume_or_begin(&testbed, later, options).expect("begin");
        assert!(!fresh.resumed);
        assert_ne!(fresh.id, next.id);
        // Other options: a new attempt, which says why.
        let other =
            Attempt::resume_or_begin(&testbed, later, "--instances 2 --ttl 1").expect("begin");
        assert!(!other.resumed);
        assert_ne!(other.id, fresh.id);
        let why = other.replaced.clone().expect("said");
        assert!(why.contains(&fresh.id) && why.contains("--ttl 6"), "{why}");
        // Forgotten: nothing to resume.
        Attempt::forget(&testbed).expect("forget");
        let after =
            Attempt::resume_or_begin(&testbed, later, "--instances 2 --ttl 1").expect("begin");
        assert!(!after.resumed && after.replaced.is_none());
        after.finish().expect("finish");
        let _ = std::fs::remove_dir_all(testbed_state_dir(&testbed));
    }
}
