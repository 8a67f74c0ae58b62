//! The boot script every cloud instance of a testbed runs (user data): the dead-man switch and
//! the firewall openings the benchmark needs. Shared by the AWS and Vultr providers.
//!
//! User data runs on the first boot only, and a scheduled `shutdown` does not survive a stop
//! and start, so the switch is not a timer of the first boot: the script writes the deadline
//! (UTC, seconds since the epoch) to [`DEADLINE_FILE`] and installs a systemd timer that runs
//! `assets/deadman/check.sh` every minute from every boot and powers the instance off once the
//! deadline has passed. `testbed start` writes a new deadline ([`rearm_command`]).

use chrono::{DateTime, Utc};

/// Where an instance keeps its deadline.
pub const DEADLINE_FILE: &str = "/etc/consensus-bench/deadline";

/// The check the timer runs.
pub const CHECK_SCRIPT: &str = include_str!("../../../assets/deadman/check.sh");
const SERVICE_UNIT: &str = include_str!("../../../assets/deadman/consensus-bench-deadline.service");
const TIMER_UNIT: &str = include_str!("../../../assets/deadman/consensus-bench-deadline.timer");

/// The user-data shell script: installs the dead-man switch with `deadline` (with
/// terminate-on-shutdown on AWS the power-off ends the instance; Vultr instances halt and are
/// found by `testbed destroy`), and opens SSH and `port_ranges` in ufw where it is enabled
/// (Vultr's Ubuntu images ship with it on). `DEADMAN_ROOT` in the environment prefixes every
/// path it writes (tests).
pub fn script(testbed_id: &str, deadline: DateTime<Utc>, port_ranges: &[(u16, u16)]) -> String {
    let epoch = deadline.timestamp();
    let when = deadline.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut script = format!(
        "#!/bin/bash\n\
         # consensus-bench testbed {testbed_id}: the instance powers off at {when}.\n\
         set -u\n\
         root=${{DEADMAN_ROOT:-}}\n\
         install -d -m 755 \"$root/etc/consensus-bench\" \"$root/usr/local/sbin\" \"$root/etc/systemd/system\"\n\
         echo {epoch} >\"$root{DEADLINE_FILE}\"\n\
         cat >\"$root/usr/local/sbin/consensus-bench-deadline\" <<'CONSENSUS_BENCH_EOF'\n\
         {CHECK_SCRIPT}CONSENSUS_BENCH_EOF\n\
         chmod 755 \"$root/usr/local/sbin/consensus-bench-deadline\"\n\
         cat >\"$root/etc/systemd/system/consensus-bench-deadline.service\" <<'CONSENSUS_BENCH_EOF'\n\
         {SERVICE_UNIT}CONSENSUS_BENCH_EOF\n\
         cat >\"$root/etc/systemd/system/consensus-bench-deadline.timer\" <<'CONSENSUS_BENCH_EOF'\n\
         {TIMER_UNIT}CONSENSUS_BENCH_EOF\n\
         systemctl daemon-reload\n\
         systemctl enable --now consensus-bench-deadline.timer\n\
         if command -v ufw >/dev/null 2>&1 && ufw status | grep -q 'Status: active'; then\n\
         \x20 ufw allow 22/tcp\n"
    );
    for (first, last) in port_ranges {
        script.push_str(&format!("  ufw allow {first}:{last}/tcp\n"));
    }
    script.push_str("fi\n");
    script
}

/// The shell command that re-arms the switch of a running instance with `deadline`.
pub fn rearm_command(deadline: DateTime<Utc>) -> String {
    format!(
        "echo {} | sudo tee {DEADLINE_FILE} >/dev/null",
        deadline.timestamp()
    )
}

/// Tests: fails with shellcheck's findings unless `body` (a `shell` script) passes it.
#[cfg(test)]
pub(crate) fn shellcheck(name: &str, body: &str, shell: &str) {
    use std::io::Write;
    let output = std::process::Command::new("shellcheck")
        .args(["--shell", shell, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(body.as_bytes())?;
            child.wait_with_output()
        })
        .expect("shellcheck (Debian package shellcheck; scripts/test installs it)");
    assert!(
        output.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[cfg(test)]
mod tests {
    use std::{path::Path, process::Command};

    use chrono::TimeZone;

    use super::*;

    fn deadline() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 23, 30, 0)
            .single()
            .expect("date")
    }

    /// Runs the installed check with a fake clock, uptime and power-off; whether it powered off.
    fn check(installed: &Path, deadline_file: &Path, now: i64, uptime: i64) -> bool {
        let dir = tempfile::tempdir().expect("temp dir");
        let marker = dir.path().join("powered-off");
        let output = Command::new(installed)
            .env("DEADMAN_DEADLINE_FILE", deadline_file)
            .env("DEADMAN_NOW", now.to_string())
            .env("DEADMAN_UPTIME", uptime.to_string())
            .env("DEADMAN_POWEROFF", format!("touch {}", marker.display()))
            .output()
            .expect("run the check");
        assert!(output.status.success(), "{output:?}");
        marker.exists()
    }

    /// The user data, run for real with its paths under a temporary root and fake `systemctl`
    /// and `ufw`: it installs a deadline, the check and an enabled timer; the check it
    /// installed powers off at the deadline and not before, and gives a boot past the
    /// deadline its grace period.
    #[test]
    fn user_data_installs_a_switch_that_powers_off_at_the_deadline() {
        let root = tempfile::tempdir().expect("temp dir");
        let bin = root.path().join("fake-bin");
        std::fs::create_dir_all(&bin).expect("bin");
        let calls = root.path().join("calls");
        for tool in ["systemctl", "ufw"] {
            let path = bin.join(tool);
            std::fs::write(
                &path,
                format!(
                    "#!/bin/sh\necho {tool} \"$@\" >>{}\n[ \"$1\" = status ] && echo 'Status: active'\nexit 0\n",
                    calls.display()
                ),
            )
            .expect("fake tool");
            Command::new("chmod")
                .arg("755")
                .arg(&path)
                .status()
                .expect("chmod");
        }
        let text = script("bench-1", deadline(), &[(26000, 26999), (27000, 27999)]);
        let status = Command::new("bash")
            .arg("-c")
            .arg(&text)
            .env("DEADMAN_ROOT", root.path())
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    bin.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .status()
            .expect("bash");
        assert!(status.success());
        let file = root.path().join("etc/consensus-bench/deadline");
        let epoch = deadline().timestamp();
        assert_eq!(
            std::fs::read_to_string(&file).expect("deadline").trim(),
            epoch.to_string()
        );
        let calls = std::fs::read_to_string(&calls).expect("calls");
        assert!(
            calls.contains("systemctl enable --now consensus-bench-deadline.timer"),
            "{calls}"
        );
        assert!(calls.contains("ufw allow 26000:26999/tcp"), "{calls}");
        let timer = std::fs::read_to_string(
            root.path()
                .join("etc/systemd/system/consensus-bench-deadline.timer"),
        )
        .expect("timer");
        assert!(timer.contains("OnBootSec=") && timer.contains("WantedBy=timers.target"));
        let installed = root.path().join("usr/local/sbin/consensus-bench-deadline");

        // Before the deadline: nothing. At and after it, during the boot that reached it: off.
        assert!(!check(&installed, &file, epoch - 60, 3600));
        assert!(check(&installed, &file, epoch, 3600));
        assert!(check(&installed, &file, epoch + 7200, 9000));
        // Booted after the deadline (a stopped instance started again): a grace period for
        // `testbed start` to re-arm, then off.
        assert!(!check(&installed, &file, epoch + 7200, 60));
        assert!(check(&installed, &file, epoch + 7200, 900));
        // Re-armed: the new deadline holds.
        std::fs::write(&file, format!("{}\n", epoch + 3 * 3600)).expect("re-arm");
        assert!(!check(&installed, &file, epoch + 7200, 9000));
        // No readable deadline counts as passed.
        std::fs::write(&file, "garbage\n").expect("garble");
        assert!(check(&installed, &file, epoch - 60, 3600));
        std::fs::remove_file(&file).expect("remove");
        assert!(check(&installed, &file, epoch - 60, 3600));
    }

    #[test]
    fn scripts_pass_shellcheck() {
        let text = script("bench-1", deadline(), &[(26000, 26999)]);
        shellcheck("user data", &text, "bash");
        shellcheck("check", CHECK_SCRIPT, "sh");
    }

    #[test]
    fn rearm_writes_the_new_deadline() {
        assert_eq!(
            rearm_command(deadline()),
            format!(
                "echo {} | sudo tee /etc/consensus-bench/deadline >/dev/null",
                deadline().timestamp()
            )
        );
    }
}
