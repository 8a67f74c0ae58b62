//! The exclusive lock on one testbed's local state: commands that change a testbed (deploy,
//! start, stop, destroy, setup, a remote benchmark's set-up and update) hold it, so two of them
//! never act on one testbed at once from this machine. Read-only commands never take it.
//!
//! The lock is an advisory `flock` on `<testbed state dir>/lock`: the kernel releases it when
//! its holder ends, however it ends, so a lock left by a killed process is simply taken over.
//! The file holds who has it (pid, command, since when), so a second command can say whom it
//! waits for; a clean release empties it, so a record found by the next holder was left by a
//! process that did not end cleanly, and is named.

use std::{
    fs::{File, OpenOptions},
    io::{Read, Seek, SeekFrom, Write},
    os::fd::AsRawFd,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use chrono::Utc;

use crate::workspace::testbed_state_dir;

/// File name of the lock in the testbed's state directory.
const FILE: &str = "lock";

/// Whether a command waits for a lock another one holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// Wait, after a line saying who holds it.
    Wait,
    /// Refuse at once, saying who holds it (`--no-wait`).
    Refuse,
}

impl Waiting {
    /// `Refuse` when `no_wait`.
    pub fn from_no_wait(no_wait: bool) -> Self {
        if no_wait {
            Self::Refuse
        } else {
            Self::Wait
        }
    }
}

/// The lock, held until dropped.
#[derive(Debug)]
pub struct TestbedLock {
    file: File,
    path: PathBuf,
    /// The record a process that did not release the lock cleanly left, when there was one.
    pub taken_over: Option<String>,
}

impl TestbedLock {
    /// Takes the lock of `testbed_id` for `command` (e.g. `testbed deploy`), waiting or
    /// refusing as `waiting` says; lines about waiting and taking over go to standard error.
    pub fn acquire(testbed_id: &str, command: &str, waiting: Waiting) -> Result<Self> {
        let lock = Self::acquire_in(
            &testbed_state_dir(testbed_id),
            testbed_id,
            command,
            waiting,
            &|line| eprintln!("{line}"),
        )?;
        Ok(lock)
    }

    /// Takes the lock kept in `dir` (see [`Self::acquire`]), saying lines to `say`.
    pub fn acquire_in(
        dir: &Path,
        testbed_id: &str,
        command: &str,
        waiting: Waiting,
        say: &dyn Fn(&str),
    ) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| {
            format!(
                "cannot create the testbed state directory {}",
                dir.display()
            )
        })?;
        let path = dir.join(FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open the testbed lock {}", path.display()))?;
        if !flock(&file, libc::LOCK_EX | libc::LOCK_NB)? {
            let holder = describe(&read_record(&mut file));
            let sentence = format!(
                "testbed {testbed_id} is locked by {holder} (lock file {})",
                path.display()
            );
            match waiting {
                Waiting::Refuse => bail!(
                    "{sentence}: another command is changing it; wait until it ends, or run \
                     this command without --no-wait to wait for it"
                ),
                Waiting::Wait => {
                    say(&format!("{sentence}: waiting until it is released"));
                    while !flock(&file, libc::LOCK_EX)? {}
                }
            }
        }
        let left = read_record(&mut file);
        let taken_over = (!left.trim().is_empty()).then(|| describe(&left));
        if let Some(previous) = &taken_over {
            say(&format!(
                "testbed {testbed_id}: taking over the lock left by {previous}, which ended \
                 without releasing it"
            ));
        }
        let record = format!(
            "pid={}\ncommand={command}\nsince={}\n",
            std::process::id(),
            Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)).map(drop))
            .and_then(|()| file.write_all(record.as_bytes()))
            .and_then(|()| file.flush())
            .with_context(|| format!("cannot write the testbed lock {}", path.display()))?;
        Ok(Self {
            file,
            path,
            taken_over,
        })
    }

    /// Where the lock lives.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TestbedLock {
    fn drop(&mut self) {
        // Emptied first: a record found by the next holder means its writer never got here.
        let _ = self.file.set_len(0);
        let _ = flock(&self.file, libc::LOCK_UN);
    }
}

/// `flock(file, operation)`: `Ok(false)` when a non-blocking request finds the lock held or a
/// blocking one is interrupted by a signal (try again).
fn flock(file: &File, operation: libc::c_int) -> Result<bool> {
    // SAFETY: flock on a file descriptor this `File` owns and keeps open.
    let result = unsafe { libc::flock(file.as_raw_fd(), operation) };
    if result == 0 {
        return Ok(true);
    }
    let error = std::io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EWOULDBLOCK) | Some(libc::EINTR) => Ok(false),
        _ => Err(error).context("cannot lock the testbed's state file"),
    }
}

/// The lock file's record as written (empty when released cleanly).
fn read_record(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_string(&mut text));
    text
}

/// `pid 4242 (`testbed deploy`, since 2026-12-05T09:00:00Z)`, or `another process` when the
/// record is empty or unreadable.
fn describe(record: &str) -> String {
    let field = |name: &str| {
        record
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    match (field("pid"), field("command"), field("since")) {
        (Some(pid), Some(command), Some(since)) => {
            format!("pid {pid} (`cargo xtask {command}`, since {since})")
        }
        (Some(pid), _, _) => format!("pid {pid}"),
        _ => "another process".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    fn quiet(_: &str) {}

    /// A second taker is refused with the holder's pid, command and time, or waits until the
    /// first lets go; a clean release leaves nothing to take over.
    #[test]
    fn a_held_lock_names_its_holder_and_is_waited_for() {
        let dir = tempfile::tempdir().expect("tmp");
        let first =
            TestbedLock::acquire_in(dir.path(), "tb", "testbed deploy", Waiting::Wait, &quiet)
                .expect("first");
        assert!(first.taken_over.is_none());
        let err =
            TestbedLock::acquire_in(dir.path(), "tb", "testbed stop", Waiting::Refuse, &quiet)
                .expect_err("held");
        let text = format!("{err:#}");
        assert!(
            text.contains(&format!("pid {}", std::process::id()))
                && text.contains("`cargo xtask testbed deploy`")
                && text.contains("since ")
                && text.contains("--no-wait"),
            "{text}"
        );
        let said = Arc::new(Mutex::new(Vec::<String>::new()));
        let waiter = {
            let dir = dir.path().to_path_buf();
            let said = said.clone();
            std::thread::spawn(move || {
                let say = |line: &str| said.lock().expect("lines").push(line.to_string());
                TestbedLock::acquire_in(&dir, "tb", "testbed destroy", Waiting::Wait, &say)
                    .map(|lock| lock.taken_over.is_none())
            })
        };
        // The waiter says whom it waits for before it gets the lock (bounded: 10 s).
        for _ in 0..1000 {
            if !said.lock().expect("lines").is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let lines = said.lock().expect("lines").clone();
        assert!(
            lines
                .iter()
                .any(|l| l.contains("waiting") && l.contains("testbed deploy")),
            "{lines:?}"
        );
        drop(first);
        let clean = waiter
            .join()
            .expect("thread")
            .expect("acquired after release");
        assert!(clean, "a clean release is not taken over");
    }

    #[test]
    fn records_are_described_in_words() {
        assert_eq!(
            describe("pid=7\ncommand=testbed stop\nsince=2026-12-05T09:00:00Z\n"),
            "pid 7 (`cargo xtask testbed stop`, since 2026-12-05T09:00:00Z)"
        );
        assert_eq!(describe(""), "another process");
        assert_eq!(describe("pid=9\n"), "pid 9");
    }
}
