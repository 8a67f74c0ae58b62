//! One Byzantine validator of 4 (each behaviour): the three honest ones keep committing
//! the same sequence.

mod common;

use std::time::Duration;

use common::*;
use node::{byzantine::Behaviour, validator::Validator};

const LIMIT: Duration = Duration::from_secs(60);
const COMMITS: usize = 20;

/// Runs 4 validators with validator 3 `behaviour`; returns the honest ones, still running,
/// once each committed `COMMITS` leaders (asserted, and that they agree).
async fn honest_commit_with(behaviour: Behaviour) -> Vec<Validator> {
    honest_commit(behaviour, COMMITS).await
}

/// [`honest_commit_with`], until each honest validator committed `commits` leaders.
async fn honest_commit(behaviour: Behaviour, commits: usize) -> Vec<Validator> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut configs = configs(4, dir.path(), test_parameters());
    configs[3].byzantine = Some(behaviour);
    let mut validators = start_all(configs).await;
    let byzantine = validators.pop().expect("validator 3");
    let refs: Vec<_> = validators.iter().collect();
    let what = format!("{behaviour}: every honest validator commits {commits} leaders");
    let logs = wait_until(&refs, LIMIT, &what, |logs| {
        logs.iter().all(|l| l.len() >= commits)
    })
    .await;
    byzantine.kill().await;
    for l in &logs[1..] {
        assert_prefix(&logs[0], l);
    }
    for v in &validators {
        assert!(v.metrics().committed_transactions.get() > 0);
    }
    validators
}

async fn stop(validators: Vec<Validator>) {
    shutdown_all(validators).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_equivocator_of_four_does_not_stop_commits() {
    let validators = honest_commit_with(Behaviour::Equivocate).await;
    for v in &validators {
        // Honest blocks never reference two blocks of one slot (peers would reject them).
        assert_eq!(v.metrics().invalid_blocks.get(), 0);
    }
    assert!(
        validators
            .iter()
            .any(|v| v.metrics().equivocations.get() > 0),
        "no validator saw the equivocation"
    );
    stop(validators).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_withholder_of_four_does_not_stop_commits() {
    stop(honest_commit_with(Behaviour::Withhold).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_spammer_of_four_does_not_stop_commits() {
    let validators = honest_commit_with(Behaviour::Spam).await;
    assert!(
        validators
            .iter()
            .all(|v| v.metrics().invalid_blocks.get() > 0),
        "the spam did not arrive"
    );
    stop(validators).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_silent_leader_of_four_does_not_stop_commits() {
    let validators = honest_commit_with(Behaviour::SilentLeader).await;
    for v in &validators {
        let commits = v.commits();
        assert!(
            commits.iter().all(|c| c.leader.author != 3),
            "a slot of the silent leader was committed"
        );
    }
    stop(validators).await;
}

/// A late leader keeps its first slots (the reputation window is 20 commits), then loses
/// them: no slot it led is committed after the third window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_late_leader_of_four_loses_its_leader_slots() {
    let validators = honest_commit(Behaviour::LateLeader, 80).await;
    for v in &validators {
        let commits = v.commits();
        let late: Vec<u64> = commits
            .iter()
            .filter(|c| c.leader.author == 3)
            .map(|c| c.chain.index)
            .collect();
        assert!(
            late.iter().all(|&i| i <= 60),
            "the late leader's slots committed at indices {late:?}"
        );
    }
    stop(validators).await;
}
