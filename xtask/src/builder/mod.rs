//! Builds the node binary with Cargo and identifies it by the hash of its contents.
//!
//! [`source`] decides which code is built (this working tree or another commit), [`target`]
//! for which hosts.

pub mod source;
pub mod target;

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

/// What a benchmark runs: the node for the hosts and one that runs here (for genesis).
#[derive(Clone, Debug)]
pub struct Build {
    /// The code built.
    pub source: source::Source,
    /// The binary the validators run.
    pub node: NodeBinary,
    /// A binary for this machine (the same as `node` unless cross-compiled).
    pub local_tool: NodeBinary,
    /// The oldest glibc `node` runs on (`None`: static, no glibc needed).
    pub minimum_glibc: Option<target::GlibcVersion>,
}

/// Builds `source` for `target` (`None`: this machine), plus a build for this machine when
/// cross-compiling.
pub fn build(source: &source::Source, target: Option<&str>) -> Result<Build> {
    let native = target::native()?;
    let target = target.filter(|t| *t != native);
    let node = build_source(source, target)?;
    let local_tool = match target {
        Some(_) => build_source(source, None)?,
        None => node.clone(),
    };
    let minimum_glibc = target::minimum_glibc(&node.path)?;
    Ok(Build {
        source: source.clone(),
        node,
        local_tool,
        minimum_glibc,
    })
}

/// Builds the node in release mode in the workspace at `workspace` (Cargo reuses the previous
/// build when nothing changed) and returns the binary.
pub fn build_node(workspace: &Path, target: Option<&str>) -> Result<NodeBinary> {
    build_source(&source::Source::workspace(workspace), target)
}

/// Builds the node of `source` for `target` (`None`: this machine's, in Cargo's default
/// directory).
///
/// Clones that share one target directory share Cargo's fingerprint of the node (it names
/// the package by its path inside the workspace), so Cargo can call another clone's build
/// fresh when this clone's files are older than it. A file beside the binary names the
/// workspace it was built from; when it names another (or none), the node's build products
/// are cleaned and the node is built again from this workspace's sources.
fn build_source(source: &source::Source, target: Option<&str>) -> Result<NodeBinary> {
    let executable = cargo_build(source, target)?;
    let built_from = executable.with_extension("workspace");
    let workspace = source
        .dir
        .canonicalize()
        .unwrap_or_else(|_| source.dir.clone());
    let workspace_text = workspace.display().to_string();
    let executable =
        if std::fs::read_to_string(&built_from).ok().as_deref() == Some(workspace_text.as_str()) {
            executable
        } else {
            clean_node(source, target)?;
            cargo_build(source, target)?
        };
    std::fs::write(executable.with_extension("workspace"), &workspace_text).with_context(|| {
        format!(
            "cannot write {} (is the target directory writable?)",
            built_from.display()
        )
    })?;
    NodeBinary::from_path(&executable, target.map(str::to_string))
}

/// Cargo, run in `source`'s workspace and target directory.
fn cargo(source: &source::Source, args: &[&str]) -> duct::Expression {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = duct::cmd(cargo, args).dir(&source.dir);
    if let Some(dir) = &source.target_dir {
        command = command.env("CARGO_TARGET_DIR", dir);
    }
    command
}

/// Removes the node's release build products (not its dependencies').
fn clean_node(source: &source::Source, target: Option<&str>) -> Result<()> {
    let mut args = vec!["clean", "--release", "--package", "node", "--quiet"];
    if let Some(target) = target {
        args.extend(["--target", target]);
    }
    let output = cargo(source, &args)
        .stderr_capture()
        .unchecked()
        .run()
        .with_context(|| format!("cannot run `cargo clean` in {}", source.dir.display()))?;
    if !output.status.success() {
        bail!(
            "`cargo {}` in {} failed: {}; remove the target directory's release/ and build again",
            args.join(" "),
            source.dir.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// `cargo build` of the node in release mode; the executable Cargo reports.
fn cargo_build(source: &source::Source, target: Option<&str>) -> Result<PathBuf> {
    let workspace = &source.dir;
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
        if !target::is_installed(target) {
            bail!(
                "the Rust target {target} is not installed: run `rustup target add {target}` \
                 or choose another --target"
            );
        }
        args.extend(["--target", target]);
    }
    let output = cargo(source, &args)
        .stdout_capture()
        .unchecked()
        .run()
        .with_context(|| format!("cannot run `cargo build` in {}", workspace.display()))?;
    if !output.status.success() {
        bail!(
            "building the node failed (`cargo {}` in {}): see the compiler errors above",
            args.join(" "),
            workspace.display()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    find_executable(&stdout).with_context(|| {
        format!(
            "`cargo build` succeeded but reported no `node` executable in {}",
            workspace.display()
        )
    })
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
    fn builds_the_node_of_another_commit_without_touching_the_workspace() {
        let origin = tempfile::tempdir().expect("tmp");
        let git = |args: &[&str]| {
            let status = std::process::Command::new("git")
                .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
                .args(args)
                .current_dir(origin.path())
                .status()
                .expect("git");
            assert!(status.success(), "git {args:?}");
        };
        std::fs::create_dir(origin.path().join("src")).expect("src");
        std::fs::write(
            origin.path().join("Cargo.toml"),
            "[package]\nname = \"node\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n",
        )
        .expect("manifest");
        let main = origin.path().join("src/main.rs");
        std::fs::write(&main, "fn main() { println!(\"first\"); }\n").expect("main");
        git(&["init", "--quiet"]);
        git(&["add", "."]);
        git(&["commit", "--quiet", "-m", "first"]);
        let first = duct::cmd("git", ["rev-parse", "HEAD"])
            .dir(origin.path())
            .read()
            .expect("rev-parse");
        std::fs::write(&main, "fn main() { println!(\"second\"); }\n").expect("main");
        git(&["commit", "--quiet", "-am", "second"]);

        let workspace = tempfile::tempdir().expect("tmp");
        let cache = tempfile::tempdir().expect("tmp");
        let repository = crate::settings::Repository {
            url: origin.path().display().to_string(),
            commit: first.clone(),
        };
        let source =
            source::resolve(workspace.path(), Some(&repository), cache.path()).expect("checkout");
        let built = build(&source, Some(&target::native().expect("native"))).expect("builds");
        assert_eq!(built.source.commit, first);
        assert!(
            built.node.path.starts_with(cache.path()),
            "{:?}",
            built.node.path
        );
        assert_eq!(
            built.node.target, None,
            "the native target builds without --target"
        );
        assert_eq!(built.local_tool.hash, built.node.hash);
        let printed = duct::cmd(&built.node.path, ["x"]).read().expect("runs");
        assert_eq!(printed, "first");
        assert!(built.minimum_glibc.is_some(), "a gnu build links glibc");
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
