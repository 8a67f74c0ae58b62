//! Where things are: the workspace root (found at run time from the current directory), paths
//! relative to it, and the orchestrator's own cache (built binaries, checkouts, per-testbed
//! state).
//!
//! The root is the nearest ancestor of the current directory whose `Cargo.toml` carries the
//! [`MARKER`] table, never the directory the orchestrator was compiled in: two clones that
//! share one `CARGO_TARGET_DIR` (and so one `xtask` binary) each build, benchmark and write
//! into their own tree.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The table of the workspace's `Cargo.toml` that marks it as this project's.
pub const MARKER: &str = "[workspace.metadata.consensus-bench]";

/// The workspace the current directory is in.
pub fn root() -> Result<PathBuf> {
    let here = std::env::current_dir().context(
        "cannot read the current directory: run `cargo xtask` from inside the workspace",
    )?;
    root_from(&here)
}

/// The workspace `dir` is in: its nearest ancestor (itself included) whose `Cargo.toml` holds
/// [`MARKER`].
pub fn root_from(dir: &Path) -> Result<PathBuf> {
    for candidate in dir.ancestors() {
        let manifest = candidate.join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        if text.lines().any(|line| line.trim() == MARKER) {
            return Ok(candidate.to_path_buf());
        }
    }
    bail!(
        "{} is not inside a consensus-bench workspace (no Cargo.toml with {MARKER} in it or \
         above it): run `cargo xtask` from inside a clone of the repository",
        dir.display()
    )
}

/// A path from the settings: absolute as is, relative to the workspace root otherwise.
pub fn resolve(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        Ok(root()?.join(path))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_the_nearest_marked_ancestor() {
        let dir = tempfile::tempdir().expect("tmp");
        let outer = dir.path().join("outer");
        let inner = outer.join("clone");
        std::fs::create_dir_all(inner.join("xtask/src")).expect("dirs");
        std::fs::write(outer.join("Cargo.toml"), format!("[workspace]\n{MARKER}\n"))
            .expect("outer manifest");
        std::fs::write(
            inner.join("Cargo.toml"),
            format!("[workspace]\nmembers = [\"node\", \"xtask\"]\n\n{MARKER}\n"),
        )
        .expect("inner manifest");
        std::fs::write(
            inner.join("xtask/Cargo.toml"),
            "[package]\nname = \"xtask\"\n",
        )
        .expect("member manifest");
        assert_eq!(root_from(&inner.join("xtask/src")).expect("found"), inner);
        assert_eq!(root_from(&inner).expect("found"), inner);
    }

    #[test]
    fn outside_any_workspace_it_refuses_with_a_sentence() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("Cargo.toml"), "[workspace]\nmembers = []\n")
            .expect("unmarked manifest");
        let error = root_from(dir.path())
            .expect_err("no marked workspace")
            .to_string();
        assert!(
            error.contains("is not inside a consensus-bench workspace"),
            "{error}"
        );
        assert!(
            error.ends_with("from inside a clone of the repository"),
            "{error}"
        );
    }

    #[test]
    fn this_workspace_is_marked() {
        let root = root().expect("the tests run inside the workspace");
        assert!(
            root.join("xtask/Cargo.toml").is_file(),
            "{}",
            root.display()
        );
        assert!(root.join("node/Cargo.toml").is_file(), "{}", root.display());
    }
}
