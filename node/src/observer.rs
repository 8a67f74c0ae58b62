//! Consumes committed sub-DAGs: counts transactions and records submit-to-commit latency.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::{
    block::BlockRef,
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
}

/// Shared log of commits, when recording is on.
pub type CommitLog = Arc<Mutex<Vec<CommitSummary>>>;

/// Processes commits until the channel closes.
pub async fn run(
    mut commits: mpsc::Receiver<CommittedSubDag>,
    metrics: Arc<Metrics>,
    log: Option<CommitLog>,
) {
    while let Some(sub) = commits.recv().await {
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
        if let Some(log) = &log {
            let summary = CommitSummary {
                leader: sub.leader,
                blocks: sub.blocks.iter().map(|b| b.reference()).collect(),
            };
            log.lock().unwrap_or_else(|p| p.into_inner()).push(summary);
        }
    }
}
