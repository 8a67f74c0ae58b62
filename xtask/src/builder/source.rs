//! The code a benchmark builds: this workspace's working tree, or another commit of a
//! repository checked out into a cached git worktree, so any commit can be benchmarked without
//! switching branches here.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::{settings::Repository, ssh::shell};

/// A Cargo workspace holding the `node` package, at a known commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The workspace root.
    pub dir: PathBuf,
    /// The commit checked out there (`unknown` outside git).
    pub commit: String,
    /// Whether the working tree has uncommitted changes to tracked files.
    pub dirty: bool,
    /// Cargo target directory for this source (`None`: Cargo's default or `CARGO_TARGET_DIR`).
    pub target_dir: Option<PathBuf>,
}

impl Source {
    /// This workspace's working tree as it is.
    pub fn workspace(root: &Path) -> Self {
        let (commit, dirty) = git_state(root);
        Self {
            dir: root.to_path_buf(),
            commit,
            dirty,
            target_dir: None,
        }
    }
}

/// Resolves the settings' `repository` to a source: this workspace's working tree when there
/// is none, or when it names this workspace's `HEAD`; otherwise that commit checked out under
/// `cache` (a mirror clone per URL in `cache/repos`, a worktree per commit in
/// `cache/checkouts`, a target directory per URL in `cache/targets`).
pub fn resolve(root: &Path, repository: Option<&Repository>, cache: &Path) -> Result<Source> {
    let Some(repository) = repository else {
        return Ok(Source::workspace(root));
    };
    if is_workspace_head(root, repository) {
        return Ok(Source::workspace(root));
    }
    checkout(repository, cache)
}

/// Revision `rev` (a commit, branch or tag) of the repository at `root`, as committed: this
/// working tree when `rev` is its `HEAD` and it has no uncommitted changes, else a checkout of
/// that commit in `cache` (as for [`resolve`]).
pub fn revision(root: &Path, rev: &str, cache: &Path) -> Result<Source> {
    let commit = rev_parse(root, rev).with_context(|| {
        format!(
            "{rev:?} is not a commit, branch or tag of {}: give --base (or --head) as a \
             revision git knows here",
            root.display()
        )
    })?;
    let here = Source::workspace(root);
    if here.commit == commit && !here.dirty {
        return Ok(here);
    }
    checkout(
        &Repository {
            url: root.display().to_string(),
            commit,
        },
        cache,
    )
}

/// Whether `repository` names the commit checked out in the workspace at `root`: a commit
/// hash equal to `HEAD`, or a ref of this very repository (its path or one of its remotes)
/// that resolves to `HEAD`.
fn is_workspace_head(root: &Path, repository: &Repository) -> bool {
    let Ok(head) = git(root, &["rev-parse", "HEAD"]) else {
        return false;
    };
    let head = head.trim();
    let named = rev_parse(root, &repository.commit);
    let is_hash =
        repository.commit.len() >= 7 && repository.commit.chars().all(|c| c.is_ascii_hexdigit());
    if is_hash {
        return named.as_deref() == Some(head);
    }
    same_repository(root, &repository.url) && named.as_deref() == Some(head)
}

/// Whether `url` is the workspace at `root` (its path, as `file://` or plain) or one of its
/// remotes' URLs.
fn same_repository(root: &Path, url: &str) -> bool {
    let normalise = |u: &str| {
        u.trim()
            .trim_start_matches("file://")
            .trim_end_matches('/')
            .trim_end_matches(".git")
            .trim_end_matches('/')
            .to_string()
    };
    let wanted = normalise(url);
    let root_text = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    if normalise(&root_text.display().to_string()) == wanted
        || Path::new(&wanted).canonicalize().ok().as_deref() == Some(root_text.as_path())
    {
        return true;
    }
    git(root, &["remote"])
        .map(|remotes| {
            remotes.lines().any(|remote| {
                git(root, &["remote", "get-url", remote.trim()])
                    .is_ok_and(|u| normalise(&u) == wanted)
            })
        })
        .unwrap_or(false)
}

/// The full hash `rev` names in the repository at `dir`, if any.
fn rev_parse(dir: &Path, rev: &str) -> Option<String> {
    git(
        dir,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )
    .ok()
    .map(|s| s.trim().to_string())
    .filter(|s| !s.is_empty())
}

/// Checks `repository` out at its commit in the cache, cloning or fetching as needed.
fn checkout(repository: &Repository, cache: &Path) -> Result<Source> {
    let key = repository_key(&repository.url);
    let mirror = cache.join("repos").join(format!("{key}.git"));
    let shown = repository.masked_url();
    if !mirror.join("HEAD").is_file() {
        std::fs::create_dir_all(cache.join("repos"))
            .with_context(|| format!("cannot create {}", cache.join("repos").display()))?;
        eprintln!("cloning {shown} into {}", mirror.display());
        let mirror_text = mirror.display().to_string();
        git_masked(
            cache,
            &[
                "clone",
                "--quiet",
                "--mirror",
                &repository.url,
                &mirror_text,
            ],
            repository,
        )
        .with_context(|| format!("cannot clone repository.url {shown}"))?;
    }
    // A full hash already present needs no network; anything else (a branch, a tag, a new
    // commit) is fetched first so it is current.
    let pinned = repository.commit.len() == 40
        && repository.commit.chars().all(|c| c.is_ascii_hexdigit())
        && rev_parse(&mirror, &repository.commit).is_some();
    if !pinned {
        git_masked(
            &mirror,
            &["fetch", "--quiet", "--prune", "origin"],
            repository,
        )
        .with_context(|| format!("cannot fetch repository.url {shown}"))?;
    }
    let commit = rev_parse(&mirror, &repository.commit).with_context(|| {
        format!(
            "repository.commit \"{}\" is not a commit, branch or tag of {shown}",
            repository.commit
        )
    })?;
    let worktree = cache
        .join("checkouts")
        .join(format!("{key}-{}", &commit[..12]));
    if !worktree.join("Cargo.toml").is_file() {
        std::fs::create_dir_all(cache.join("checkouts"))
            .with_context(|| format!("cannot create {}", cache.join("checkouts").display()))?;
        // A checkout interrupted half-way is dropped and made again.
        if worktree.exists() {
            std::fs::remove_dir_all(&worktree)
                .with_context(|| format!("cannot remove {}", worktree.display()))?;
            let _ = git(&mirror, &["worktree", "prune"]);
        }
        let worktree_text = worktree.display().to_string();
        git(
            &mirror,
            &[
                "worktree",
                "add",
                "--quiet",
                "--detach",
                &worktree_text,
                &commit,
            ],
        )
        .with_context(|| {
            format!(
                "cannot check out {} of {shown} into {}",
                repository.commit,
                worktree.display()
            )
        })?;
    }
    Ok(Source {
        dir: worktree,
        commit,
        dirty: false,
        target_dir: Some(cache.join("targets").join(key)),
    })
}

/// A directory name for a repository URL: its last path component and a hash of the URL.
fn repository_key(url: &str) -> String {
    let name = url
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("repository");
    let digest = hex::encode(&Sha256::digest(url.as_bytes())[..6]);
    format!("{}-{digest}", shell::path_component(name))
}

/// The commit checked out in `workspace` ("unknown" outside git) and whether its tracked files
/// have changes.
pub fn git_state(workspace: &Path) -> (String, bool) {
    let commit = git(workspace, &["rev-parse", "HEAD"])
        .map(|out| out.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let dirty = git(
        workspace,
        &["status", "--porcelain", "--untracked-files=no"],
    )
    .is_ok_and(|out| !out.is_empty());
    (commit, dirty)
}

/// Runs git in `dir` and returns its standard output; an error with git's message.
fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let output = duct::cmd("git", args)
        .dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .context("cannot run git")?;
    if !output.status.success() {
        bail!(
            "`git {}` failed: {}",
            args.first().copied().unwrap_or_default(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Like [`git`], with the repository URL masked in the error (it may carry a token).
fn git_masked(dir: &Path, args: &[&str], repository: &Repository) -> Result<String> {
    git(dir, args).map_err(|e| {
        anyhow::anyhow!(
            "{}",
            format!("{e:#}").replace(&repository.url, &repository.masked_url())
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_git(dir: &Path, args: &[&str]) -> String {
        let mut all = vec!["-c", "user.name=test", "-c", "user.email=test@example.com"];
        all.extend_from_slice(args);
        git(dir, &all).expect("git")
    }

    /// A repository with two commits of `Cargo.toml`, the second on branch `next`.
    fn repository() -> (tempfile::TempDir, String, String) {
        let dir = tempfile::tempdir().expect("tmp");
        run_git(dir.path(), &["init", "--quiet", "--initial-branch=main"]);
        std::fs::write(dir.path().join("Cargo.toml"), "first\n").expect("write");
        run_git(dir.path(), &["add", "Cargo.toml"]);
        run_git(dir.path(), &["commit", "--quiet", "-m", "first"]);
        let first = run_git(dir.path(), &["rev-parse", "HEAD"])
            .trim()
            .to_string();
        run_git(dir.path(), &["checkout", "--quiet", "-b", "next"]);
        std::fs::write(dir.path().join("Cargo.toml"), "second\n").expect("write");
        run_git(dir.path(), &["commit", "--quiet", "-am", "second"]);
        let second = run_git(dir.path(), &["rev-parse", "HEAD"])
            .trim()
            .to_string();
        (dir, first, second)
    }

    fn repo(url: &Path, commit: &str) -> Repository {
        Repository {
            url: url.display().to_string(),
            commit: commit.into(),
        }
    }

    #[test]
    fn no_repository_or_this_head_builds_the_working_tree() {
        let (dir, first, second) = repository();
        let cache = tempfile::tempdir().expect("tmp");
        let here = resolve(dir.path(), None, cache.path()).expect("workspace");
        assert_eq!(here.dir, dir.path());
        assert_eq!(here.commit, second);
        assert_eq!(here.target_dir, None);
        // HEAD by hash (any URL), or by name of this very repository.
        for spec in [
            Repository {
                url: "https://example.com/elsewhere.git".into(),
                commit: second.clone(),
            },
            repo(dir.path(), "HEAD"),
            repo(dir.path(), "next"),
        ] {
            let source = resolve(dir.path(), Some(&spec), cache.path()).expect("resolves");
            assert_eq!(source.dir, dir.path(), "{spec:?}");
        }
        assert!(!cache.path().join("repos").exists(), "nothing cloned");
        // Another commit of this repository is checked out elsewhere.
        let other =
            resolve(dir.path(), Some(&repo(dir.path(), &first)), cache.path()).expect("checkout");
        assert_ne!(other.dir, dir.path());
    }

    #[test]
    fn another_commit_is_checked_out_in_the_cache_and_reused() {
        let (origin, first, second) = repository();
        let workspace = tempfile::tempdir().expect("not a repository");
        let cache = tempfile::tempdir().expect("tmp");
        let source = resolve(
            workspace.path(),
            Some(&repo(origin.path(), &first)),
            cache.path(),
        )
        .expect("checkout by hash");
        assert!(source.dir.starts_with(cache.path()));
        assert_eq!(source.commit, first);
        assert!(!source.dirty);
        assert_eq!(
            std::fs::read_to_string(source.dir.join("Cargo.toml")).expect("read"),
            "first\n"
        );
        // A branch is resolved in the clone; the first checkout is left as it was.
        let next = resolve(
            workspace.path(),
            Some(&repo(origin.path(), "next")),
            cache.path(),
        )
        .expect("checkout by branch");
        assert_eq!(next.commit, second);
        assert_eq!(
            std::fs::read_to_string(next.dir.join("Cargo.toml")).expect("read"),
            "second\n"
        );
        assert_eq!(
            std::fs::read_to_string(source.dir.join("Cargo.toml")).expect("read"),
            "first\n"
        );
        assert_eq!(next.target_dir, source.target_dir, "one target dir per URL");
        // Asking again reuses the checkout.
        let again = resolve(
            workspace.path(),
            Some(&repo(origin.path(), &first)),
            cache.path(),
        )
        .expect("again");
        assert_eq!(again, source);
    }

    #[test]
    fn an_unknown_commit_or_url_is_named_without_credentials() {
        let (origin, _, _) = repository();
        let workspace = tempfile::tempdir().expect("tmp");
        let cache = tempfile::tempdir().expect("tmp");
        let err = resolve(
            workspace.path(),
            Some(&repo(origin.path(), "no-such-branch")),
            cache.path(),
        )
        .expect_err("unknown commit");
        assert!(format!("{err:#}").contains("no-such-branch"), "{err:#}");
        let secret = Repository {
            url: "https://s3cr3t-token@127.0.0.1:9/none.git".into(),
            commit: "main".into(),
        };
        let err = resolve(workspace.path(), Some(&secret), cache.path()).expect_err("no server");
        let message = format!("{err:#}");
        assert!(
            message.contains("https://***@127.0.0.1:9/none.git"),
            "{message}"
        );
        assert!(!message.contains("s3cr3t"), "{message}");
    }
}
