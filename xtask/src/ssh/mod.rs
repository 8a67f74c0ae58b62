//! SSH to a testbed's hosts through the system OpenSSH client, so the user's `~/.ssh/config`
//! and agent apply.
//!
//! - One multiplexed connection per host (ControlMaster), opened by [`SshClient::connect_all`]
//!   with a connect timeout and bounded retries, closed by [`SshClient::disconnect_all`].
//! - Host keys are pinned in the testbed's own known_hosts file
//!   (`StrictHostKeyChecking=accept-new`): a new host is recorded on first contact, a host
//!   whose key changed is refused.
//! - [`SshClient::run_all`] and [`SshClient::for_each`] work on many hosts in parallel with
//!   bounded concurrency; every error names its host.
//!
//! It knows hosts as [`Instance`]s (address, port, user) and takes the key and known_hosts
//! file as [`SshOptions`]: which settings give them is its callers' business.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! # let instances: Vec<xtask::testbed::Instance> = Vec::new();
//! use xtask::ssh::{SshClient, SshOptions};
//! let state = std::path::Path::new("/tmp/my-testbed");
//! let ssh = SshClient::new(SshOptions::new(None, state, "my-testbed"))?;
//! ssh.connect_all(&instances)?; // fails naming every unreachable host
//! for (host, result) in ssh.run_all(&instances, "uname -m") {
//!     println!("{}: {}", host.id, result?.stdout.trim());
//! }
//! # Ok(()) }
//! ```

pub mod process;
pub mod shell;

use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::{failures::Failures, instance::Instance, parallel};

pub use process::Output;

/// How to reach a testbed's hosts.
#[derive(Clone, Debug)]
pub struct SshOptions {
    /// Private key passed with `-i` (the agent and `~/.ssh/config` still apply).
    pub private_key: Option<PathBuf>,
    /// The testbed's own known_hosts file, where host keys are pinned.
    pub known_hosts: PathBuf,
    /// Directory of the ControlMaster sockets (short path: sockets are limited to ~100 bytes).
    pub control_dir: PathBuf,
    /// How long the multiplexed connection outlives its last use.
    pub control_persist: Duration,
    /// TCP connect timeout per attempt.
    pub connect_timeout: Duration,
    /// Attempts to connect to a host before giving up (at least 1).
    pub connect_attempts: u32,
    /// Time limit of one remote command (uploads have their own, see [`SshClient::upload`]).
    pub command_timeout: Duration,
    /// Hosts worked on at once by the parallel operations.
    pub concurrency: usize,
}

impl SshOptions {
    /// Options with the defaults, known_hosts in `state_dir`; `name` tells the control sockets
    /// of different testbeds apart.
    pub fn new(private_key: Option<PathBuf>, state_dir: &Path, name: &str) -> Self {
        let tag = hex::encode(&Sha256::digest(format!("{name}\0{}", state_dir.display()))[..4]);
        // SAFETY: getuid never fails.
        let uid = unsafe { libc::getuid() };
        Self {
            private_key,
            known_hosts: state_dir.join("known_hosts"),
            control_dir: std::env::temp_dir().join(format!("cbssh-{uid}-{tag}")),
            control_persist: Duration::from_secs(600),
            connect_timeout: Duration::from_secs(10),
            connect_attempts: 3,
            command_timeout: Duration::from_secs(120),
            concurrency: 32,
        }
    }
}

/// `user@address:port`, how hosts are named in messages.
pub fn describe(host: &Instance) -> String {
    format!(
        "{}@{}:{}",
        host.ssh_user,
        host.public_ip.as_deref().unwrap_or("<no address>"),
        host.ssh_port
    )
}

/// The SSH and scp client of one testbed.
#[derive(Clone, Debug)]
pub struct SshClient {
    options: SshOptions,
}

impl SshClient {
    /// A client; creates the known_hosts and control socket directories (mode 700).
    pub fn new(options: SshOptions) -> Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        let known_dir = options
            .known_hosts
            .parent()
            .context("the known_hosts path has no directory")?;
        for dir in [known_dir, options.control_dir.as_path()] {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("cannot restrict {}", dir.display()))?;
        }
        Ok(Self { options })
    }

    /// The options in use.
    pub fn options(&self) -> &SshOptions {
        &self.options
    }

    fn common_options(&self) -> Vec<String> {
        let o = &self.options;
        let mut args: Vec<String> = [
            "BatchMode=yes".to_string(),
            "StrictHostKeyChecking=accept-new".into(),
            format!("UserKnownHostsFile={}", o.known_hosts.display()),
            "HashKnownHosts=no".into(),
            format!("ConnectTimeout={}", o.connect_timeout.as_secs().max(1)),
            "ServerAliveInterval=5".into(),
            "ServerAliveCountMax=3".into(),
            "ControlMaster=auto".into(),
            format!("ControlPath={}/%C", o.control_dir.display()),
            format!("ControlPersist={}", o.control_persist.as_secs().max(1)),
            "LogLevel=ERROR".into(),
        ]
        .into_iter()
        .flat_map(|option| ["-o".to_string(), option])
        .collect();
        if let Some(key) = &o.private_key {
            args.extend(["-i".into(), key.display().to_string()]);
        }
        args
    }

    fn address(host: &Instance) -> Result<&str> {
        host.public_ip
            .as_deref()
            .with_context(|| format!("instance {} has no public address", host.id))
    }

    /// `ssh` arguments up to and including the destination.
    fn ssh_args(&self, host: &Instance) -> Result<Vec<String>> {
        let mut args = self.common_options();
        args.extend([
            "-p".into(),
            host.ssh_port.to_string(),
            "-l".into(),
            host.ssh_user.clone(),
            Self::address(host)?.to_string(),
        ]);
        Ok(args)
    }

    /// `scp` destination prefix `user@address:` (IPv6 in brackets).
    fn scp_host(host: &Instance) -> Result<String> {
        let address = Self::address(host)?;
        let address = if address.contains(':') {
            format!("[{address}]")
        } else {
            address.to_string()
        };
        Ok(format!("{}@{address}:", host.ssh_user))
    }

    /// The `ssh` arguments that run `command` on `host` over its multiplexed connection.
    pub fn command_args(&self, host: &Instance, command: &str) -> Result<Vec<String>> {
        let mut args = self.ssh_args(host)?;
        args.extend(["--".into(), command.to_string()]);
        Ok(args)
    }

    /// Starts `command` on `host` over its multiplexed connection and returns the local `ssh`
    /// with its input and output piped, for callers that talk to the command while it runs.
    /// It runs in its own process group (Ctrl-C reaches only the orchestrator); the caller
    /// closes its input and reaps it.
    pub fn session(&self, host: &Instance, command: &str) -> Result<Child> {
        Command::new("ssh")
            .args(self.command_args(host, command)?)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start ssh to {}", describe(host)))
    }

    /// Runs `command` on `host` and returns its output whatever the exit code; an error only
    /// when ssh cannot be run or the command overruns `timeout`.
    pub fn exec(
        &self,
        host: &Instance,
        command: &str,
        io: process::Io,
        timeout: Duration,
    ) -> Result<Output> {
        process::run("ssh", &self.command_args(host, command)?, io, timeout)
            .with_context(|| format!("on {}", describe(host)))
    }

    /// Runs `command` on `host`; an error naming the host, the exit code and the last line of
    /// standard error when it fails.
    pub fn run(&self, host: &Instance, command: &str) -> Result<Output> {
        let output = self.exec(
            host,
            command,
            process::Io::default(),
            self.options.command_timeout,
        )?;
        check(host, output)
    }

    /// Runs `command` on `host` with `input` on its standard input.
    pub fn run_with_input(&self, host: &Instance, command: &str, input: Vec<u8>) -> Result<Output> {
        let io = process::Io {
            stdin: Some(input),
            stdout_file: None,
        };
        let output = self.exec(host, command, io, self.options.command_timeout)?;
        check(host, output)
    }

    /// Runs `command` on `host`, writing its standard output into the local file `local`.
    pub fn run_to_file(&self, host: &Instance, command: &str, local: &Path) -> Result<()> {
        let io = process::Io {
            stdin: None,
            stdout_file: Some(local.to_path_buf()),
        };
        let output = self.exec(host, command, io, self.options.command_timeout)?;
        check(host, output).map(|_| ())
    }

    /// Runs `command` on every host in parallel (at most `concurrency` at once).
    pub fn run_all(&self, hosts: &[Instance], command: &str) -> Vec<(Instance, Result<Output>)> {
        self.for_each(hosts, |host| self.run(host, command))
    }

    /// Applies `f` to every host in parallel (at most `concurrency` at once), in host order.
    pub fn for_each<T, F>(&self, hosts: &[Instance], f: F) -> Vec<(Instance, Result<T>)>
    where
        T: Send,
        F: Fn(&Instance) -> Result<T> + Sync,
    {
        hosts.iter().cloned().zip(self.results(hosts, f)).collect()
    }

    /// [`Self::for_each`]'s results alone, in host order.
    pub fn results<T, F>(&self, hosts: &[Instance], f: F) -> Vec<Result<T>>
    where
        T: Send,
        F: Fn(&Instance) -> Result<T> + Sync,
    {
        parallel::map(hosts, self.options.concurrency, &f, || {
            Err(anyhow::anyhow!("internal error: the worker panicked"))
        })
    }

    /// Opens the multiplexed connection to `host`, retrying a failed connect up to
    /// `connect_attempts` times with a growing pause. A changed host key is not retried.
    pub fn connect(&self, host: &Instance) -> Result<()> {
        let attempts = self.options.connect_attempts.max(1);
        let timeout = self.options.connect_timeout * 2 + Duration::from_secs(5);
        let mut last = String::new();
        for attempt in 1..=attempts {
            let output = self.exec(host, "true", process::Io::default(), timeout);
            match output {
                Ok(o) if o.success() => return Ok(()),
                Ok(o) => {
                    if o.stderr.contains("IDENTIFICATION HAS CHANGED")
                        || o.stderr.contains("Host key verification failed")
                    {
                        bail!(
                            "{}: its host key does not match the one pinned in {}; if the host \
                             was reinstalled, remove its line there and retry",
                            describe(host),
                            self.options.known_hosts.display()
                        );
                    }
                    last = match o.last_error_line() {
                        "" => format!("exit code {:?}", o.code),
                        line => line.to_string(),
                    };
                }
                Err(e) => last = format!("{e:#}"),
            }
            if attempt < attempts {
                std::thread::sleep(Duration::from_millis(500 << (attempt - 1).min(4)));
            }
        }
        bail!(
            "cannot connect to {} after {attempts} attempts: {last}",
            describe(host)
        )
    }

    /// Connects to every host in parallel; an error naming each unreachable host. Connections
    /// that succeeded stay open (close them with [`Self::disconnect_all`]).
    pub fn connect_all(&self, hosts: &[Instance]) -> Result<()> {
        let results = self.for_each(hosts, |host| self.connect(host));
        let (_, failures) = Failures::collect(results, describe);
        failures.check(|n| format!("{n} of {} hosts unreachable", hosts.len()))
    }

    /// Closes the multiplexed connection to `host` (and its port forwards), if open.
    pub fn disconnect(&self, host: &Instance) {
        if let Ok(mut args) = self.ssh_args(host) {
            args.splice(0..0, ["-O".to_string(), "exit".to_string()]);
            let _ = process::run(
                "ssh",
                &args,
                process::Io::default(),
                Duration::from_secs(10),
            );
        }
    }

    /// Closes the connections to every host.
    pub fn disconnect_all(&self, hosts: &[Instance]) {
        self.for_each(hosts, |host| {
            self.disconnect(host);
            Ok(())
        });
    }

    /// Forwards local port `local_port` on 127.0.0.1 to `target_host:target_port` as seen from
    /// `host`, over its multiplexed connection (which must be open).
    pub fn forward(
        &self,
        host: &Instance,
        local_port: u16,
        target_host: &str,
        target_port: u16,
    ) -> Result<()> {
        let mut args = self.ssh_args(host)?;
        args.splice(
            0..0,
            [
                "-O".to_string(),
                "forward".into(),
                "-L".into(),
                format!("127.0.0.1:{local_port}:{target_host}:{target_port}"),
            ],
        );
        let output = process::run(
            "ssh",
            &args,
            process::Io::default(),
            Duration::from_secs(20),
        )
        .with_context(|| format!("on {}", describe(host)))?;
        check(host, output)
            .map(|_| ())
            .with_context(|| format!("cannot forward a port to {target_host}:{target_port}"))
    }

    /// Copies the local file `local` to `remote` on `host` with scp (relative paths are from the
    /// login directory). `timeout` bounds the transfer.
    pub fn upload(
        &self,
        host: &Instance,
        local: &Path,
        remote: &str,
        timeout: Duration,
    ) -> Result<()> {
        let mut args = self.scp_args(host);
        args.extend([
            local.display().to_string(),
            format!("{}{remote}", Self::scp_host(host)?),
        ]);
        let output = process::run("scp", &args, process::Io::default(), timeout)
            .with_context(|| format!("cannot upload {} to {}", local.display(), describe(host)))?;
        check(host, output)
            .map(|_| ())
            .with_context(|| format!("cannot upload {} to {remote}", local.display()))
    }

    /// Copies `remote` on `host` to the local file `local` with scp.
    pub fn download(
        &self,
        host: &Instance,
        remote: &str,
        local: &Path,
        timeout: Duration,
    ) -> Result<()> {
        let mut args = self.scp_args(host);
        args.extend([
            format!("{}{remote}", Self::scp_host(host)?),
            local.display().to_string(),
        ]);
        let output = process::run("scp", &args, process::Io::default(), timeout)
            .with_context(|| format!("cannot download {remote} from {}", describe(host)))?;
        check(host, output)
            .map(|_| ())
            .with_context(|| format!("cannot download {remote}"))
    }

    fn scp_args(&self, host: &Instance) -> Vec<String> {
        let mut args = vec!["-q".to_string(), "-P".into(), host.ssh_port.to_string()];
        args.extend(self.common_options());
        args
    }
}

/// Turns a failed exit into an error naming the host, the exit code and standard error.
fn check(host: &Instance, output: Output) -> Result<Output> {
    if output.success() {
        return Ok(output);
    }
    let what = match output.code {
        Some(255) => "ssh failed".to_string(),
        Some(code) => format!("the command exited with {code}"),
        None => "the command was killed by a signal".to_string(),
    };
    bail!(
        "{}: {what}: {}",
        describe(host),
        match output.last_error_line() {
            "" => "(no error output)",
            line => line,
        }
    )
}
