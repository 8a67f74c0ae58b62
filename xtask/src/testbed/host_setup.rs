//! Set-up of a testbed's hosts over SSH, in parallel with a progress bar: installs the tools
//! the orchestrator runs on hosts when (and only when) one is missing, opens the benchmark
//! ports in ufw when it is active, prepares the open-files limit of the validators' session
//! without touching system files, and checks that the clock is synchronised.
//!
//! The validators' launch sources [`SESSION_FILE`] in the host's state directory: it raises
//! the open-files limit of that shell to what the set-up found possible.

use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::failures::Failures;
use crate::progress;

use super::Instance;
use crate::{
    interrupt,
    ssh::{self, process, shell, SshClient},
};

/// The file, in the host's state directory, that a validator's shell sources first.
pub const SESSION_FILE: &str = "session.sh";

/// The host's state directory, relative to the login directory.
pub const DEFAULT_STATE_DIR: &str = "consensus-bench";

/// A command the orchestrator runs on hosts and the Debian package providing it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tool {
    pub command: String,
    pub package: String,
}

impl Tool {
    /// `command` from `package`.
    pub fn new(command: &str, package: &str) -> Self {
        Self {
            command: command.into(),
            package: package.into(),
        }
    }
}

/// The tools the orchestrator uses on hosts: checksums of uploads, archives of logs,
/// stopping validators.
pub fn default_tools() -> Vec<Tool> {
    vec![
        Tool::new("sha256sum", "coreutils"),
        Tool::new("gzip", "gzip"),
        Tool::new("tar", "tar"),
        Tool::new("pkill", "procps"),
    ]
}

/// What the set-up does on each host.
#[derive(Clone, Debug)]
pub struct SetupOptions {
    /// Tools that must be present.
    pub tools: Vec<Tool>,
    /// Install missing tools with apt-get (as root or with password-less sudo). When false, a
    /// missing tool fails the host.
    pub install_missing: bool,
    /// The host's state directory (relative paths are from the login directory).
    pub state_dir: String,
    /// Open-files limit wanted for the validators (the hard limit caps it unless the login
    /// user may raise that too).
    pub open_files: u64,
    /// TCP port ranges to open in ufw when it is active (SSH is always opened).
    pub port_ranges: Vec<(u16, u16)>,
    /// Time limit of the set-up on one host (installs included).
    pub timeout: Duration,
}

impl SetupOptions {
    /// The defaults for a testbed using `port_ranges`.
    pub fn new(port_ranges: Vec<(u16, u16)>) -> Self {
        Self {
            tools: default_tools(),
            install_missing: true,
            state_dir: DEFAULT_STATE_DIR.into(),
            open_files: 65_536,
            port_ranges,
            timeout: Duration::from_secs(900),
        }
    }
}

/// Whether a host's clock is synchronised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClockSync {
    Synchronized,
    NotSynchronized,
    /// Neither timedatectl nor chronyc could tell.
    Unknown,
}

/// What the set-up found and did on one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostReport {
    /// Packages installed now (empty when nothing was missing).
    pub installed: Vec<String>,
    /// Open-files limit of the validators' session.
    pub open_files: u64,
    /// Clock synchronisation.
    pub clock: ClockSync,
    /// Whether ufw was active (and the ports were opened in it).
    pub ufw_opened: bool,
}

/// The set-up run on each host (`bash -s`), after the assignments [`script`] puts before it.
const HOST_SCRIPT: &str = include_str!("../../../assets/setup/host.sh");

/// The shell script run on each host: `assets/setup/host.sh` with its parameters. It writes
/// `key=value` lines on standard output and its errors on standard error.
pub fn script(options: &SetupOptions) -> String {
    let tools: Vec<String> = options
        .tools
        .iter()
        .map(|t| format!("{}:{}", t.command, t.package))
        .collect();
    let ranges: Vec<String> = options
        .port_ranges
        .iter()
        .map(|(first, last)| format!("{first}:{last}"))
        .collect();
    format!(
        "TOOLS={}\nINSTALL_MISSING={}\nPORT_RANGES={}\nOPEN_FILES={}\nSTATE_DIR={}\nSESSION_FILE={}\n{HOST_SCRIPT}",
        shell::quote(&tools.join(" ")),
        if options.install_missing { "yes" } else { "no" },
        shell::quote(&ranges.join(" ")),
        options.open_files,
        shell::quote(&options.state_dir),
        shell::quote(SESSION_FILE),
    )
}

/// Reads the `key=value` lines of the script's output.
pub fn parse_report(stdout: &str) -> Result<HostReport> {
    let mut installed = Vec::new();
    let mut open_files = None;
    let mut clock = None;
    let mut ufw_opened = None;
    for line in stdout.lines() {
        let Some((key, value)) = line.trim().split_once('=') else {
            continue;
        };
        match key {
            "installed" => installed = value.split_whitespace().map(str::to_string).collect(),
            "open_files" => {
                open_files = Some(if value == "unlimited" {
                    u64::MAX
                } else {
                    value
                        .parse()
                        .with_context(|| format!("open-files limit {value:?} is not a number"))?
                })
            }
            "clock" => {
                clock = Some(match value {
                    "yes" => ClockSync::Synchronized,
                    "no" => ClockSync::NotSynchronized,
                    _ => ClockSync::Unknown,
                })
            }
            "ufw" => ufw_opened = Some(value == "yes"),
            _ => {}
        }
    }
    match (open_files, clock, ufw_opened) {
        (Some(open_files), Some(clock), Some(ufw_opened)) => Ok(HostReport {
            installed,
            open_files,
            clock,
            ufw_opened,
        }),
        _ => bail!("the set-up script's report is incomplete: {stdout:?}"),
    }
}

/// Sets up one host: connects (with the client's retries), runs the script, reads its report.
pub fn configure_host(
    ssh: &SshClient,
    host: &Instance,
    options: &SetupOptions,
) -> Result<HostReport> {
    ssh.connect(host)?;
    let io = process::Io {
        stdin: Some(script(options).into_bytes()),
        stdout_file: None,
    };
    let output = ssh.exec(host, "bash -s", io, options.timeout)?;
    if !output.success() {
        bail!(
            "{}: set-up failed (exit code {}): {}",
            ssh::describe(host),
            output.code.map_or("none".into(), |c| c.to_string()),
            match output.last_error_line() {
                "" => "(no error output)",
                line => line,
            }
        );
    }
    parse_report(&output.stdout).with_context(|| ssh::describe(host))
}

/// Sets up every host in parallel with a progress bar; one result per host, in host order.
pub fn run(
    ssh: &SshClient,
    hosts: &[Instance],
    options: &SetupOptions,
) -> Vec<(Instance, Result<HostReport>)> {
    let bar = progress::bar(
        hosts.len() as u64,
        "set-up [{bar:30}] {pos}/{len} hosts {msg}",
    );
    let results = ssh.for_each(hosts, |host| {
        let result = if interrupt::requested() {
            Err(anyhow::anyhow!(
                "{}: not set up (interrupted)",
                ssh::describe(host)
            ))
        } else {
            configure_host(ssh, host, options)
        };
        bar.inc(1);
        bar.set_message(host.id.clone());
        result
    });
    bar.finish_and_clear();
    results
}

/// The outcome of a set-up, for the user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// One line per host set up.
    pub lines: Vec<String>,
    /// Hosts that work but need attention (clock), each naming its host.
    pub warnings: Vec<String>,
    /// Hosts that failed, each naming its host and the cause.
    pub failures: Failures,
}

/// Summarizes the results of [`run`].
pub fn summarize(results: &[(Instance, Result<HostReport>)]) -> Summary {
    let mut summary = Summary::default();
    for (host, result) in results {
        let name = format!("{} ({})", host.id, ssh::describe(host));
        match result {
            Ok(report) => {
                let installed = if report.installed.is_empty() {
                    "nothing installed".to_string()
                } else {
                    format!("installed {}", report.installed.join(" "))
                };
                let clock = match report.clock {
                    ClockSync::Synchronized => "clock synchronised",
                    ClockSync::NotSynchronized => "clock NOT synchronised",
                    ClockSync::Unknown => "clock sync unknown",
                };
                summary.lines.push(format!(
                    "{name}: {installed}, open files {}, {clock}{}",
                    report.open_files,
                    if report.ufw_opened {
                        ", ufw ports opened"
                    } else {
                        ""
                    }
                ));
                match report.clock {
                    ClockSync::Synchronized => {}
                    ClockSync::NotSynchronized => summary.warnings.push(format!(
                        "{name}: the clock is not synchronised (NTP): latencies measured across \
                         hosts may be off"
                    )),
                    ClockSync::Unknown => summary.warnings.push(format!(
                        "{name}: cannot tell whether the clock is synchronised (neither \
                         `timedatectl` nor `chronyc` answered)"
                    )),
                }
            }
            Err(error) => summary.failures.push(name, format!("{error:#}")),
        }
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the set-up script locally with `options`, `PATH` starting with `bin`.
    fn run_locally(options: &SetupOptions, bin: &std::path::Path) -> std::process::Output {
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut child = std::process::Command::new("bash")
            .arg("-s")
            .env("PATH", path)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("bash");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(script(options).as_bytes())
            .expect("script");
        child.wait_with_output().expect("wait")
    }

    /// A fake command in `bin` that appends its arguments to `bin/<name>.calls`.
    fn fake(bin: &std::path::Path, name: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        let file = bin.join(name);
        let calls = bin.join(format!("{name}.calls"));
        std::fs::write(
            &file,
            format!("#!/bin/sh\necho \"$*\" >> '{}'\n{body}\n", calls.display()),
        )
        .expect("fake");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    fn options_in(dir: &std::path::Path) -> SetupOptions {
        let mut options = SetupOptions::new(vec![(26000, 26999), (27000, 27999)]);
        options.state_dir = dir.join("state").display().to_string();
        options.open_files = 1024;
        options
    }

    #[test]
    fn the_script_passes_shellcheck() {
        let text = script(&SetupOptions::new(vec![(26000, 26999)]));
        crate::testbed::user_data::shellcheck("set-up", &text, "bash");
    }

    #[test]
    fn the_script_installs_only_what_is_missing_and_opens_the_ports_in_an_active_ufw() {
        let dir = tempfile::tempdir().expect("tmp");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("bin");
        fake(&bin, "apt-get", "exit 0");
        fake(&bin, "sudo", "[ \"$1\" = -n ] && shift; exec \"$@\"");
        fake(
            &bin,
            "ufw",
            "[ \"$1\" = status ] && echo 'Status: active'; exit 0",
        );
        fake(&bin, "timedatectl", "echo yes");
        let mut options = options_in(dir.path());
        options
            .tools
            .push(Tool::new("no-such-command-here", "the-package"));
        let output = run_locally(&options, &bin);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report = parse_report(&stdout).expect("report");
        assert_eq!(report.installed, ["the-package"]);
        assert_eq!(report.open_files, 1024);
        assert_eq!(report.clock, ClockSync::Synchronized);
        assert!(report.ufw_opened);
        let apt = std::fs::read_to_string(bin.join("apt-get.calls")).expect("apt-get ran");
        assert!(
            apt.contains("install") && apt.ends_with(" the-package\n"),
            "{apt}"
        );
        let ufw = std::fs::read_to_string(bin.join("ufw.calls")).expect("ufw ran");
        for allowed in [
            "allow 22/tcp",
            "allow 26000:26999/tcp",
            "allow 27000:27999/tcp",
        ] {
            assert!(ufw.contains(allowed), "{ufw}");
        }
        let session = dir.path().join("state").join(SESSION_FILE);
        assert!(std::fs::read_to_string(session)
            .expect("session")
            .contains("ulimit -n 1024"));
    }

    #[test]
    fn a_missing_tool_with_installing_disabled_fails_the_host_and_installs_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("bin");
        fake(&bin, "apt-get", "exit 0");
        let mut options = options_in(dir.path());
        options.install_missing = false;
        options
            .tools
            .push(Tool::new("no-such-command-here", "the-package"));
        let output = run_locally(&options, &bin);
        assert_eq!(output.status.code(), Some(5));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("missing: the-package (installing is disabled)"),
            "{stderr}"
        );
        assert!(!bin.join("apt-get.calls").exists(), "apt-get ran");
        // Everything present: nothing installed, no ufw on this machine's PATH is needed.
        let output = run_locally(&options_in(dir.path()), &bin);
        let report = parse_report(&String::from_utf8_lossy(&output.stdout)).expect("report");
        assert!(report.installed.is_empty());
    }

    #[test]
    fn parses_reports() {
        let report = parse_report("installed= gzip tar\nufw=no\nopen_files=65536\nclock=no\n")
            .expect("report");
        assert_eq!(report.installed, ["gzip", "tar"]);
        assert_eq!(report.open_files, 65536);
        assert_eq!(report.clock, ClockSync::NotSynchronized);
        assert!(!report.ufw_opened);
        assert!(parse_report("ufw=no\nclock=yes\n").is_err());
    }
}
