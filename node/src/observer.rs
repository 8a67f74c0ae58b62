//! Consumes committed sub-DAGs: counts transactions, records submit-to-commit latency and
//! samples the commit chain into the commit log.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::{
    block::BlockRef,
    commit_log::CommitLog,
    committer::CommitChain,
    core::CommittedSubDag,
    loadgen::now_micros,
    metrics::Metrics,
    transactions::{submit_micros, Transactions},
};

/// A committed sub-DAG by reference (kept by tests to compare validators).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitSummary {
    /// The committed leader.
    pub leader: BlockRef,
    /// The committed blocks in order.
    pub blocks: Vec<BlockRef>,
    /// The committed sequence up to and including this commit.
    pub chain: CommitChain,
}

/// Shared log of commits, when recording is on.
pub type CommitRecord = Arc<Mutex<Vec<CommitSummary>>>;

/// Processes commits until the channel closes, then writes the last commit to the commit
/// log. A commit log that cannot be written is reported once and given up.
pub async fn run(
    mut commits: mpsc::Receiver<CommittedSubDag>,
    metrics: Arc<Metrics>,
    log: Option<CommitRecord>,
    mut commit_log: Option<CommitLog>,
) {
    while let Some(sub) = commits.recv().await {
        observe(&sub, &metrics, log.as_ref(), &mut commit_log);
    }
    if let Some(file) = &mut commit_log {
        if let Err(e) = file.finish() {
            tracing::warn!("{e:#}");
        }
    }
}

/// Accounts for one commit: committed transactions and bytes, the latency of each
/// transaction (now minus its submit stamp), the commit log (dropped on a write error) and
/// the in-memory record.
pub fn observe(
    sub: &CommittedSubDag,
    metrics: &Metrics,
    log: Option<&CommitRecord>,
    commit_log: &mut Option<CommitLog>,
) {
    let now = now_micros();
    let latency = metrics.transaction_latency.local();
    let mut count = 0u64;
    let mut bytes = 0u64;
    for block in &sub.blocks {
        for tx in Transactions::new(block.payload()) {
            count += 1;
            bytes += tx.len() as u64;
            if let Some(t) = submit_micros(tx) {
                latency.observe(now.saturating_sub(t) as f64 / 1e6);
            }
        }
    }
    latency.flush();
    metrics.committed_transactions.inc_by(count);
    metrics.committed_bytes.inc_by(bytes);
    if let Some(file) = commit_log {
        if let Err(e) = file.record(&sub.leader, &sub.chain) {
            tracing::warn!("{e:#}: the commit log stops here");
            *commit_log = None;
        }
    }
    if let Some(log) = log {
        let summary = CommitSummary {
            leader: sub.leader,
            blocks: sub.blocks.iter().map(|b| b.reference()).collect(),
            chain: sub.chain,
        };
        log.lock().unwrap_or_else(|p| p.into_inner()).push(summary);
    }
}
