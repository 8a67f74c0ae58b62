//! Proposing own blocks: when, what they reference, and their payload.

use std::sync::{atomic::Ordering, Arc};

use anyhow::Result;
use tokio::time::Instant;

use super::{Core, Effects};
use crate::{
    block::{Block, BlockRef, Round},
    committee::AuthorityIndex,
    dag::Accepted,
    parameters::WalSync,
    transactions,
    wal::Record,
};

/// Most references in one own block (the rest go in the next one).
const MAX_OWN_INCLUDES: usize = 1000;

impl Core {
    /// Whether every leader of `round - 1` we wait for has a block stored (or waiting is
    /// off).
    pub(super) fn leaders_ready(&self, round: Round) -> bool {
        self.awaited_leaders(round).next().is_none()
    }

    /// The leaders of `round - 1` whose block is missing and that we wait for: not a leader
    /// we have no connection to, nor one that let its last wait time out (a silent leader
    /// costs one leader timeout, not one per round it leads).
    fn awaited_leaders(&self, round: Round) -> impl Iterator<Item = AuthorityIndex> + '_ {
        let prev = round.saturating_sub(1);
        let waits = self.params.leader_wait && round > 1;
        (0..self.params.leaders_per_round)
            .filter(move |_| waits)
            .map(move |k| self.committer.leader(prev, k))
            .filter(move |&leader| {
                self.is_connected(leader)
                    && !self.leader_missed[leader as usize]
                    && self.dag.slot_blocks(prev, leader).is_empty()
            })
    }

    /// Before proposing at `round`: a leader of `round - 1` whose block is here is waited for
    /// again; one we waited for in vain (`timed_out`) is not, until it leads in time.
    fn note_leaders(&mut self, round: Round, timed_out: bool) {
        if round <= 1 {
            return;
        }
        let prev = round - 1;
        for k in 0..self.params.leaders_per_round {
            let leader = self.committer.leader(prev, k);
            let here = !self.dag.slot_blocks(prev, leader).is_empty();
            let connected = self.is_connected(leader);
            let missed = &mut self.leader_missed[leader as usize];
            if here && *missed {
                *missed = false;
                tracing::info!(
                    leader,
                    round = prev,
                    "leader is back in time: waiting for it again"
                );
            } else if !here && timed_out && !*missed && connected {
                *missed = true;
                tracing::info!(
                    leader,
                    round = prev,
                    "leader timed out: not waiting for it until it leads in time"
                );
            }
        }
    }

    /// Whether our connection to `authority` is up (always true for ourselves).
    fn is_connected(&self, authority: AuthorityIndex) -> bool {
        authority == self.authority
            || self
                .connected
                .get(authority as usize)
                .is_some_and(|c| c.load(Ordering::Relaxed))
    }

    /// Whether this validator is one of the leaders of `round`.
    pub(super) fn is_leader(&self, round: Round) -> bool {
        (0..self.params.leaders_per_round)
            .any(|k| self.committer.leader(round, k) == self.authority)
    }

    /// The clock round, or the one just below it if we lead that round and have not
    /// proposed there yet (the clock can jump past it while we wait).
    pub(super) fn proposal_round(&self) -> Round {
        let below = self.clock_round - 1;
        if below > self.last_own_round && below >= 1 && self.is_leader(below) {
            below
        } else {
            self.clock_round
        }
    }

    /// Proposes at the clock round if the proposal rules allow it.
    pub(super) fn try_propose(&mut self, now: Instant, fx: &mut Effects) -> Result<()> {
        let round = self.proposal_round();
        if round <= self.last_own_round {
            return Ok(());
        }
        if self.skips_round(round) {
            self.last_own_round = round;
            return Ok(());
        }
        if self.late_hold(round, now).is_some_and(|until| now < until) {
            return Ok(());
        }
        // The round delay never holds back a leader: a late leader would be skipped.
        if !self.is_leader(round)
            && self
                .last_proposal
                .is_some_and(|t| now < t + self.params.min_round_delay())
        {
            return Ok(());
        }
        let timed_out = !self.leaders_ready(round);
        if timed_out {
            if now < self.round_started + self.params.leader_timeout() {
                return Ok(());
            }
            self.metrics.leader_timeouts.inc();
        }
        self.note_leaders(round, timed_out);
        let includes = self.withhold_votes(round, self.select_includes(round));
        let (batches, _count) = self.pool.take(self.params.max_block_bytes);
        let payload = transactions::concat(batches);
        self.metrics
            .pending_transactions
            .set(self.pool.len() as i64);
        let timestamp_ms = crate::world::unix_micros() / 1000;
        let block = Arc::new(Block::new_signed(
            self.authority,
            round,
            timestamp_ms,
            includes,
            payload,
            &self.key,
        ));
        // Durable before anyone can see it: a restart never signs this round again.
        let bytes = self.wal.append(&Record::OwnBlock(block.clone()))?;
        self.metrics.wal_bytes.inc_by(bytes as u64);
        if matches!(self.params.wal_sync, WalSync::OwnBlocks | WalSync::Always) {
            self.sync_wal()?;
        }
        self.mark_referenced(block.includes());
        self.last_own = Some(block.reference());
        self.last_own_round = round;
        self.last_proposal = Some(now);
        let mut accepted = Accepted::default();
        self.buffer.add(&mut self.dag, block.clone(), &mut accepted);
        self.on_accepted(accepted, None, fx);
        self.metrics.blocks_proposed.inc();
        tracing::debug!(round, "proposed {:?}", block.reference());
        self.publish(block, fx);
        Ok(())
    }

    /// Own previous block first, then unreferenced blocks, newest rounds first: at most one
    /// block per (author, round), the one with the lowest digest (an equivocator's other
    /// blocks are never amplified), and none more than `retention_rounds` below `round`
    /// (peers reject such blocks).
    fn select_includes(&self, round: Round) -> Vec<BlockRef> {
        let oldest = round.saturating_sub(self.params.retention_rounds);
        let mut includes = Vec::new();
        if let Some(own) = self
            .last_own
            .filter(|r| r.round >= oldest && self.dag.contains(r))
        {
            includes.push(own);
        }
        let mut chosen: Vec<BlockRef> = Vec::new();
        for r in self.pending_refs.range(
            BlockRef {
                round: oldest,
                author: 0,
                digest: [0; 32],
            }..,
        ) {
            if r.round >= round {
                break;
            }
            // Sorted by (round, author, digest): the first of a slot has the lowest digest.
            if chosen
                .last()
                .is_some_and(|c| (c.round, c.author) == (r.round, r.author))
            {
                continue;
            }
            chosen.push(*r);
        }
        for r in chosen.into_iter().rev() {
            if includes.len() >= MAX_OWN_INCLUDES && r.round + 1 < round {
                break;
            }
            includes.push(r);
        }
        includes
    }
}
