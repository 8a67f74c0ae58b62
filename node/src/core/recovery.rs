//! Rebuilding the core from the WAL.

use anyhow::Result;

use super::{Core, Effects};
use crate::{dag::Accepted, wal::Record};

impl Core {
    /// Replays WAL records: blocks back into the DAG, decisions and checkpoints into the
    /// commit state. The next own block will be above every round signed before.
    pub(super) fn recover(&mut self, records: Vec<Record>) -> Result<()> {
        let count = records.len();
        let mut fx = Effects::default();
        for record in records {
            match record {
                Record::OwnBlock(b) => {
                    self.last_own_round = self.last_own_round.max(b.round());
                    if self.last_own.is_none_or(|r| r.round < b.round()) {
                        self.last_own = Some(b.reference());
                    }
                    self.mark_referenced(b.includes());
                    let mut accepted = Accepted::default();
                    self.buffer.add_logged(&mut self.dag, b, &mut accepted);
                    self.on_accepted(accepted, None, &mut fx);
                }
                Record::Block(b) => {
                    let mut accepted = Accepted::default();
                    self.buffer.add_logged(&mut self.dag, b, &mut accepted);
                    self.on_accepted(accepted, None, &mut fx);
                }
                Record::Decision {
                    slot,
                    leader,
                    committed,
                    ..
                } => {
                    self.committer.replay_decision(slot, leader.is_some());
                    for r in &committed {
                        self.dag.set_committed(r);
                    }
                    if let Some(l) = leader {
                        self.last_committed_round = l.round;
                        self.chain.extend(&l, &committed);
                    }
                    self.prune(&mut fx, false)?;
                }
                Record::Checkpoint {
                    last_decided,
                    last_committed_round,
                    last_own_round,
                    committed,
                    chain,
                    schedule,
                } => {
                    self.committer.restore(last_decided, schedule);
                    // The segments before it may be deleted: the chain continues from here.
                    if chain.index >= self.chain.index {
                        self.chain = chain;
                    }
                    self.last_committed_round = self.last_committed_round.max(last_committed_round);
                    self.last_own_round = self.last_own_round.max(last_own_round);
                    for r in &committed {
                        self.dag.set_committed(r);
                    }
                    self.prune(&mut fx, false)?;
                }
                Record::Sync(point) => self.apply_sync_point(&point, &mut fx, false)?,
                // Checked by `Wal::open` and never returned.
                Record::Header(_) => {}
            }
        }
        // Proposals made after a restart must still respect the round delay and leader wait.
        self.metrics
            .last_committed_round
            .set(self.last_committed_round as i64);
        self.metrics.current_round.set(self.clock_round as i64);
        self.metrics.commit_index.set(self.chain.index as i64);
        if count > 0 {
            tracing::info!(
                records = count,
                last_own_round = self.last_own_round,
                last_committed_round = self.last_committed_round,
                commit_index = self.chain.index,
                clock_round = self.clock_round,
                stored_blocks = self.dag.len(),
                "recovered from the WAL"
            );
        }
        Ok(())
    }
}
