//! Validators as in-process tasks on 127.0.0.1: agreement, a crashed validator, restart
//! from the WAL.

mod common;

use std::{collections::HashMap, time::Duration};

use common::*;
use node::validator::Validator;

const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_commit_the_same_sequence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let configs = configs(4, dir.path(), test_parameters());
    let mut validators = Vec::new();
    for c in configs {
        validators.push(Validator::start(c).await.expect("start"));
    }
    let refs: Vec<_> = validators.iter().collect();
    let logs = wait_until(&refs, LIMIT, |logs| logs.iter().all(|l| l.len() >= 20)).await;
    for l in &logs {
        assert!(
            l.len() >= 20,
            "a validator committed only {} leaders",
            l.len()
        );
    }
    for l in &logs[1..] {
        assert!(assert_prefix(&logs[0], l) >= 20);
    }
    // Transactions of every load generator are committed and counted everywhere.
    for v in &validators {
        assert!(v.metrics().committed_transactions.get() > 0);
        assert!(v.metrics().transaction_latency.get_sample_count() > 0);
        assert_eq!(v.metrics().invalid_blocks.get(), 0);
    }
    for v in validators {
        v.shutdown().await.expect("clean shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_of_four_validators_still_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut configs = configs(4, dir.path(), test_parameters());
    configs.pop();
    let mut validators = Vec::new();
    for c in configs {
        validators.push(Validator::start(c).await.expect("start"));
    }
    let refs: Vec<_> = validators.iter().collect();
    let logs = wait_until(&refs, LIMIT, |logs| logs.iter().all(|l| l.len() >= 10)).await;
    for l in &logs {
        assert!(
            l.len() >= 10,
            "a validator committed only {} leaders",
            l.len()
        );
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
    for v in validators {
        v.shutdown().await.expect("clean shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_validator_restarts_from_its_wal_and_rejoins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let configs = configs(4, dir.path(), test_parameters());
    let mut validators = Vec::new();
    for c in configs.iter().cloned() {
        validators.push(Validator::start(c).await.expect("start"));
    }
    let refs: Vec<_> = validators.iter().collect();
    wait_until(&refs, LIMIT, |logs| logs.iter().all(|l| l.len() >= 10)).await;
    let victim = validators.pop().expect("validator 3");
    let proposed_before = victim.metrics().blocks_proposed.get();
    assert!(proposed_before > 0);
    victim.kill().await;
    let refs: Vec<_> = validators.iter().collect();
    let before = validators[0].commits().len();
    // Down long enough that the others prune the rounds it missed from memory.
    wait_until(&refs, LIMIT, |logs| logs[0].len() >= before + 120).await;

    let restarted = Validator::start(configs[3].clone())
        .await
        .expect("restart from the WAL");
    validators.push(restarted);
    let refs: Vec<_> = validators.iter().collect();
    let logs = wait_until(&refs, LIMIT, |logs| logs[3].len() >= 15).await;
    assert!(
        logs[3].len() >= 15,
        "restarted validator committed {}",
        logs[3].len()
    );
    assert!(validators[3].metrics().blocks_proposed.get() > 0);
    // Its commits continue the common sequence.
    let first = &logs[3][0];
    let at = logs[0]
        .iter()
        .position(|c| c.leader == first.leader)
        .expect("the restarted validator's first commit is in validator 0's sequence");
    assert_prefix(&logs[0][at..], &logs[3]);
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
    for v in validators {
        v.shutdown().await.expect("clean shutdown");
    }
}
