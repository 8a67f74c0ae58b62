//! Where things are: the workspace root, paths relative to it, and the orchestrator's own
//! cache (built binaries, checkouts, per-testbed state).

use std::path::{Path, PathBuf};

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A path from the settings: absolute as is, relative to the workspace root otherwise.
pub fn resolve(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        root().join(path)
    }
}

/// Where the orchestrator keeps its own state: `$HOME/.cache/consensus-bench`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(".cache/consensus-bench")
}

/// The state of one testbed (its known_hosts): `cache_dir()/testbeds/<testbed_id>`.
pub fn testbed_state_dir(testbed_id: &str) -> PathBuf {
    cache_dir()
        .join("testbeds")
        .join(crate::ssh::shell::path_component(testbed_id))
}
