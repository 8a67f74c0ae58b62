//! Owns where a result comes from (the code, the binary, the settings, the protocol
//! parameters and the testbed): the provenance columns of a summary row and how they are found.

use anyhow::Result;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Identifies what produced a run; the first columns of every summary row.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Run identifier (the run directory's name).
    pub run_id: String,
    /// Start of the run, RFC 3339, UTC.
    pub date: String,
    /// Git commit of the workspace that built the node.
    pub git_commit: String,
    /// Whether that working tree had uncommitted changes.
    pub git_dirty: bool,
    /// SHA-256 of the node binary.
    pub node_hash: String,
    /// SHA-256 (first 16 hex digits) of the settings as used (secrets excluded).
    pub settings_hash: String,
    /// SHA-256 (first 16 hex digits) of the protocol parameters the run used.
    pub parameters_hash: String,
    /// Testbed provider.
    pub provider: String,
    /// Regions of the hosts (`;`-separated), or of the latency matrix on the local testbed.
    pub regions: String,
    /// Instance type or plan (`local` on this machine).
    pub instance_type: String,
}

/// First 16 hex digits of the SHA-256 of a serializable value.
pub fn short_hash<T: Serialize>(value: &T) -> Result<String> {
    let bytes = serde_json::to_vec(value)?;
    Ok(hex::encode(Sha256::digest(&bytes))[..16].to_string())
}
