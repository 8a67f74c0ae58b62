//! Where things are in this workspace: its root, the default settings and results paths.

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
