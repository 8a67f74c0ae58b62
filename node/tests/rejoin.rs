//! A validator down for longer than its peers keep rounds (in memory and in their WALs)
//! rejoins from a sync point: it commits the committee's sequence again and its own blocks
//! are committed again.

mod common;

use std::time::Duration;

use common::*;
use node::{observer::CommitSummary, parameters::Parameters, validator::Validator};

const LIMIT: Duration = Duration::from_secs(90);

/// Retention small enough that "past the retention" takes a few seconds: 6 rounds in
/// memory, 20 more in WAL segments of 16 KiB, and per-peer send queues of 100 messages
/// (the blocks queued for a peer while it is down reach it when it reconnects).
fn parameters() -> Parameters {
    Parameters {
        retention_rounds: 6,
        wal_retention_rounds: 20,
        wal_segment_bytes: 16 * 1024,
        peer_queue_capacity: 100,
        ..test_parameters()
    }
}

/// Waits until every validator's last committed round reaches `round`.
async fn committed_round(validators: &[Validator], round: i64) {
    let deadline = tokio::time::Instant::now() + LIMIT;
    while validators
        .iter()
        .any(|v| v.metrics().last_committed_round.get() < round)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the validators did not commit round {round} within {LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Blocks of `author` above `round` in the committed sub-DAGs of `log`.
fn committed_blocks_of(log: &[CommitSummary], author: u32, round: u64) -> usize {
    log.iter()
        .flat_map(|c| &c.blocks)
        .filter(|b| b.author == author && b.round > round)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_down_past_the_retention_rejoins_from_a_sync_point() {
    let dir = tempfile::tempdir().expect("tempdir");
    let configs = configs(4, dir.path(), parameters());
    let mut validators = start_all(configs.iter().cloned()).await;
    committed_round(&validators, 10).await;
    let victim = validators.pop().expect("validator 3");
    let killed_at = victim.metrics().current_round.get();
    let index_at_kill = victim.metrics().commit_index.get();
    victim.kill().await;
    // Far past what the others keep: 6 + 20 rounds, many WAL segments, 100 queued blocks.
    committed_round(&validators, killed_at + 300).await;

    let restarted_at = validators[0].metrics().current_round.get() as u64;
    validators.push(Validator::start(configs[3].clone()).await.expect("restart"));
    let refs: Vec<_> = validators.iter().collect();
    let logs = wait_until(
        &refs,
        LIMIT,
        "the restarted validator committed 20 leaders and its own new blocks were committed",
        |logs| logs[3].len() >= 20 && committed_blocks_of(&logs[0], 3, restarted_at) > 0,
    )
    .await;
    assert!(
        validators[3].metrics().state_syncs.get() >= 1,
        "no sync point installed"
    );

    // Its commits continue the committee's sequence at the same indices, with the same
    // chain; the commits it skipped while away are not in its log.
    let last = logs[3].last().map_or(0, |c| c.chain.index);
    let skipped = (index_at_kill as u64 + 1..=last)
        .filter(|i| !logs[3].iter().any(|c| c.chain.index == *i))
        .count();
    assert!(
        skipped > 0,
        "it committed every index from its crash on: no jump"
    );
    let mut common = 0;
    for c in &logs[3] {
        let Some(theirs) = logs[0].get(c.chain.index as usize - 1) else {
            continue;
        };
        assert_eq!(theirs.chain.index, c.chain.index);
        assert_eq!(theirs, c, "commit {} differs", c.chain.index);
        common += 1;
    }
    assert!(
        common >= 10,
        "only {common} commits in common with validator 0"
    );
    // It proposes again, and its new blocks are in the sub-DAGs it commits too.
    assert!(committed_blocks_of(&logs[3], 3, restarted_at) > 0);
    shutdown_all(validators).await;
}
