//! Agreement on random DAGs: validators that receive the same blocks in different orders,
//! deciding after every block, output the same sequence of committed sub-DAGs.

use std::sync::Arc;

use bytes::Bytes;
use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};

use super::*;
use crate::{
    block::Block,
    committee::tests::committee,
    dag::{Accepted, BufferLimits, CausalBuffer},
};

/// How a random DAG is built.
#[derive(Clone, Copy)]
struct Shape {
    n: usize,
    rounds: u64,
    /// Probability that an honest validator is slow and misses a round.
    absent: f64,
    /// Validator that equivocates (two blocks per round), if any.
    equivocator: Option<u32>,
}

/// Blocks in creation order (every block after its includes).
fn random_dag(shape: Shape, rng: &mut StdRng) -> (Arc<Committee>, Vec<BlockPtr>) {
    let (c, keys) = committee(shape.n);
    let quorum = c.quorum_threshold() as usize;
    let mut all = Vec::new();
    let mut previous: Vec<BlockRef> = (0..shape.n as u32)
        .map(|a| Block::genesis(a).reference())
        .collect();
    let mut last_own: Vec<Option<BlockRef>> = vec![None; shape.n];
    // Blocks an author has not referenced yet (its pending references).
    let mut unreferenced: Vec<Vec<BlockRef>> = vec![Vec::new(); shape.n];
    for round in 1..=shape.rounds {
        let mut authors: Vec<u32> = (0..shape.n as u32).collect();
        authors.shuffle(rng);
        let present: Vec<u32> = authors
            .iter()
            .enumerate()
            .filter(|(i, _)| *i < quorum || !rng.gen_bool(shape.absent))
            .map(|(_, a)| *a)
            .collect();
        let mut current = Vec::new();
        for &a in &present {
            let copies = if shape.equivocator == Some(a) { 2 } else { 1 };
            let own_previous = last_own[a as usize];
            for copy in 0..copies {
                // A quorum (or more) of the previous round's authors, in random order;
                // one block per author (a block referencing two of one slot is invalid).
                let mut parent_authors: Vec<u32> = previous.iter().map(|r| r.author).collect();
                parent_authors.dedup();
                parent_authors.shuffle(rng);
                if parent_authors.len() < quorum {
                    continue;
                }
                let take = rng.gen_range(quorum..=parent_authors.len());
                let mut chosen: Vec<BlockRef> = Vec::new();
                for p in &parent_authors[..take] {
                    let mut blocks: Vec<BlockRef> = previous
                        .iter()
                        .filter(|r| r.author == *p)
                        .copied()
                        .collect();
                    blocks.shuffle(rng);
                    blocks.truncate(1);
                    chosen.extend(blocks);
                }
                let mut includes = Vec::new();
                if let Some(own) = own_previous.filter(|r| {
                    !chosen
                        .iter()
                        .any(|c| (c.round, c.author) == (r.round, r.author))
                }) {
                    includes.push(own);
                }
                // Some older blocks this author has not referenced yet.
                for r in &unreferenced[a as usize] {
                    let slot_taken = includes
                        .iter()
                        .any(|i: &BlockRef| (i.round, i.author) == (r.round, r.author));
                    if r.round + 1 < round && rng.gen_bool(0.5) && !slot_taken {
                        includes.push(*r);
                    }
                }
                includes.extend(chosen);
                let b = Arc::new(Block::new_signed(
                    a,
                    round,
                    0,
                    includes,
                    Bytes::from(vec![copy as u8]),
                    &keys[a as usize],
                ));
                b.verify(&c).expect("generated blocks are valid");
                if copy == 0 {
                    last_own[a as usize] = Some(b.reference());
                    unreferenced[a as usize].retain(|r| !b.includes().contains(r));
                }
                current.push(b.reference());
                all.push(b);
            }
        }
        for (x, pending) in unreferenced.iter_mut().enumerate() {
            pending.extend(previous.iter().filter(|r| r.author != x as u32).copied());
            pending.retain(|r| r.round + 10 > round);
        }
        previous = current;
    }
    (Arc::new(c), all)
}

/// How validators decide: wave length, leaders per round, reputation window (0: none).
#[derive(Clone, Copy)]
struct Rule {
    w: u64,
    leaders: usize,
    reputation: u64,
}

/// One validator's view: blocks arrive in `order`, decisions run after each arrival.
/// Returns the committed sequence and what the leader schedule learnt from it.
fn observe(
    committee: &Arc<Committee>,
    blocks: &[BlockPtr],
    rule: Rule,
) -> (Vec<(BlockRef, Vec<BlockRef>)>, ScheduleState) {
    let mut store = DagStore::new(committee, 0);
    let mut buffer = CausalBuffer::new(BufferLimits::new(committee.size(), 100_000, 1000));
    let mut committer = Committer::new(committee.clone(), rule.w, rule.leaders, rule.reputation);
    let mut out = Vec::new();
    for b in blocks {
        let mut accepted = Accepted::default();
        buffer.add(&mut store, b.clone(), &mut accepted);
        for d in committer.try_decide(&store) {
            if let Some(leader) = &d.block {
                let sub = linearize(&mut store, leader, 0);
                out.push((
                    leader.reference(),
                    sub.iter().map(|b| b.reference()).collect(),
                ));
            }
        }
    }
    assert!(buffer.is_empty(), "every block was delivered");
    (out, committer.schedule_state().clone())
}

/// Checks agreement over `seeds`; returns how many seeds changed the leader schedule.
fn check_agreement(shape: Shape, w: u64, leaders: usize, seeds: std::ops::Range<u64>) -> usize {
    check_agreement_with(
        shape,
        Rule {
            w,
            leaders,
            reputation: 0,
        },
        seeds,
    )
}

fn check_agreement_with(shape: Shape, rule: Rule, seeds: std::ops::Range<u64>) -> usize {
    let mut swapped = 0;
    for seed in seeds {
        let mut rng = StdRng::seed_from_u64(seed);
        let (committee, blocks) = random_dag(shape, &mut rng);
        let (reference, schedule) = observe(&committee, &blocks, rule);
        swapped +=
            usize::from(!schedule.current.out.is_empty() || !schedule.previous.out.is_empty());
        assert!(
            reference.len() as u64 >= shape.rounds / 4,
            "seed {seed}: only {} commits in {} rounds",
            reference.len(),
            shape.rounds
        );
        let mut committed: Vec<BlockRef> = reference.iter().flat_map(|(_, s)| s.clone()).collect();
        let total = committed.len();
        committed.sort();
        committed.dedup();
        assert_eq!(
            committed.len(),
            total,
            "seed {seed}: a block committed twice"
        );
        for view in 0..4 {
            let mut order = blocks.clone();
            order.shuffle(&mut rng);
            let (other, other_schedule) = observe(&committee, &order, rule);
            assert_eq!(
                other.len(),
                reference.len(),
                "seed {seed}, view {view}: different number of commits"
            );
            for (i, (a, b)) in reference.iter().zip(&other).enumerate() {
                assert_eq!(a, b, "seed {seed}, view {view}: commit {i} differs");
            }
            assert_eq!(
                schedule, other_schedule,
                "seed {seed}, view {view}: different leader schedules"
            );
        }
    }
    swapped
}

#[test]
fn random_dags_wave_three_one_leader() {
    let shape = Shape {
        n: 4,
        rounds: 40,
        absent: 0.3,
        equivocator: None,
    };
    check_agreement(shape, 3, 1, 0..20);
}

#[test]
fn random_dags_seven_validators_two_leaders() {
    let shape = Shape {
        n: 7,
        rounds: 40,
        absent: 0.2,
        equivocator: None,
    };
    check_agreement(shape, 3, 2, 0..10);
}

#[test]
fn random_dags_wave_five_two_leaders() {
    let shape = Shape {
        n: 4,
        rounds: 40,
        absent: 0.2,
        equivocator: None,
    };
    check_agreement(shape, 5, 2, 0..10);
    check_agreement(shape, 4, 1, 10..20);
}

#[test]
fn random_dags_with_an_equivocating_validator() {
    let shape = Shape {
        n: 4,
        rounds: 40,
        absent: 0.0,
        equivocator: Some(2),
    };
    check_agreement(shape, 3, 1, 0..20);
    let shape = Shape {
        n: 7,
        rounds: 30,
        absent: 0.1,
        equivocator: Some(3),
    };
    check_agreement(shape, 3, 2, 20..30);
}

/// With leader reputation, validators that receive the blocks in different orders (so they
/// decide in different batches, some passing a schedule change in one call) still commit
/// the same sequence and derive the same schedule.
#[test]
fn random_dags_with_leader_reputation() {
    let shape = Shape {
        n: 4,
        rounds: 60,
        absent: 0.35,
        equivocator: None,
    };
    let rule = Rule {
        w: 3,
        leaders: 1,
        reputation: 3,
    };
    let swapped = check_agreement_with(shape, rule, 0..20);
    assert!(
        swapped >= 10,
        "only {swapped} of 20 seeds changed the schedule"
    );
    let shape = Shape {
        n: 7,
        rounds: 40,
        absent: 0.25,
        equivocator: Some(3),
    };
    let rule = Rule {
        w: 3,
        leaders: 2,
        reputation: 4,
    };
    let swapped = check_agreement_with(shape, rule, 20..30);
    assert!(
        swapped >= 5,
        "only {swapped} of 10 seeds changed the schedule"
    );
}
