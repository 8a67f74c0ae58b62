//! The audit on commit logs recorded from local benchmarks (`testdata/`): four validators, one
//! of them crashed and restarted (`agree/`), and a run where validator 3 was started with
//! `--plant-fork` (`fork/`).

use std::path::{Path, PathBuf};

use super::*;

fn testdata(run: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/benchmark/audit/testdata")
        .join(run)
}

fn read(dir: &Path, validator: usize) -> CommitLog {
    CommitLog::read(&dir.join(commit_log_file(validator))).expect("recorded log")
}

/// A copy of the recorded run `run` in a temporary directory, to change.
fn copy(run: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    for entry in std::fs::read_dir(testdata(run))
        .expect("testdata")
        .flatten()
    {
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
    }
    dir
}

/// The highest index every one of `validators` logged.
fn highest_common(dir: &Path, validators: &[usize]) -> u64 {
    let logs: Vec<CommitLog> = validators.iter().map(|&v| read(dir, v)).collect();
    *logs[0]
        .chains
        .keys()
        .rev()
        .find(|i| logs.iter().all(|l| l.chains.contains_key(i)))
        .expect("a common index")
}

#[test]
fn validators_that_committed_the_same_sequence_are_ok() {
    let dir = testdata("agree");
    let verdict = audit(&dir, &[0, 1, 2, 3]);
    let highest = (0..4)
        .flat_map(|a| (0..4).filter(move |&b| b != a).map(move |b| (a, b)))
        .map(|(a, b)| highest_common(&dir, &[a, b]))
        .max()
        .expect("pairs");
    assert_eq!(verdict, Safety::Ok { checked: highest });
    assert_eq!(
        verdict.to_string(),
        format!("ok ({highest} commits checked)")
    );
    assert!(highest >= 100, "{highest}");
}

#[test]
fn a_validator_that_committed_less_is_checked_on_its_prefix() {
    // Validator 3 crashed and restarted: its log has a gap and ends earlier or later than
    // the others'; cut validator 1 short as well.
    let dir = copy("agree");
    let path = dir.path().join(commit_log_file(1));
    let text = std::fs::read_to_string(&path).expect("read");
    let short: String = text.lines().take(4).map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, short).expect("write");
    assert_eq!(read(dir.path(), 1).chains.len(), 3);
    assert!(matches!(
        audit(dir.path(), &[0, 1, 2, 3]),
        Safety::Ok { .. }
    ));
    // Only validators 1 and a longer one: checked up to the shorter one's last sample.
    assert_eq!(
        audit(dir.path(), &[0, 1]),
        Safety::Ok {
            checked: highest_common(dir.path(), &[0, 1])
        }
    );
    assert_eq!(highest_common(dir.path(), &[0, 1]), 30);
}

#[test]
fn a_forked_validator_is_named_with_the_index_where_the_chains_part() {
    let dir = testdata("fork");
    let verdict = audit(&dir, &[0, 1, 2, 3]);
    assert_eq!(
        verdict,
        Safety::Fork {
            index: 20,
            a: 0,
            b: 3,
            agreed: Some(10)
        }
    );
    assert_eq!(
        verdict.to_string(),
        "fork at index 20: validators 0 and 3 (last agreed at index 10)"
    );
    assert!(verdict.is_fork());
    // Without the forked validator the others agree.
    assert!(matches!(audit(&dir, &[0, 1, 2]), Safety::Ok { .. }));
    // The validator named is the one outside the majority, whichever index it has.
    let dir = copy("fork");
    std::fs::rename(
        dir.path().join(commit_log_file(3)),
        dir.path().join("tmp.csv"),
    )
    .expect("rename");
    std::fs::rename(
        dir.path().join(commit_log_file(0)),
        dir.path().join(commit_log_file(3)),
    )
    .expect("rename");
    std::fs::rename(
        dir.path().join("tmp.csv"),
        dir.path().join(commit_log_file(0)),
    )
    .expect("rename");
    assert!(matches!(
        audit(dir.path(), &[0, 1, 2, 3]),
        Safety::Fork { a: 0, b: 1, .. }
    ));
}

#[test]
fn a_missing_or_damaged_log_is_reported_and_never_ok() {
    let dir = copy("agree");
    std::fs::remove_file(dir.path().join(commit_log_file(2))).expect("remove");
    let verdict = audit(dir.path(), &[0, 1, 2, 3]);
    assert_eq!(
        verdict.to_string(),
        "unchecked: no commit log from validator 2 (commits-2.csv)"
    );
    assert!(!verdict.is_fork());

    let path = dir.path().join(commit_log_file(1));
    let mut text = std::fs::read_to_string(&path).expect("read");
    text.push_str("40,41,0,not-a-hash\n");
    std::fs::write(&path, text).expect("write");
    let verdict = audit(dir.path(), &[0, 1, 3]).to_string();
    assert!(verdict.starts_with("unchecked: "), "{verdict}");
    assert!(verdict.contains("commits-1.csv is malformed"), "{verdict}");

    // One validator alone proves nothing.
    let verdict = audit(dir.path(), &[0]).to_string();
    assert_eq!(
        verdict,
        "unchecked: no commit index logged by two of validators 0"
    );
}

#[test]
fn a_fork_is_reported_even_when_another_log_is_missing() {
    let dir = copy("fork");
    std::fs::remove_file(dir.path().join(commit_log_file(1))).expect("remove");
    assert!(audit(dir.path(), &[0, 1, 2, 3]).is_fork());
}

#[test]
fn a_validator_whose_own_log_changes_its_chain_is_a_fork() {
    let dir = copy("agree");
    let path = dir.path().join(commit_log_file(0));
    let text = std::fs::read_to_string(&path).expect("read");
    let line = text.lines().nth(2).expect("second sample");
    let (index, _) = line.split_once(',').expect("fields");
    let other = format!("{}{}", &line[..line.len() - 64], "f".repeat(64));
    std::fs::write(&path, format!("{text}{other}\n")).expect("write");
    let verdict = audit(dir.path(), &[0, 1, 2, 3]);
    assert_eq!(
        verdict.to_string(),
        format!("fork at index {index}: validator 0 logged two different chains")
    );
}
