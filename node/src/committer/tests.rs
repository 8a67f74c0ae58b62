//! Commit rule on hand-built DAGs.

use std::sync::Arc;

use bytes::Bytes;
use ed25519_dalek::SigningKey;

use super::*;
use crate::{
    block::Block,
    committee::tests::committee,
    dag::{Accepted, BufferLimits, CausalBuffer},
};

struct Dag {
    committee: Arc<Committee>,
    keys: Vec<SigningKey>,
    store: DagStore,
    buffer: CausalBuffer,
    /// Latest reference per author at each round built so far.
    rounds: Vec<Vec<BlockRef>>,
}

impl Dag {
    fn new(n: usize) -> Self {
        let (c, keys) = committee(n);
        let store = DagStore::new(&c, 0);
        let genesis = (0..n as u32)
            .map(|a| Block::genesis(a).reference())
            .collect();
        Self {
            committee: Arc::new(c),
            keys,
            store,
            buffer: CausalBuffer::new(BufferLimits::new(n, 1000, 1000)),
            rounds: vec![genesis],
        }
    }

    /// Four authorities, each proposing in each of `rounds` rounds on all blocks of the
    /// round before.
    fn with_full_rounds(rounds: usize) -> Self {
        let mut dag = Self::new(4);
        for _ in 0..rounds {
            dag.full_round(&ALL);
        }
        dag
    }

    fn block(&mut self, author: u32, round: Round, includes: Vec<BlockRef>, salt: u8) -> BlockRef {
        let b = Arc::new(Block::new_signed(
            author,
            round,
            0,
            includes,
            Bytes::from(vec![salt]),
            &self.keys[author as usize],
        ));
        b.verify(&self.committee).expect("test block must be valid");
        let mut out = Accepted::default();
        self.buffer.add(&mut self.store, b.clone(), &mut out);
        assert!(self.store.contains(&b.reference()), "ancestors missing");
        b.reference()
    }

    /// Every author in `authors` proposes at the next round, including all blocks of the
    /// previous round.
    fn full_round(&mut self, authors: &[u32]) -> Vec<BlockRef> {
        let parents = self.rounds.last().cloned().unwrap_or_default();
        let round = self.rounds.len() as Round;
        let refs: Vec<_> = authors
            .iter()
            .map(|a| self.block(*a, round, parents.clone(), 0))
            .collect();
        self.rounds.push(refs.clone());
        refs
    }

    /// Every authority proposes at `round`: those `picked` including `chosen`, the others
    /// `rest`; the round is pushed.
    fn split_round(
        &mut self,
        round: Round,
        picked: impl Fn(u32) -> bool,
        chosen: &[BlockRef],
        rest: &[BlockRef],
    ) {
        let refs = ALL
            .iter()
            .map(|a| {
                let includes = if picked(*a) { chosen } else { rest };
                self.block(*a, round, includes.to_vec(), 0)
            })
            .collect();
        self.push_round(refs);
    }

    fn push_round(&mut self, refs: Vec<BlockRef>) {
        self.rounds.push(refs);
    }

    fn committer(&self, w: u64, leaders: usize) -> Committer {
        Committer::new(self.committee.clone(), w, leaders, 0)
    }
}

fn summary(decisions: &[LeaderDecision]) -> Vec<(Round, usize, DecisionKind)> {
    decisions
        .iter()
        .map(|d| (d.slot.round, d.slot.index, d.kind))
        .collect()
}

const ALL: [u32; 4] = [0, 1, 2, 3];

#[test]
fn direct_commit_on_a_full_dag() {
    let mut dag = Dag::with_full_rounds(3);
    let mut c = dag.committer(3, 1);
    let d = c.try_decide(&dag.store);
    assert_eq!(summary(&d), vec![(1, 0, DecisionKind::DirectCommit)]);
    let leader = d[0].block.clone().expect("committed");
    assert_eq!(leader.author(), 1);
    // Nothing new without new blocks.
    assert!(c.try_decide(&dag.store).is_empty());
    // The first sub-DAG is the leader alone (genesis is never committed).
    let sub = linearize(&mut dag.store, &leader, 0);
    assert_eq!(sub.len(), 1);
    dag.full_round(&ALL);
    let d = c.try_decide(&dag.store);
    assert_eq!(summary(&d), vec![(2, 0, DecisionKind::DirectCommit)]);
    let sub = linearize(&mut dag.store, d[0].block.as_ref().expect("block"), 0);
    // Round-1 blocks of 0, 2, 3 plus the round-2 leader, sorted by round.
    assert_eq!(sub.len(), 4);
    assert!(sub.windows(2).all(|w| w[0].reference() < w[1].reference()));
    assert_eq!(sub.last().map(|b| b.round()), Some(2));
}

#[test]
fn direct_skip_when_a_quorum_ignores_the_leader() {
    let mut dag = Dag::new(4);
    let r1 = dag.full_round(&ALL);
    // Leader of round 1 is authority 1; authorities 0, 2, 3 do not include it.
    let without: Vec<_> = r1.iter().filter(|r| r.author != 1).copied().collect();
    let mut r2: Vec<_> = [0u32, 2, 3]
        .iter()
        .map(|a| dag.block(*a, 2, without.clone(), 0))
        .collect();
    r2.push(dag.block(1, 2, r1.clone(), 0));
    dag.push_round(r2);
    let mut c = dag.committer(3, 1);
    let d = c.try_decide(&dag.store);
    assert_eq!(summary(&d), vec![(1, 0, DecisionKind::DirectSkip)]);
}

/// Round 2: only `voters` include the round-1 leader (authority 1).
fn dag_with_round1_votes(voters: &[u32]) -> Dag {
    let mut dag = Dag::new(4);
    let r1 = dag.full_round(&ALL);
    let without: Vec<_> = r1.iter().filter(|r| r.author != 1).copied().collect();
    dag.split_round(2, |a| voters.contains(&a), &r1, &without);
    dag
}

#[test]
fn indirect_commit_through_a_later_anchor() {
    let mut dag = dag_with_round1_votes(&[0, 1, 2]);
    let r2 = dag.rounds[2].clone();
    let voters: Vec<_> = r2.iter().filter(|r| r.author != 3).copied().collect();
    let others: Vec<_> = r2.iter().filter(|r| r.author != 0).copied().collect();
    // Only authority 0's round-3 block certifies the round-1 leader.
    dag.split_round(3, |a| a == 0, &voters, &others);
    let mut c = dag.committer(3, 1);
    assert!(c.try_decide(&dag.store).is_empty(), "round 1 is undecided");
    for _ in 4..=6 {
        dag.full_round(&ALL);
    }
    let d = c.try_decide(&dag.store);
    assert_eq!(
        summary(&d),
        vec![
            (1, 0, DecisionKind::IndirectCommit),
            (2, 0, DecisionKind::DirectCommit),
            (3, 0, DecisionKind::DirectCommit),
            (4, 0, DecisionKind::DirectCommit),
        ]
    );
    assert_eq!(d[0].block.as_ref().map(|b| b.author()), Some(1));
}

#[test]
fn indirect_skip_without_a_certificate() {
    let mut dag = dag_with_round1_votes(&[0, 1]);
    for _ in 3..=6 {
        dag.full_round(&ALL);
    }
    let mut c = dag.committer(3, 1);
    let d = c.try_decide(&dag.store);
    assert_eq!(summary(&d)[0], (1, 0, DecisionKind::IndirectSkip));
    assert_eq!(d.len(), 4);
    assert!(d[1..].iter().all(|x| x.kind == DecisionKind::DirectCommit));
}

#[test]
fn equivocating_leader_commits_only_the_certified_block() {
    let mut dag = Dag::new(4);
    let genesis = dag.rounds[0].clone();
    let honest: Vec<_> = [0u32, 2, 3]
        .iter()
        .map(|a| dag.block(*a, 1, genesis.clone(), 0))
        .collect();
    let a = dag.block(1, 1, genesis.clone(), 1);
    let a2 = dag.block(1, 1, genesis.clone(), 2);
    assert_ne!(a, a2);
    let mut r1 = honest.clone();
    r1.extend([a, a2]);
    dag.push_round(r1);
    let mut with_a = honest.clone();
    with_a.push(a);
    let mut with_a2 = honest.clone();
    with_a2.push(a2);
    dag.split_round(2, |x| x == 1, &with_a2, &with_a);
    dag.full_round(&ALL);
    let mut c = dag.committer(3, 1);
    let d = c.try_decide(&dag.store);
    assert_eq!(summary(&d), vec![(1, 0, DecisionKind::DirectCommit)]);
    assert_eq!(d[0].block.as_ref().map(|b| b.reference()), Some(a));
}

#[test]
fn several_leaders_per_round_are_decided_in_slot_order() {
    let mut dag = Dag::new(4);
    // Authority 2 (second leader of round 1) never proposes at round 1.
    dag.full_round(&[0, 1, 3]);
    dag.full_round(&ALL);
    dag.full_round(&ALL);
    let mut c = dag.committer(3, 2);
    let d = c.try_decide(&dag.store);
    assert_eq!(
        summary(&d),
        vec![
            (1, 0, DecisionKind::DirectCommit),
            (1, 1, DecisionKind::DirectSkip),
        ]
    );
    assert_eq!(d[0].authority, 1);
    assert_eq!(d[1].authority, 2);
    dag.full_round(&ALL);
    let d = c.try_decide(&dag.store);
    assert_eq!(
        summary(&d),
        vec![
            (2, 0, DecisionKind::DirectCommit),
            (2, 1, DecisionKind::DirectCommit),
        ]
    );
}

#[test]
fn wave_length_five_votes_at_r_plus_3_and_decides_at_r_plus_4() {
    let mut dag = Dag::with_full_rounds(4);
    let mut c = dag.committer(5, 1);
    assert!(c.try_decide(&dag.store).is_empty(), "no decision round yet");
    dag.full_round(&ALL);
    let d = c.try_decide(&dag.store);
    assert_eq!(summary(&d), vec![(1, 0, DecisionKind::DirectCommit)]);
}

#[test]
fn wave_length_five_skips_an_absent_leader() {
    let mut dag = Dag::new(4);
    dag.full_round(&[0, 2, 3]);
    for _ in 0..3 {
        dag.full_round(&ALL);
    }
    let mut c = dag.committer(5, 1);
    let d = c.try_decide(&dag.store);
    assert_eq!(summary(&d), vec![(1, 0, DecisionKind::DirectSkip)]);
}

#[test]
fn wave_length_three_commits_every_round_of_a_full_dag() {
    let mut dag = Dag::with_full_rounds(10);
    let mut c = dag.committer(3, 1);
    let d = c.try_decide(&dag.store);
    assert_eq!(d.len(), 8);
    assert!(d.iter().all(|x| x.kind == DecisionKind::DirectCommit));
    let mut total = 0;
    for x in &d {
        total += linearize(&mut dag.store, x.block.as_ref().expect("block"), 0).len();
    }
    // Rounds 1..=7 fully (4 blocks each) plus the round-8 leader.
    assert_eq!(total, 29);
}

#[test]
fn a_committer_that_decided_nothing_decides_again_once_its_progress_is_set_back() {
    let dag = Dag::with_full_rounds(3);
    let mut c = dag.committer(3, 1);
    let schedule = c.schedule_state().clone();
    let start = c.last_decided();
    let past = Slot { round: 3, index: 0 };
    let first = vec![(1, 0, DecisionKind::DirectCommit)];
    // Past every slot the DAG can decide: nothing, and the DAG does not change after.
    c.restore(past, schedule.clone());
    assert!(c.try_decide(&dag.store).is_empty());
    c.restore(start, schedule.clone());
    assert_eq!(summary(&c.try_decide(&dag.store)), first);
    c.restore(past, schedule.clone());
    assert!(c.try_decide(&dag.store).is_empty());
    c.jump(start, &schedule);
    assert_eq!(summary(&c.try_decide(&dag.store)), first);
    c.restore(past, schedule.clone());
    assert!(c.try_decide(&dag.store).is_empty());
    c.replay_decision(start, false);
    assert_eq!(summary(&c.try_decide(&dag.store)), first);
}

#[test]
fn a_committer_given_another_dag_counts_that_dag_afresh() {
    // Round 1 is voted on but not decided: the committer keeps what it counted.
    let a = Dag::with_full_rounds(2);
    let mut c = a.committer(3, 1);
    assert!(c.try_decide(&a.store).is_empty());
    // Another DAG of the same committee whose round 1 holds other blocks.
    let mut b = Dag::new(4);
    let genesis = b.rounds[0].clone();
    let round_1 = ALL
        .iter()
        .map(|x| b.block(*x, 1, genesis.clone(), 1))
        .collect();
    b.push_round(round_1);
    b.full_round(&ALL);
    b.full_round(&ALL);
    let d = c.try_decide(&b.store);
    assert_eq!(summary(&d), vec![(1, 0, DecisionKind::DirectCommit)]);
    assert_eq!(
        d[0].block.as_ref().map(|l| l.reference()),
        Some(b.rounds[1][1])
    );
}
