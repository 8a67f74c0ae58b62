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
use indicatif::{ProgressBar, ProgressStyle};

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

/// The shell script run on each host. It writes `key=value` lines on standard output and its
/// errors on standard error.
pub fn script(options: &SetupOptions) -> String {
    let mut s = String::from("set -u\nmissing=''\n");
    for tool in &options.tools {
        s.push_str(&format!(
            "command -v {} >/dev/null 2>&1 || missing=\"$missing {}\"\n",
            shell::quote(&tool.command),
            shell::quote(&tool.package)
        ));
    }
    s.push_str(
        "if [ \"$(id -u)\" = 0 ]; then sudo=''; \
         elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo='sudo -n'; \
         else sudo=none; fi\n",
    );
    s.push_str("if [ -n \"$missing\" ]; then\n");
    if options.install_missing {
        s.push_str(
            "  if [ \"$sudo\" = none ]; then echo \"missing:$missing; cannot install them: not root and no password-less sudo\" >&2; exit 3; fi\n\
             \x20 export DEBIAN_FRONTEND=noninteractive\n\
             \x20 $sudo apt-get -o DPkg::Lock::Timeout=300 update -qq >&2 || { echo \"apt-get update failed (installing:$missing)\" >&2; exit 4; }\n\
             \x20 $sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $missing >&2 || { echo \"apt-get install$missing failed\" >&2; exit 4; }\n\
             \x20 echo \"installed=$missing\"\n",
        );
    } else {
        s.push_str("  echo \"missing:$missing (installing is disabled)\" >&2; exit 5\n");
    }
    s.push_str("fi\n");
    // ufw: open SSH and the benchmark ports when it is active (Vultr's images enable it).
    s.push_str("ufw=no\nif command -v ufw >/dev/null 2>&1 && [ \"$sudo\" != none ] && $sudo ufw status 2>/dev/null | grep -q 'Status: active'; then\n");
    s.push_str(
        "  $sudo ufw allow 22/tcp >/dev/null || { echo 'ufw allow 22/tcp failed' >&2; exit 6; }\n",
    );
    for (first, last) in &options.port_ranges {
        s.push_str(&format!(
            "  $sudo ufw allow {first}:{last}/tcp >/dev/null || {{ echo 'ufw allow {first}:{last}/tcp failed' >&2; exit 6; }}\n"
        ));
    }
    s.push_str("  ufw=yes\nfi\necho \"ufw=$ufw\"\n");
    // Open files: the wanted limit if the hard limit allows it (or may be raised), else the
    // hard limit; written to the session file the validators' shell sources.
    s.push_str(&format!(
        "want={want}\nhard=$(ulimit -Hn)\n\
         if ( ulimit -Hn \"$want\" 2>/dev/null; ulimit -n \"$want\" ) 2>/dev/null; then limit=$want\n\
         elif [ \"$hard\" = unlimited ]; then limit=$want\n\
         else limit=$hard; fi\n\
         dir={dir}\n\
         mkdir -p \"$dir\" || {{ echo \"cannot create $dir\" >&2; exit 7; }}\n\
         printf 'ulimit -Hn %s 2>/dev/null || true\\nulimit -n %s\\n' \"$limit\" \"$limit\" > \"$dir/{session}\" || {{ echo \"cannot write $dir/{session}\" >&2; exit 7; }}\n\
         echo \"open_files=$(. \"$dir/{session}\" && ulimit -n)\"\n",
        want = options.open_files,
        dir = shell::quote(&options.state_dir),
        session = SESSION_FILE,
    ));
    // Clock synchronisation.
    s.push_str(
        "clock=unknown\n\
         if command -v timedatectl >/dev/null 2>&1 && v=$(timedatectl show -p NTPSynchronized --value 2>/dev/null); then\n\
         \x20 case \"$v\" in yes) clock=yes ;; no) clock=no ;; esac\n\
         fi\n\
         if [ \"$clock\" = unknown ] && command -v chronyc >/dev/null 2>&1 && out=$(chronyc tracking 2>/dev/null); then\n\
         \x20 if printf '%s\\n' \"$out\" | grep -Eq '^Leap status *: Normal'; then clock=yes; else clock=no; fi\n\
         fi\n\
         echo \"clock=$clock\"\n",
    );
    s
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
    let bar = ProgressBar::new(hosts.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("set-up [{bar:30}] {pos}/{len} hosts {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
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

/// Summarises the results of [`run`].
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

    #[test]
    fn script_is_valid_shell_and_installs_only_what_is_missing() {
        let options = SetupOptions::new(vec![(26000, 26999)]);
        let text = script(&options);
        let status = std::process::Command::new("bash")
            .args(["-n", "-c", &text])
            .status()
            .expect("bash");
        assert!(status.success(), "{text}");
        // apt-get only runs inside the `missing` branch.
        let branch = text.find("if [ -n \"$missing\" ]").expect("branch");
        let install = text.find("apt-get").expect("apt-get");
        assert!(install > branch, "{text}");
        assert!(text.contains("ufw allow 26000:26999/tcp"), "{text}");
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
