//! Owns where a result comes from (the code, the binary, the settings, the protocol
//! parameters and the testbed): the provenance columns of a summary row and how they are found.

use std::path::Path;

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

/// The commit checked out in `workspace` and whether the tree is dirty (`unknown`, false
/// outside a git checkout).
pub fn git_state(workspace: &Path) -> (String, bool) {
    let commit = git_output(workspace, &["rev-parse", "HEAD"])
        .map(|out| out.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let dirty = git_output(
        workspace,
        &["status", "--porcelain", "--untracked-files=no"],
    )
    .is_some_and(|out| !out.is_empty());
    (commit, dirty)
}

/// What a successful git command printed, `None` if it failed or git is missing.
fn git_output(workspace: &Path, args: &[&str]) -> Option<String> {
    duct::cmd("git", args)
        .dir(workspace)
        .stdout_capture()
        .stderr_null()
        .unchecked()
        .run()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// First 16 hex digits of the SHA-256 of a serializable value.
pub fn short_hash<T: Serialize>(value: &T) -> Result<String> {
    let bytes = serde_json::to_vec(value)?;
    Ok(hex::encode(Sha256::digest(&bytes))[..16].to_string())
}
