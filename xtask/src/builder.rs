//! Builds the node binary with Cargo and identifies it by the hash of its contents.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

/// A built node binary.
#[derive(Clone, Debug)]
pub struct NodeBinary {
    /// Where Cargo left it.
    pub path: PathBuf,
    /// SHA-256 of its contents, hex.
    pub hash: String,
    /// Target triple it was built for (`None`: this machine's).
    pub target: Option<String>,
}

impl NodeBinary {
    /// Identifies an existing binary.
    pub fn from_path(path: &Path, target: Option<String>) -> Result<Self> {
        Ok(Self {
            path: path.to_path_buf(),
            hash: file_sha256(path)?,
            target,
        })
    }

    /// The first 16 hex digits of the hash, for file names.
    pub fn short_hash(&self) -> &str {
        &self.hash[..16.min(self.hash.len())]
    }
}

/// SHA-256 of a file, hex.
pub fn file_sha256(path: &Path) -> Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hex::encode(hasher.finalize()))
}

/// Builds the node in release mode in the workspace at `workspace` (Cargo reuses the previous
/// build when nothing changed) and returns the binary.
pub fn build_node(workspace: &Path, target: Option<&str>) -> Result<NodeBinary> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut args = vec![
        "build",
        "--release",
        "--package",
        "node",
        "--bin",
        "node",
        "--message-format=json-render-diagnostics",
    ];
    if let Some(target) = target {
        args.extend(["--target", target]);
    }
    let output = duct::cmd(&cargo, &args)
        .dir(workspace)
        .stdout_capture()
        .unchecked()
        .run()
        .with_context(|| format!("cannot run `{cargo} build` in {}", workspace.display()))?;
    if !output.status.success() {
        bail!(
            "building the node failed (`cargo {}` in {}): see the compiler errors above",
            args.join(" "),
            workspace.display()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let executable = find_executable(&stdout).with_context(|| {
        format!(
            "`cargo build` succeeded but reported no `node` executable in {}",
            workspace.display()
        )
    })?;
    NodeBinary::from_path(&executable, target.map(str::to_string))
}

/// Finds the `node` binary in Cargo's JSON messages.
fn find_executable(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "node")
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_node_executable_in_cargo_messages() {
        let messages = r#"{"reason":"compiler-artifact","target":{"name":"blake3","kind":["lib"]},"executable":null}
{"reason":"compiler-artifact","target":{"name":"node","kind":["bin"]},"executable":"/t/release/node"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            find_executable(messages),
            Some(PathBuf::from("/t/release/node"))
        );
        assert_eq!(find_executable("{\"reason\":\"build-finished\"}"), None);
    }

    #[test]
    fn hashes_file_contents() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").expect("write");
        assert_eq!(
            file_sha256(&path).expect("hash"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
