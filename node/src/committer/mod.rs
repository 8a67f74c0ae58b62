//! The Mysticeti-C commit rule: direct and indirect decisions over leader slots, whose
//! leaders the reputation schedule (`schedule`) elects.
//!
//! Every round is a leader round with `L` leaders. For a leader at round r the voting
//! round is r+w-2 and the decision round r+w-1.

#[cfg(test)]
mod agreement_tests;
mod chain;
mod linearizer;
mod schedule;
mod sync_point;
mod tally;
#[cfg(test)]
mod tests;

pub use chain::CommitChain;
pub use linearizer::linearize;
pub use schedule::{LeaderSchedule, ScheduleState, SwapTable, Tally};
pub use sync_point::{SyncPoint, MAX_SYNC_REFS, SYNC_POINT_INTERVAL};

use std::{fmt, sync::Arc};

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use crate::{
    block::{BlockPtr, BlockRef, Round},
    committee::{AuthorityIndex, Committee, StakeAggregator},
    dag::DagStore,
};

/// A leader position: round and leader index within the round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot {
    /// Leader round.
    pub round: Round,
    /// Which of the round's leaders.
    pub index: usize,
}

/// How a leader slot was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecisionKind {
    /// Certified by a quorum at the decision round.
    DirectCommit,
    /// Certified in the causal history of a later committed anchor.
    IndirectCommit,
    /// A quorum at the voting round did not vote for it.
    DirectSkip,
    /// No certificate in the causal history of a later committed anchor.
    IndirectSkip,
}

impl DecisionKind {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::DirectCommit => "direct-commit",
            Self::IndirectCommit => "indirect-commit",
            Self::DirectSkip => "direct-skip",
            Self::IndirectSkip => "indirect-skip",
        }
    }

    /// Stable code for the WAL.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Inverse of [`DecisionKind::code`].
    pub fn from_code(code: u8) -> Option<Self> {
        [
            Self::DirectCommit,
            Self::IndirectCommit,
            Self::DirectSkip,
            Self::IndirectSkip,
        ]
        .get(code as usize)
        .copied()
    }
}

/// The outcome for one leader slot.
#[derive(Clone)]
pub struct LeaderDecision {
    /// The slot.
    pub slot: Slot,
    /// Elected author of the slot.
    pub authority: AuthorityIndex,
    /// How it was decided.
    pub kind: DecisionKind,
    /// The committed block (None when skipped).
    pub block: Option<BlockPtr>,
    /// The leader schedule right after this decision, for commits whose index (counted from
    /// genesis) is a multiple of [`SYNC_POINT_INTERVAL`]: the state a sync point carries.
    pub schedule: Option<ScheduleState>,
}

impl fmt::Debug for LeaderDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}:{}:{:?}:{:?}",
            self.slot,
            self.authority,
            self.kind,
            self.block.as_ref().map(|b| b.reference())
        )
    }
}

enum Status {
    Commit(BlockPtr, bool),
    Skip(bool),
    Undecided,
}

/// Decides leader slots in order.
pub struct Committer {
    committee: Arc<Committee>,
    wave_length: u64,
    leaders: usize,
    last_decided: Slot,
    schedule: LeaderSchedule,
    /// Memo of [`Committer::supported`]: (block, slot round, slot author) -> the block of
    /// the slot its history meets first. The slots still to decide are above the last
    /// decided round, which the gc round never passes, so the blocks these answers walk
    /// stay stored and an answer stays true while it is kept. No order depends on these
    /// maps: they are only looked up.
    votes: HashMap<(BlockRef, Round, AuthorityIndex), Option<BlockRef>>,
    /// Memo of [`Committer::certifies`]: (block at the decision round, leader) -> whether
    /// it certifies the leader (it depends only on the block's references and on `votes`).
    certificates: HashMap<(BlockRef, BlockRef), bool>,
    /// What the direct decision of each slot still to decide has counted so far.
    tallies: HashMap<Slot, tally::DirectTally>,
    /// The [`DagStore::version`] at which the last pass decided nothing: until the DAG or
    /// this committer's progress changes, the next one would decide nothing either.
    stuck_at: Option<u64>,
    /// Tests of the explorer only: count votes and direct skips against validity stake
    /// (f+1) instead of a quorum, an unsafe rule.
    weak_quorum: bool,
}

impl Committer {
    /// A committer with wave length `wave_length` (>= 3) and `leaders` leaders per round,
    /// whose leader schedule learns every `reputation_window` commits (never if 0).
    pub fn new(
        committee: Arc<Committee>,
        wave_length: u64,
        leaders: usize,
        reputation_window: u64,
    ) -> Self {
        assert!(wave_length >= 3 && leaders >= 1);
        Self {
            schedule: LeaderSchedule::new(committee.clone(), leaders, reputation_window),
            committee,
            wave_length,
            leaders,
            last_decided: Slot {
                round: 0,
                index: leaders - 1,
            },
            votes: HashMap::new(),
            certificates: HashMap::new(),
            tallies: HashMap::new(),
            stuck_at: None,
            weak_quorum: false,
        }
    }

    /// Tests of the explorer only: plants an unsafe rule (a leader is certified by votes,
    /// and skipped directly by non-votes, of validity stake (f+1) instead of a quorum), so
    /// that validators can decide one slot differently.
    pub fn plant_weak_quorum(&mut self) {
        self.weak_quorum = true;
        self.certificates.clear();
        self.tallies.clear();
        self.stuck_at = None;
    }

    /// The stake that certifies a leader and that skips it directly.
    fn vote_quorum(&self) -> crate::committee::Stake {
        if self.weak_quorum {
            self.committee.validity_threshold()
        } else {
            self.committee.quorum_threshold()
        }
    }

    /// The last slot decided (round 0 = none yet).
    pub fn last_decided(&self) -> Slot {
        self.last_decided
    }

    /// The `k`-th leader of `round` under the schedule learnt so far.
    pub fn leader(&self, round: Round, k: usize) -> AuthorityIndex {
        self.schedule.leader(round, k)
    }

    /// What the leader schedule has learnt (for WAL checkpoints).
    pub fn schedule_state(&self) -> &ScheduleState {
        self.schedule.state()
    }

    /// Replays a logged decision (after a restart): progress and the leader schedule.
    pub fn replay_decision(&mut self, slot: Slot, committed: bool) {
        let author = self.schedule.leader(slot.round, slot.index);
        self.schedule.record(slot.round, author, committed);
        self.last_decided = slot;
        self.stuck_at = None;
    }

    /// Restores progress and the leader schedule from a WAL checkpoint.
    pub fn restore(&mut self, last_decided: Slot, schedule: ScheduleState) {
        self.stuck_at = None;
        self.last_decided = last_decided;
        self.schedule.restore(schedule);
    }

    /// Jumps to a sync point's progress and leader schedule.
    pub fn jump(&mut self, last_decided: Slot, schedule: &ScheduleState) {
        self.stuck_at = None;
        self.last_decided = last_decided;
        self.schedule.restore(schedule.clone());
    }

    fn next_slot(&self, s: Slot) -> Slot {
        if s.index + 1 < self.leaders {
            Slot {
                round: s.round,
                index: s.index + 1,
            }
        } else {
            Slot {
                round: s.round + 1,
                index: 0,
            }
        }
    }

    /// Decides as many slots after the last decided one as the DAG allows, in order.
    pub fn try_decide(&mut self, dag: &DagStore) -> Vec<LeaderDecision> {
        let mut decisions = Vec::new();
        if self.stuck_at == Some(dag.version()) {
            return decisions;
        }
        // A commit that changes the leader schedule ends a pass: the slots after it are
        // decided again under the new schedule, as every validator does.
        while self.decide_pass(dag, &mut decisions) {}
        if decisions.is_empty() {
            self.stuck_at = Some(dag.version());
        } else {
            self.stuck_at = None;
            let floor = self.last_decided.round;
            self.votes.retain(|(v, _, _), _| v.round >= floor);
            self.certificates.retain(|(c, _), _| c.round >= floor);
            let last = self.last_decided;
            self.tallies.retain(|s, _| *s > last);
        }
        decisions
    }

    /// Decides slots in order under the current schedule; true if it stopped at a commit
    /// that changed the schedule.
    fn decide_pass(&mut self, dag: &DagStore, decisions: &mut Vec<LeaderDecision>) -> bool {
        let first = self.next_slot(self.last_decided);
        let highest = dag.highest_round();
        if highest < first.round + self.wave_length - 2 {
            return false;
        }
        let mut statuses: Vec<(Slot, Status)> = Vec::new();
        for round in (first.round..=highest).rev() {
            for index in (0..self.leaders).rev() {
                let slot = Slot { round, index };
                if slot < first {
                    continue;
                }
                let mut status = self.decide_direct(dag, slot);
                if matches!(status, Status::Undecided) {
                    status = self.decide_indirect(dag, slot, &statuses);
                }
                statuses.push((slot, status));
            }
        }
        for (slot, status) in statuses.into_iter().rev() {
            let authority = self.schedule.leader(slot.round, slot.index);
            let (kind, block) = match status {
                Status::Undecided => break,
                Status::Commit(b, true) => (DecisionKind::DirectCommit, Some(b)),
                Status::Commit(b, false) => (DecisionKind::IndirectCommit, Some(b)),
                Status::Skip(true) => (DecisionKind::DirectSkip, None),
                Status::Skip(false) => (DecisionKind::IndirectSkip, None),
            };
            self.last_decided = slot;
            let committed = block.is_some();
            let changed = self.schedule.record(slot.round, authority, committed);
            let commits = self.schedule.state().commits;
            decisions.push(LeaderDecision {
                slot,
                authority,
                kind,
                block,
                schedule: (committed && commits.is_multiple_of(SYNC_POINT_INTERVAL))
                    .then(|| self.schedule.state().clone()),
            });
            if changed {
                return true;
            }
        }
        false
    }

    fn decide_direct(&mut self, dag: &DagStore, slot: Slot) -> Status {
        let author = self.schedule.leader(slot.round, slot.index);
        let quorum = self.committee.quorum_threshold();
        let tally = self.direct_tally(dag, slot, author);
        let skip = tally.skip_stake() >= self.vote_quorum();
        let certified: Vec<BlockPtr> = tally
            .leaders()
            .iter()
            .filter(|(_, stake)| stake.stake() >= quorum)
            .map(|(leader, _)| leader.clone())
            .collect();
        self.tallies.insert(slot, tally);
        if skip {
            return Status::Skip(true);
        }
        match Self::unique(slot, certified) {
            Some(b) => Status::Commit(b, true),
            None => Status::Undecided,
        }
    }

    fn decide_indirect(&mut self, dag: &DagStore, slot: Slot, later: &[(Slot, Status)]) -> Status {
        let anchor_round = slot.round + self.wave_length;
        let mut anchor = None;
        for (s, status) in later.iter().rev() {
            if s.round < anchor_round {
                continue;
            }
            match status {
                Status::Skip(_) => continue,
                Status::Undecided => return Status::Undecided,
                Status::Commit(b, _) => {
                    anchor = Some(b.clone());
                    break;
                }
            }
        }
        let Some(anchor) = anchor else {
            return Status::Undecided;
        };
        let author = self.schedule.leader(slot.round, slot.index);
        let decision_round = slot.round + self.wave_length - 1;
        let certificates = history_at_round(dag, &anchor, decision_round);
        let mut certified = Vec::new();
        for leader in dag.slot_blocks(slot.round, author) {
            if certificates.iter().any(|c| self.certifies(dag, c, &leader)) {
                certified.push(leader);
            }
        }
        match Self::unique(slot, certified) {
            Some(b) => Status::Commit(b, false),
            None => Status::Skip(false),
        }
    }

    fn unique(slot: Slot, mut certified: Vec<BlockPtr>) -> Option<BlockPtr> {
        if certified.len() > 1 {
            let refs: Vec<_> = certified.iter().map(|b| b.reference()).collect();
            tracing::error!(
                ?slot,
                ?refs,
                "two certified blocks in one slot: safety is broken"
            );
            panic!("safety violation: two certified blocks {refs:?} in slot {slot:?}");
        }
        certified.pop()
    }

    /// Whether `c` certifies `leader`: its references at the voting round that vote for
    /// `leader` hold a quorum.
    fn certifies(&mut self, dag: &DagStore, c: &BlockPtr, leader: &BlockPtr) -> bool {
        let key = (c.reference(), leader.reference());
        if let Some(certified) = self.certificates.get(&key) {
            return *certified;
        }
        let certified = self.count_certificate(dag, c, leader);
        self.certificates.insert(key, certified);
        certified
    }

    /// [`Committer::certifies`], computed.
    fn count_certificate(&mut self, dag: &DagStore, c: &BlockPtr, leader: &BlockPtr) -> bool {
        let voting = leader.round() + self.wave_length - 2;
        let mut stake = StakeAggregator::default();
        for r in c.includes() {
            if r.round != voting {
                continue;
            }
            let Some(v) = dag.get(r) else { continue };
            if self.supported(dag, v, leader.round(), leader.author()) == Some(leader.reference()) {
                stake.add(v.author(), &self.committee);
            }
        }
        stake.stake() >= self.vote_quorum()
    }

    /// The block of slot (`author`, `round`) first met by a depth-first walk from `from`.
    fn supported(
        &mut self,
        dag: &DagStore,
        from: &BlockPtr,
        round: Round,
        author: AuthorityIndex,
    ) -> Option<BlockRef> {
        let key = (from.reference(), round, author);
        if let Some(v) = self.votes.get(&key) {
            return *v;
        }
        let result = first_in_slot(dag, from, round, author);
        self.votes.insert(key, result);
        result
    }
}

fn first_in_slot(
    dag: &DagStore,
    from: &BlockPtr,
    round: Round,
    author: AuthorityIndex,
) -> Option<BlockRef> {
    let mut visited = HashSet::new();
    let mut stack: Vec<BlockRef> = from.includes().iter().rev().copied().collect();
    while let Some(r) = stack.pop() {
        if r.round < round || !visited.insert(r) {
            continue;
        }
        if r.round == round {
            if r.author == author {
                return Some(r);
            }
            continue;
        }
        if let Some(b) = dag.get(&r) {
            stack.extend(b.includes().iter().rev().copied());
        }
    }
    None
}

/// Blocks at `round` in the causal history of `from`.
fn history_at_round(dag: &DagStore, from: &BlockPtr, round: Round) -> Vec<BlockPtr> {
    let mut visited = HashSet::new();
    let mut out = Vec::new();
    let mut stack = vec![from.clone()];
    while let Some(b) = stack.pop() {
        for r in b.includes() {
            if r.round < round || !visited.insert(*r) {
                continue;
            }
            if let Some(ib) = dag.get(r) {
                if r.round == round {
                    out.push(ib.clone());
                } else {
                    stack.push(ib.clone());
                }
            }
        }
    }
    out
}
