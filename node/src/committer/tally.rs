//! What the direct decision of one slot has counted so far, so that each pass of the commit
//! rule counts only the blocks that joined the DAG since the last one.
//!
//! The DAG's rounds above the gc round only grow (blocks are appended, never removed), and
//! a block's vote and certificate never change (see `Committer::votes`), so counting the
//! new blocks of the voting, leader and decision rounds into the kept sums gives the sums a
//! count over the whole rounds gives, in the same order. A tally is counted afresh when the
//! store, the slot's author (the leader schedule) or a round it counted changed otherwise.

use crate::{
    block::{BlockPtr, Round},
    committee::{AuthorityIndex, StakeAggregator},
    dag::DagStore,
};

use super::{Committer, Slot};

/// Sums of one slot's direct decision over the first blocks of its rounds.
pub(super) struct DirectTally {
    /// The store counted in ([`DagStore::id`]).
    store: u64,
    /// The slot's author when counted.
    author: AuthorityIndex,
    /// Blocks of the voting round counted...
    voting_seen: usize,
    /// ...and the stake of those that vote for no block of the slot.
    skip: StakeAggregator,
    /// Blocks of the slot's round looked at.
    slot_seen: usize,
    /// Blocks of the decision round counted.
    deciding_seen: usize,
    /// The slot's blocks (several if its author equivocated), in the DAG's order, each with
    /// the stake of the counted decision-round blocks that certify it.
    leaders: Vec<(BlockPtr, StakeAggregator)>,
}

impl DirectTally {
    fn new(store: u64, author: AuthorityIndex) -> Self {
        Self {
            store,
            author,
            voting_seen: 0,
            skip: StakeAggregator::default(),
            slot_seen: 0,
            deciding_seen: 0,
            leaders: Vec::new(),
        }
    }

    /// Whether the kept sums still count prefixes of these rounds of `dag`.
    fn still_counts(&self, dag: &DagStore, author: AuthorityIndex, rounds: [Round; 3]) -> bool {
        let [slot_round, voting, deciding] = rounds;
        self.store == dag.id()
            && self.author == author
            && self.slot_seen <= dag.blocks_at(slot_round).len()
            && self.voting_seen <= dag.blocks_at(voting).len()
            && self.deciding_seen <= dag.blocks_at(deciding).len()
    }

    /// The stake that does not vote for the slot.
    pub(super) fn skip_stake(&self) -> u64 {
        self.skip.stake()
    }

    /// The slot's blocks with the stake that certifies each.
    pub(super) fn leaders(&self) -> &[(BlockPtr, StakeAggregator)] {
        &self.leaders
    }
}

impl Committer {
    /// The tally of `slot` (whose author is `author`) brought up to date with `dag`.
    pub(super) fn direct_tally(
        &mut self,
        dag: &DagStore,
        slot: Slot,
        author: AuthorityIndex,
    ) -> DirectTally {
        let voting = slot.round + self.wave_length - 2;
        let deciding = voting + 1;
        let mut tally = self
            .tallies
            .remove(&slot)
            .filter(|t| t.still_counts(dag, author, [slot.round, voting, deciding]))
            .unwrap_or_else(|| DirectTally::new(dag.id(), author));
        let voters = dag.blocks_at(voting);
        for v in &voters[tally.voting_seen..] {
            if self.supported(dag, v, slot.round, author).is_none() {
                tally.skip.add(v.author(), &self.committee);
            }
        }
        tally.voting_seen = voters.len();
        let certifiers = dag.blocks_at(deciding);
        let round = dag.blocks_at(slot.round);
        for leader in &round[tally.slot_seen..] {
            if leader.author() != author {
                continue;
            }
            let mut stake = StakeAggregator::default();
            for c in &certifiers[..tally.deciding_seen] {
                if self.certifies(dag, c, leader) {
                    stake.add(c.author(), &self.committee);
                }
            }
            tally.leaders.push((leader.clone(), stake));
        }
        tally.slot_seen = round.len();
        for c in &certifiers[tally.deciding_seen..] {
            for (leader, stake) in &mut tally.leaders {
                if self.certifies(dag, c, leader) {
                    stake.add(c.author(), &self.committee);
                }
            }
        }
        tally.deciding_seen = certifiers.len();
        tally
    }
}
