//! What a validator run with a Byzantine behaviour (benchmarks only) does differently when
//! it proposes and serves its blocks.

use std::sync::Arc;

use bytes::Bytes;
use tokio::time::Instant;

use super::{Core, Effects};
use crate::{
    block::{Block, BlockPtr, BlockRef, Round},
    byzantine::{withhold_peers, Behaviour, LatePhase, LATE_FRACTION},
    committee::{AuthorityIndex, StakeAggregator},
};

impl Core {
    /// A silent leader proposes nothing in the rounds it leads, a late leader in every
    /// third one.
    pub(super) fn skips_round(&self, round: Round) -> bool {
        match self.byzantine {
            Some(Behaviour::SilentLeader) => self.is_leader(round),
            Some(Behaviour::LateLeader) => self.late_phase(round) == Some(LatePhase::Silent),
            _ => false,
        }
    }

    /// The late leader's phase in `round`, if it leads it.
    fn late_phase(&self, round: Round) -> Option<LatePhase> {
        (self.byzantine == Some(Behaviour::LateLeader) && self.is_leader(round))
            .then(|| LatePhase::of(round, self.committee.size()))
    }

    /// When a late leader lets itself propose at `round` (None: at once). The delay counts
    /// from the first time it could have proposed there.
    pub(super) fn late_hold(&mut self, round: Round, now: Instant) -> Option<Instant> {
        if self.late_phase(round) != Some(LatePhase::Late) {
            return None;
        }
        let since = match self.late_since {
            Some((r, t)) if r == round => t,
            _ => {
                self.late_since = Some((round, now));
                now
            }
        };
        Some(since + self.params.leader_timeout().mul_f64(LATE_FRACTION))
    }

    /// [`Core::late_hold`] for the wake-up time, once the hold started.
    pub(super) fn late_until(&self, round: Round) -> Option<Instant> {
        match self.late_since {
            Some((r, t)) if r == round && self.late_phase(round) == Some(LatePhase::Late) => {
                Some(t + self.params.leader_timeout().mul_f64(LATE_FRACTION))
            }
            _ => None,
        }
    }

    /// A withholder leaves the previous round's leaders out of its includes (it never
    /// votes for them) as long as the rest still holds a quorum of that round.
    pub(super) fn withhold_votes(&self, round: Round, includes: Vec<BlockRef>) -> Vec<BlockRef> {
        if self.byzantine != Some(Behaviour::Withhold) || round <= 1 {
            return includes;
        }
        let prev = round - 1;
        let leaders: Vec<AuthorityIndex> = (0..self.params.leaders_per_round)
            .map(|k| self.committer.leader(prev, k))
            .collect();
        let rest: Vec<BlockRef> = includes
            .iter()
            .filter(|r| {
                r.round != prev || r.author == self.authority || !leaders.contains(&r.author)
            })
            .copied()
            .collect();
        let mut stake = StakeAggregator::default();
        for r in rest.iter().filter(|r| r.round == prev) {
            stake.add(r.author, &self.committee);
        }
        if stake.stake() >= self.committee.quorum_threshold() {
            rest
        } else {
            includes
        }
    }

    /// Every member of the committee but this validator, in index order.
    fn other_validators(&self) -> Vec<AuthorityIndex> {
        self.committee
            .authorities()
            .map(|(a, _)| a)
            .filter(|a| *a != self.authority)
            .collect()
    }

    /// Sends a new own block: to everyone, or as the behaviour says (a withholder to f
    /// peers; an equivocator `block` to the first peer and a different block of the same
    /// round to each other peer; a split voter `block` to half of its peers and one other
    /// block of the same round to the other half).
    pub(super) fn publish(&mut self, block: BlockPtr, fx: &mut Effects) {
        match self.byzantine {
            Some(Behaviour::Withhold) => {
                for peer in withhold_peers(self.authority, &self.committee) {
                    fx.replies.push((peer, vec![block.clone()]));
                }
            }
            Some(Behaviour::Equivocate) => {
                let peers = self.other_validators();
                for (i, peer) in peers.into_iter().enumerate() {
                    let sent = if i == 0 {
                        block.clone()
                    } else {
                        // Same includes, no transactions (they are in `block`), another digest.
                        Arc::new(Block::new_signed(
                            self.authority,
                            block.round(),
                            block.timestamp_ms() + i as u64,
                            block.includes().to_vec(),
                            Bytes::new(),
                            &self.key,
                        ))
                    };
                    fx.replies.push((peer, vec![sent]));
                }
            }
            Some(Behaviour::SplitVote) => {
                let peers = self.other_validators();
                let half = peers.len().div_ceil(2);
                // Same includes and payload, another digest: the other half's version.
                let other = Arc::new(Block::new_signed(
                    self.authority,
                    block.round(),
                    block.timestamp_ms() + 1,
                    block.includes().to_vec(),
                    block.payload().clone(),
                    &self.key,
                ));
                for (i, peer) in peers.into_iter().enumerate() {
                    let sent = if i < half { &block } else { &other };
                    fx.replies.push((peer, vec![sent.clone()]));
                }
            }
            _ => fx.broadcast.push(block),
        }
    }

    /// Whether this validator answers `peer`'s subscriptions and requests (a withholder
    /// serves only its f peers).
    pub(super) fn serves(&self, peer: AuthorityIndex) -> bool {
        self.byzantine != Some(Behaviour::Withhold)
            || withhold_peers(self.authority, &self.committee).contains(&peer)
    }
}
