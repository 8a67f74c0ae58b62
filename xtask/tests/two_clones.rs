//! Two clones of the repository sharing one `CARGO_TARGET_DIR` (and so one orchestrator
//! binary): each benchmarks its own node into its own `results/`, and the orchestrator refuses
//! to run outside any clone.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use xtask::{results::SummaryRow, settings::SettingsFile};

mod common;

/// The target directory the tests were built in (Cargo's `CARGO_TARGET_TMPDIR` is `tmp/` in it).
fn shared_target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target directory")
        .to_path_buf()
}

/// Runs git with a fixed identity in `dir`.
fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A clone of this working tree (its tracked files as they are now) in `dest`, committed as a
/// repository of its own, with a `settings.json` giving it free ports.
fn clone_into(dest: &Path, edit: impl FnOnce(&Path)) -> String {
    let root = xtask::workspace::root().expect("the tests run inside the workspace");
    for file in git(&root, &["ls-files"]).lines() {
        let from = root.join(file);
        if !from.is_file() || file.starts_with("results/") {
            continue;
        }
        let to = dest.join(file);
        std::fs::create_dir_all(to.parent().expect("a file has a parent")).expect("mkdir");
        std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("copy {file}: {e}"));
    }
    edit(dest);
    let mut settings = SettingsFile::local_default();
    settings.base_port = common::free_base_port(8);
    settings.metrics_base_port = settings.base_port + 1000;
    std::fs::write(
        dest.join("settings.json"),
        serde_json::to_string_pretty(&settings).expect("settings serialize"),
    )
    .expect("write settings");
    git(dest, &["init", "--quiet"]);
    git(dest, &["add", "--all", "--", ".", ":!settings.json"]);
    git(dest, &["commit", "--quiet", "-m", "clone"]);
    git(dest, &["rev-parse", "HEAD"])
}

/// `cargo xtask ARGS` with the one orchestrator binary, run from `dir`, building into the shared
/// target directory.
fn xtask(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .env_remove("XTASK_SETTINGS")
        .output()
        .expect("the orchestrator runs")
}

/// A short local bench in the clone at `clone`, run from its `node/` directory; its one row.
fn bench(clone: &Path) -> SummaryRow {
    let output = xtask(
        &clone.join("node"),
        &[
            "bench",
            "--committee",
            "4",
            "--loads",
            "2000",
            "--warmup",
            "2",
            "--duration",
            "4",
            "--run-id",
            "two-clones",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "bench in {}: {stderr}",
        clone.display()
    );
    assert!(
        stderr.contains(&format!("workspace: {}", clone.display())),
        "the bench names the workspace it uses: {stderr}"
    );
    let rows: Vec<SummaryRow> = common::read_rows(&clone.join("results/two-clones/summary.csv"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows.into_iter().next().expect("one row")
}

/// The node binary Cargo leaves in the shared target directory.
fn node_hash() -> String {
    xtask::builder::file_sha256(&shared_target_dir().join("release/node")).expect("hash node")
}

#[test]
fn two_clones_sharing_a_target_dir_each_benchmark_their_own_code() {
    let dir = tempfile::tempdir().expect("tmp");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let commit_a = clone_into(&a, |_| {});
    // Clone B's node differs from A's (its help text), so the two builds hash differently.
    let commit_b = clone_into(&b, |clone| {
        let main = clone.join("node/src/main.rs");
        let text = std::fs::read_to_string(&main).expect("node main");
        let about = "about = \"A BFT consensus validator";
        assert!(
            text.contains(about),
            "node/src/main.rs no longer has {about}"
        );
        std::fs::write(&main, text.replace(about, &format!("{about} (clone B)")))
            .expect("edit node");
    });
    assert_ne!(commit_a, commit_b);

    let row_a = bench(&a);
    let built_a = node_hash();
    let row_b = bench(&b);
    let built_b = node_hash();

    assert_eq!(row_a.provenance.git_commit, commit_a);
    assert_eq!(row_b.provenance.git_commit, commit_b);
    assert_eq!(
        row_a.provenance.node_hash, built_a,
        "A ran the node built from A"
    );
    assert_eq!(
        row_b.provenance.node_hash, built_b,
        "B ran the node built from B"
    );
    assert_ne!(built_a, built_b, "the clones' nodes differ");
    assert!(row_a.measured.throughput_tps > 0.0 && row_b.measured.throughput_tps > 0.0);
    // Each clone's results hold its own run only.
    for clone in [&a, &b] {
        let runs: Vec<SummaryRow> = common::read_rows(&clone.join("results/runs.csv"));
        assert_eq!(runs.len(), 1, "{}: {runs:?}", clone.display());
    }
    assert_eq!(
        common::read_rows::<SummaryRow>(&a.join("results/runs.csv"))[0]
            .provenance
            .git_commit,
        commit_a
    );
}

#[test]
fn outside_any_clone_the_orchestrator_refuses_with_a_sentence() {
    let dir = tempfile::tempdir().expect("tmp");
    let output = xtask(dir.path(), &["bench", "--duration", "1"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("is not inside a consensus-bench workspace")
            && stderr.contains("run `cargo xtask` from inside a clone of the repository"),
        "{stderr}"
    );
}
