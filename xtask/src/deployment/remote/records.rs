//! `hosts.csv`: what a remote run recorded about each host.

use serde::{Deserialize, Serialize};

/// File name inside the run directory.
pub const HOSTS_FILE: &str = "hosts.csv";

/// One host of a remote run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HostRow {
    pub run_id: String,
    /// The address results name the host by.
    pub host: String,
    /// `user@address:port`.
    pub ssh: String,
    pub region: String,
    pub instance_type: String,
    /// `uname -m`.
    pub arch: String,
    /// The glibc version (`none`: no glibc).
    pub glibc: String,
    /// Absolute working directory on the host.
    pub working_directory: String,
    /// Host clock minus this machine's, in ms, measured before the run.
    pub clock_offset_ms: Option<f64>,
    /// The offset is known to within this (half the best round trip).
    pub clock_uncertainty_ms: Option<f64>,
    /// SHA-256 of the node binary the host ran.
    pub node_hash: String,
    /// Bytes of the compressed binary sent to the host (0: it already had it).
    pub binary_bytes_sent: u64,
    /// Seconds the host's update took (check, and transfer and unpack when needed).
    pub update_s: f64,
    /// Bytes of genesis files sent over the whole run.
    pub config_bytes_sent: u64,
    /// Bytes of compressed logs received over the whole run.
    pub log_bytes_received: u64,
    /// How metrics were scraped: `direct` or `ssh` (empty: never scraped).
    pub metrics_route: String,
    /// Validator runs on this host over the whole run (a restart counts again).
    pub validator_starts: u64,
    /// ERROR lines in its validators' logs.
    pub log_errors: u64,
    /// WARN lines in its validators' logs.
    pub log_warnings: u64,
    /// Panics in its validators' logs.
    pub log_panics: u64,
}
