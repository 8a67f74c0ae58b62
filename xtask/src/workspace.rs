//! Where things are: the workspace root, the default settings and results paths, and the
//! orchestrator's own cache (built binaries, checkouts, per-testbed state).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::settings::{LoadedSettings, Settings};

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Loads the settings named on the command line, else `settings.json` in the workspace root,
/// else the embedded local testbed.
pub fn load_settings(explicit: Option<&Path>) -> Result<LoadedSettings> {
    let default = root().join("settings.json");
    let path = match explicit {
        Some(path) => Some(path.to_path_buf()),
        None if default.is_file() => Some(default),
        None => None,
    };
    match path {
        Some(path) => Settings::load(&path).with_context(|| "invalid settings".to_string()),
        None => Ok(Settings::local_default().validate()?),
    }
}

/// The directory benchmark results go to.
pub fn results_directory(settings: &Settings) -> PathBuf {
    settings
        .results_directory
        .as_deref()
        .map_or_else(|| root().join("results"), resolve)
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
