//! The deployment wing: given a committee and hosts, it starts, watches, kills and collects
//! validators, here or over SSH (and, next, in a simulator). It knows processes, hosts and
//! files; what is measured and why is the benchmark's.
//!
//! A run makes one [`Deployment`] for its testbed ([`local::LocalDeployment`]: validators as
//! child processes on loopback; [`remote::RemoteDeployment`]: validators on SSH hosts): it
//! reaches and prepares the hosts, names the Rust target they need, installs the built node
//! ([`Deployment::install`]), and at the end stops whatever is left and releases the hosts
//! ([`Deployment::finish`]). For each point the deployment hands out an [`Executor`], which
//! stages the node and the genesis files, checks the ports, starts each validator with the
//! node contract's [`RunOptions`] (validator `i` on host `i mod hosts`:
//! [`crate::experiment::host_index`]), kills and restarts them for the fault schedule, says
//! whether they live and where their metrics are, stops them all and collects their logs.

pub mod local;
pub mod remote;

use std::path::Path;

use anyhow::Result;

use crate::{
    builder::{Build, NodeBinary},
    metrics::host::HostCounters,
    protocol::RunOptions,
};

/// Process control on a testbed for one benchmark run.
pub trait Executor {
    /// Makes the node binary and the genesis files in `genesis` available where validators run.
    fn stage(&mut self, binary: &NodeBinary, genesis: &Path) -> Result<()>;

    /// Checks that the ports the committee needs are free on the hosts.
    fn check_ports(&mut self, ports: &[u16]) -> Result<()>;

    /// Starts (or restarts) a validator, detached from the orchestrator's terminal.
    fn start(&mut self, launch: &RunOptions) -> Result<()>;

    /// Kills a validator abruptly (SIGKILL), as a crash.
    fn kill(&mut self, validator: usize) -> Result<()>;

    /// Whether a validator's process is still alive.
    fn is_alive(&mut self, validator: usize) -> Result<bool>;

    /// The URL of a validator's `/metrics`, reachable from this machine.
    fn metrics_url(&mut self, validator: usize) -> Result<String>;

    /// Stops every process this run started (SIGTERM, then SIGKILL), even after errors.
    fn stop_all(&mut self) -> Result<()>;

    /// Copies the validators' logs into `destination`.
    fn collect_logs(&mut self, destination: &Path) -> Result<()>;

    /// The last lines of a validator's log, to explain why it stopped (`None` when they
    /// cannot be read).
    fn log_tail(&mut self, validator: usize) -> Option<String>;

    /// The load counters of the machine the validators run on, when this testbed records
    /// them (the local testbed: this machine); `None` elsewhere.
    fn host_counters(&mut self) -> Option<HostCounters> {
        None
    }
}

/// How many log lines an unexpected exit shows.
pub const LOG_TAIL_LINES: usize = 5;

/// The last `LOG_TAIL_LINES` non-empty lines of `text`.
pub fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

/// A testbed made ready for a run: its hosts reached and set up, the node installed. Makes one
/// [`Executor`] per point; validator `i` runs on host `i % hosts`.
pub trait Deployment {
    /// The Rust target the hosts need (`None`: this machine's).
    fn target(&self) -> Result<Option<String>>;

    /// Makes the built node available on every host before the first point (or, when the
    /// run reuses what the hosts have, checks that they have exactly this binary).
    fn install(&mut self, build: &Build) -> Result<()>;

    /// An executor for the point named `point`, collecting its logs into `logs`.
    fn executor<'a>(&'a self, point: &str, logs: &Path) -> Result<Box<dyn Executor + 'a>>;

    /// The round trips (ms) from every host to each of `targets` (the hosts, by index),
    /// probed from each host in parallel: per host, per peer index, one entry per probe
    /// (`None`: unanswered), or why that host could not probe. `None` on a testbed without a
    /// network between hosts (the local one).
    fn round_trips(
        &self,
        _targets: &[remote::rtt::Target],
    ) -> Option<Vec<Result<remote::rtt::Samples>>> {
        None
    }

    /// Stops whatever the run left on the hosts, records what was measured about them in
    /// `run_dir` (when it exists) and releases them. Safe to call more than once.
    fn finish(&mut self, run_dir: &Path) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_keeps_the_end_without_blank_lines() {
        let text = "a\nb\n\nc\nd\ne\nf\n\n";
        assert_eq!(last_lines(text), "b\nc\nd\ne\nf");
        assert_eq!(last_lines(""), "");
    }
}
