//! Validators as in-process tasks on 127.0.0.1: agreement, a crashed validator, restart
//! from the WAL.

mod common;

use std::{collections::HashMap, time::Duration};

use common::*;
use node::{observer::CommitSummary, validator::Validator};

const LIMIT: Duration = Duration::from_secs(60);

/// Waits until every validator committed `n` leaders; their commit logs.
async fn every_validator_committed(validators: &[Validator], n: usize) -> Vec<Vec<CommitSummary>> {
    let refs: Vec<_> = validators.iter().collect();
    let what = format!("every validator committed {n} leaders");
    wait_until(&refs, LIMIT, &what, |logs| {
        logs.iter().all(|l| l.len() >= n)
    })
    .await
}

/// Waits until the restarted validator 3 committed `n` leaders; the commit logs.
async fn the_restarted_validator_committed(
    validators: &[Validator],
    n: usize,
) -> Vec<Vec<CommitSummary>> {
    let refs: Vec<_> = validators.iter().collect();
    let what = format!("the restarted validator committed {n} leaders");
    wait_until(&refs, LIMIT, &what, |logs| logs[3].len() >= n).await
}

/// Asserts that validator 3's commits continue validator 0's sequence from where its
/// first commit stands in it; that first commit.
fn assert_continues_validator_0(logs: &[Vec<CommitSummary>]) -> &CommitSummary {
    let first = &logs[3][0];
    let at = logs[0]
        .iter()
        .position(|c| c.leader == first.leader)
        .expect("the restarted validator's first commit is in validator 0's sequence");
    assert_prefix(&logs[0][at..], &logs[3]);
    first
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_commit_the_same_sequence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let configs = configs(4, dir.path(), test_parameters());
    let validators = start_all(configs).await;
    let logs = every_validator_committed(&validators, 20).await;
    for l in &logs[1..] {
        assert!(assert_prefix(&logs[0], l) >= 20);
    }
    // Transactions of every load generator are committed and counted everywhere.
    for v in &validators {
        assert!(v.metrics().committed_transactions.get() > 0);
        assert!(v.metrics().transaction_latency.get_sample_count() > 0);
        assert_eq!(v.metrics().invalid_blocks.get(), 0);
    }
    let records: Vec<_> = validators
        .iter()
        .map(|v| v.commit_record().expect("recording"))
        .collect();
    shutdown_all(validators).await;
    let finals: Vec<_> = records
        .iter()
        .map(|r| r.lock().expect("commit record").clone())
        .collect();
    // Each commit log holds the chain every 10 commits and the last commit at the stop, and
    // agrees with the commits the validator handed out.
    for (i, commits) in finals.iter().enumerate() {
        let log = read_commit_log(&dir.path().join(format!("storage-{i}/commits.csv")));
        let last = commits.last().expect("commits").chain;
        let expected: Vec<(u64, String)> = commits
            .iter()
            .map(|c| c.chain)
            .filter(|c| c.index.is_multiple_of(node::commit_log::SAMPLE_INTERVAL) || *c == last)
            .map(|c| (c.index, c.hex()))
            .collect();
        assert_eq!(
            log.into_iter().collect::<Vec<_>>(),
            expected,
            "validator {i}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_fork_changes_the_commit_chain_from_its_index_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut configs = configs(4, dir.path(), test_parameters());
    configs[3].plant_fork_at = Some(5);
    let validators = start_all(configs).await;
    let logs = every_validator_committed(&validators, 8).await;
    shutdown_all(validators).await;
    let (honest, forked) = (&logs[0], &logs[3]);
    assert!(forked.len() >= 8, "committed {}", forked.len());
    // The same leaders, the same blocks before index 5; from there the sub-DAGs come in
    // reverse order and the chains differ.
    assert_prefix(&honest[..4], &forked[..4]);
    for k in 4..8 {
        assert_eq!(honest[k].leader, forked[k].leader);
        let mut reversed = honest[k].blocks.clone();
        reversed.reverse();
        assert_eq!(forked[k].blocks, reversed, "commit {}", k + 1);
        assert_eq!(forked[k].chain.index, honest[k].chain.index);
        assert_ne!(forked[k].chain, honest[k].chain, "commit {}", k + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_from_a_checkpoint_continues_the_commit_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Small segments and no WAL kept below the gc round: the restart replays from a
    // checkpoint, the commits before it are gone from the WAL.
    let parameters = node::parameters::Parameters {
        retention_rounds: 6,
        wal_retention_rounds: 0,
        wal_segment_bytes: 16 * 1024,
        ..test_parameters()
    };
    let configs = configs(4, dir.path(), parameters);
    let mut validators = start_all(configs.iter().cloned()).await;
    every_validator_committed(&validators, 40).await;
    let victim = validators.pop().expect("validator 3");
    victim.kill().await;
    let segments: Vec<String> = std::fs::read_dir(dir.path().join("storage-3"))
        .expect("storage")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("wal-"))
        .collect();
    assert!(
        !segments.iter().any(|n| n == "wal-00000000.log"),
        "the first segment is still there: {segments:?}"
    );

    validators.push(Validator::start(configs[3].clone()).await.expect("restart"));
    let logs = the_restarted_validator_committed(&validators, 10).await;
    shutdown_all(validators).await;
    assert!(
        logs[3].len() >= 10,
        "restarted validator committed {}",
        logs[3].len()
    );
    // Its first commit (chain included) stands in validator 0's sequence.
    let first = assert_continues_validator_0(&logs);
    assert!(first.chain.index > 40, "index {}", first.chain.index);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_of_four_validators_still_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut configs = configs(4, dir.path(), test_parameters());
    configs.pop();
    let validators = start_all(configs).await;
    let logs = every_validator_committed(&validators, 10).await;
    for l in &logs {
        // The absent validator 3 never leads a committed slot.
        assert!(l.iter().all(|c| c.leader.author != 3));
    }
    for l in &logs[1..] {
        assert_prefix(&logs[0], l);
    }
    // Its leader slots are skipped (it is not connected, so nobody waits for it).
    for v in &validators {
        let skips = v
            .metrics()
            .committed_leaders
            .with_label_values(&["direct-skip"]);
        assert!(
            skips.get() > 0,
            "no slot of the absent validator was skipped"
        );
    }
    shutdown_all(validators).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_validator_restarts_from_its_wal_and_rejoins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let configs = configs(4, dir.path(), test_parameters());
    let mut validators = start_all(configs.iter().cloned()).await;
    every_validator_committed(&validators, 10).await;
    let victim = validators.pop().expect("validator 3");
    let proposed_before = victim.metrics().blocks_proposed.get();
    assert!(proposed_before > 0);
    victim.kill().await;
    let refs: Vec<_> = validators.iter().collect();
    let before = validators[0].commits().len();
    // Down long enough that the others prune the rounds it missed from memory.
    wait_until(
        &refs,
        LIMIT,
        "120 more commits without the victim",
        |logs| logs[0].len() >= before + 120,
    )
    .await;

    let restarted = Validator::start(configs[3].clone())
        .await
        .expect("restart from the WAL");
    validators.push(restarted);
    let logs = the_restarted_validator_committed(&validators, 15).await;
    assert!(
        logs[3].len() >= 15,
        "restarted validator committed {}",
        logs[3].len()
    );
    assert!(validators[3].metrics().blocks_proposed.get() > 0);
    // Its commits continue the common sequence.
    assert_continues_validator_0(&logs);
    for l in &logs[1..3] {
        assert_prefix(&logs[0], l);
    }
    // No equivocation: one block per (author, round) among everything committed.
    let logs: Vec<_> = validators.iter().map(|v| v.commits()).collect();
    let mut slots = HashMap::new();
    for c in logs.iter().flatten() {
        for b in &c.blocks {
            let d = slots.entry((b.author, b.round)).or_insert(b.digest);
            assert_eq!(
                *d,
                b.digest,
                "two blocks committed for {:?}",
                (b.author, b.round)
            );
        }
    }
    shutdown_all(validators).await;
}

#[tokio::test]
#[should_panic(expected = "timed out after")]
async fn waiting_for_a_condition_that_never_holds_fails() {
    wait_until(&[], Duration::from_millis(100), "never", |_| false).await;
}

/// A validator down for longer than its peers keep rounds in memory catches up from what
/// they serve from their WALs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_catches_up_from_blocks_its_peers_serve_from_their_wals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let parameters = node::parameters::Parameters {
        retention_rounds: 6,
        ..test_parameters()
    };
    let configs = configs(4, dir.path(), parameters);
    let mut validators = start_all(configs.iter().cloned()).await;
    every_validator_committed(&validators, 5).await;
    let victim = validators.pop().expect("validator 3");
    let last_round = victim.metrics().current_round.get();
    victim.kill().await;
    // The others go on until every round the victim missed is out of their memory (below
    // last committed round - retention_rounds).
    let gone = last_round + 6 + 20;
    let deadline = tokio::time::Instant::now() + LIMIT;
    while validators
        .iter()
        .any(|v| v.metrics().last_committed_round.get() < gone)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the others did not reach round {gone}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    validators.push(Validator::start(configs[3].clone()).await.expect("restart"));
    let logs = the_restarted_validator_committed(&validators, 10).await;
    // It committed what the others committed, from the rounds it missed on.
    let first = assert_continues_validator_0(&logs);
    assert!(
        (first.leader.round as i64) < gone,
        "it started committing at round {}, after the rounds it missed",
        first.leader.round
    );
    shutdown_all(validators).await;
}
