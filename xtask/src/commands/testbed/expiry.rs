//! The destroy scheduled on this machine at a testbed's deadline, for providers whose dead-man
//! switch does not end the charges (Vultr bills a halted instance like a running one).
//!
//! At the deadline it runs this orchestrator's `testbed destroy --testbed-id ID --yes
//! --expired` with the settings file of the deploy: the instances whose deadline has passed are
//! deleted (not halted), and if instances with a later deadline remain (re-armed by `testbed
//! start --ttl`), that destroy schedules itself again at the earliest of them. It runs as a
//! transient systemd user timer (`systemd-run --user`) where the user has a systemd instance,
//! else as a detached background process (its own session, so closing the terminal does not end
//! it). Either is lost if this machine is off or rebooted at the deadline: `testbed status`
//! then says nothing ends the charges. `testbed destroy` cancels it once nothing is left.
//!
//! The schedule is recorded in the testbed's state directory (`scheduled-destroy`), with its
//! log next to it (`scheduled-destroy.log`).

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};

use crate::workspace::testbed_state_dir;

/// File name of the record in the testbed's state directory.
const RECORD: &str = "scheduled-destroy";
/// File name of the scheduled command's output.
const LOG: &str = "scheduled-destroy.log";

/// How the destroy is scheduled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// A systemd user timer when `systemd-run --user` works, else a background process.
    Auto,
    /// A detached background process that sleeps until the deadline.
    Process,
}

/// A scheduled destroy, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scheduled {
    /// When it runs.
    pub deadline: DateTime<Utc>,
    /// What runs it: `systemd user timer <unit>` or `background process <pid>`.
    pub how: How,
}

/// What runs a scheduled destroy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum How {
    /// A transient systemd user timer of this unit name.
    Timer(String),
    /// A background process (the leader of its own session and process group).
    Process(i32),
}

impl std::fmt::Display for How {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timer(unit) => write!(f, "systemd user timer {unit}.timer"),
            Self::Process(pid) => write!(f, "background process {pid}"),
        }
    }
}

/// The command the schedule runs: `program --settings FILE testbed destroy --testbed-id ID
/// --yes --expired`.
pub fn command(program: &Path, settings_file: &Path, testbed_id: &str) -> Vec<String> {
    [
        program.display().to_string(),
        "--settings".into(),
        settings_file.display().to_string(),
        "testbed".into(),
        "destroy".into(),
        "--testbed-id".into(),
        testbed_id.into(),
        "--yes".into(),
        "--expired".into(),
    ]
    .into()
}

/// The systemd unit name of a testbed's scheduled destroy.
fn unit(testbed_id: &str) -> String {
    format!("consensus-bench-destroy-{testbed_id}")
}

/// Schedules the destroy of `testbed_id` at `deadline` (or at the one already scheduled, if it
/// comes first) with this orchestrator's binary and `settings_file`; returns what was
/// scheduled.
pub fn schedule(
    settings_file: &Path,
    testbed_id: &str,
    deadline: DateTime<Utc>,
    mechanism: Mechanism,
) -> Result<Scheduled> {
    let program = std::env::current_exe()
        .context("cannot find this orchestrator's binary to schedule the destroy with")?;
    schedule_with(&program, settings_file, testbed_id, deadline, mechanism)
}

/// [`schedule`] running `program` (an orchestrator binary).
pub fn schedule_with(
    program: &Path,
    settings_file: &Path,
    testbed_id: &str,
    deadline: DateTime<Utc>,
    mechanism: Mechanism,
) -> Result<Scheduled> {
    let dir = testbed_state_dir(testbed_id);
    let deadline = match scheduled(testbed_id) {
        Some((existing, true)) if existing.deadline < deadline => existing.deadline,
        _ => deadline,
    };
    cancel(testbed_id)?;
    std::fs::create_dir_all(&dir).with_context(|| {
        format!(
            "cannot create the testbed state directory {}",
            dir.display()
        )
    })?;
    let settings_file = std::fs::canonicalize(settings_file).with_context(|| {
        format!(
            "cannot schedule the destroy: settings file {} not found",
            settings_file.display()
        )
    })?;
    let argv = command(program, &settings_file, testbed_id);
    let delay = (deadline - Utc::now()).num_seconds().max(1);
    let how = match mechanism {
        Mechanism::Auto => match systemd_timer(testbed_id, delay, &argv) {
            Some(unit) => How::Timer(unit),
            None => How::Process(background(&dir, delay, &argv)?),
        },
        Mechanism::Process => How::Process(background(&dir, delay, &argv)?),
    };
    let scheduled = Scheduled { deadline, how };
    write_record(&dir.join(RECORD), &scheduled)?;
    Ok(scheduled)
}

/// Starts a transient systemd user timer running `argv` in `delay` seconds; `None` when this
/// user has no systemd instance (or it refused).
fn systemd_timer(testbed_id: &str, delay: i64, argv: &[String]) -> Option<String> {
    let unit = unit(testbed_id);
    let status = Command::new("systemd-run")
        .args(["--user", "--quiet", "--collect"])
        .arg(format!("--unit={unit}"))
        .arg(format!("--on-active={delay}s"))
        .arg("--timer-property=AccuracySec=10s")
        .arg("--")
        .args(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    status.success().then_some(unit)
}

/// Starts `argv` after `delay` seconds in a detached process of its own session, its output
/// appended to the log in `dir`; returns its pid.
fn background(dir: &Path, delay: i64, argv: &[String]) -> Result<i32> {
    use std::os::unix::process::CommandExt;
    let log_path = dir.join(LOG);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let mut command = Command::new("sh");
    command
        .args(["-c", "sleep \"$0\" && exec \"$@\""])
        .arg(delay.to_string())
        .args(argv)
        .stdin(Stdio::null())
        .stdout(log.try_clone().context("cannot share the log file")?)
        .stderr(log);
    // SAFETY: setsid only changes this child's session; it is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let child = command
        .spawn()
        .context("cannot start the background process of the scheduled destroy")?;
    i32::try_from(child.id()).context("process id out of range")
}

/// The scheduled destroy of `testbed_id`, if one is recorded, and whether what runs it is
/// still there.
pub fn scheduled(testbed_id: &str) -> Option<(Scheduled, bool)> {
    let record = read_record(&testbed_state_dir(testbed_id).join(RECORD))?;
    let alive = match &record.how {
        How::Timer(unit) => Command::new("systemctl")
            .args(["--user", "is-active", "--quiet"])
            .arg(format!("{unit}.timer"))
            .status()
            .is_ok_and(|s| s.success()),
        How::Process(pid) => runs_destroy_of(*pid, testbed_id),
    };
    Some((record, alive))
}

/// Cancels the scheduled destroy of `testbed_id`, if any (never the process calling this: a
/// fired destroy cancels its own record only).
pub fn cancel(testbed_id: &str) -> Result<()> {
    let path = testbed_state_dir(testbed_id).join(RECORD);
    if let Some(record) = read_record(&path) {
        match record.how {
            How::Timer(unit) => {
                let _ = Command::new("systemctl")
                    .args(["--user", "stop"])
                    .arg(format!("{unit}.timer"))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
            How::Process(pid) => {
                // SAFETY: getpgrp has no preconditions.
                let own_group = unsafe { libc::getpgrp() };
                if pid != own_group && runs_destroy_of(pid, testbed_id) {
                    // SAFETY: signals the process group the schedule started (checked above
                    // to still run this testbed's destroy).
                    unsafe {
                        libc::kill(-pid, libc::SIGTERM);
                    }
                }
            }
        }
    }
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Whether process `pid` is (still) the scheduled destroy of `testbed_id`: its command line
/// names it (a pid reused by another process is never signalled).
fn runs_destroy_of(pid: i32, testbed_id: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        args.windows(2)
            .any(|w| w[0] == b"--testbed-id" && w[1] == testbed_id.as_bytes())
    })
}

fn write_record(path: &PathBuf, scheduled: &Scheduled) -> Result<()> {
    let how = match &scheduled.how {
        How::Timer(unit) => format!("timer={unit}"),
        How::Process(pid) => format!("pid={pid}"),
    };
    std::fs::write(
        path,
        format!("deadline={}\n{how}\n", scheduled.deadline.timestamp()),
    )
    .with_context(|| format!("cannot record the scheduled destroy in {}", path.display()))
}

fn read_record(path: &Path) -> Option<Scheduled> {
    let text = std::fs::read_to_string(path).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
            .map(str::trim)
    };
    let deadline = DateTime::from_timestamp(field("deadline")?.parse().ok()?, 0)?;
    let how = match (field("timer"), field("pid")) {
        (Some(unit), _) => How::Timer(unit.to_string()),
        (None, Some(pid)) => How::Process(pid.parse().ok()?),
        _ => return None,
    };
    Some(Scheduled { deadline, how })
}

/// Refuses to schedule without a settings file (the embedded default has no cloud).
pub fn settings_file(source: Option<&Path>) -> Result<&Path> {
    match source {
        Some(path) => Ok(path),
        None => bail!(
            "the settings come from no file, so no destroy can be scheduled at the deadline: \
             run `cargo xtask testbed destroy` when done"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_destroys_only_expired_instances_of_the_named_testbed() {
        let argv = command(
            Path::new("/bin/xtask"),
            Path::new("/home/u/settings.json"),
            "old-bench",
        );
        assert_eq!(
            argv.join(" "),
            "/bin/xtask --settings /home/u/settings.json testbed destroy --testbed-id old-bench \
             --yes --expired"
        );
    }

    /// A background schedule is recorded, seen running, never signalled once its pid runs
    /// something else, and cancelled with its whole process group.
    #[test]
    fn a_background_schedule_is_recorded_and_cancelled() {
        let testbed = format!("expiry-test-{:08x}", rand::random::<u32>());
        let dir = tempfile::tempdir().expect("tmp");
        let settings = dir.path().join("settings.json");
        std::fs::write(&settings, "{}").expect("settings");
        let deadline = Utc::now() + chrono::Duration::hours(5);
        let first = schedule_with(
            Path::new("/bin/true"),
            &settings,
            &testbed,
            deadline,
            Mechanism::Process,
        )
        .expect("scheduled");
        let How::Process(pid) = first.how else {
            panic!("a process was asked for: {first:?}")
        };
        let (recorded, alive) = scheduled_now(&testbed);
        assert_eq!(recorded.deadline.timestamp(), deadline.timestamp());
        assert!(alive, "the sleeping process runs the testbed's destroy");
        // An earlier deadline already scheduled is kept by a later schedule.
        let again = schedule_with(
            Path::new("/bin/true"),
            &settings,
            &testbed,
            deadline + chrono::Duration::hours(1),
            Mechanism::Process,
        )
        .expect("scheduled again");
        assert_eq!(again.deadline.timestamp(), deadline.timestamp());
        // The first one was cancelled (it ends within 10 s).
        let ended = (0..1000).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            !runs_destroy_of(pid, &testbed)
        });
        assert!(ended, "the first schedule still runs");
        cancel(&testbed).expect("cancel");
        assert!(scheduled(&testbed).is_none());
        let _ = std::fs::remove_dir_all(testbed_state_dir(&testbed));
    }

    fn scheduled_now(testbed: &str) -> (Scheduled, bool) {
        scheduled(testbed).expect("recorded")
    }
}
