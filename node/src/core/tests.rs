//! The proposer's leader wait on a real core (WAL in a temporary directory).

use std::sync::{
    atomic::{AtomicBool, AtomicU64},
    Arc,
};

use bytes::Bytes;
use ed25519_dalek::SigningKey;

use super::{Core, CoreConfig, Effects};
use crate::{
    block::Block,
    committee::{tests::committee, Committee},
    metrics::Metrics,
    parameters::Parameters,
    pool::TransactionPool,
    wal::Wal,
};

struct Setup {
    core: Core,
    committee: Arc<Committee>,
    keys: Vec<SigningKey>,
    metrics: Arc<Metrics>,
}

/// Authority 0 of a 4-validator committee; `connected[i]` says whether its connection to
/// authority i is up. The leader timeout is long enough never to fire in a test.
fn core(dir: &std::path::Path, connected: [bool; 4]) -> Setup {
    let (c, keys) = committee(4);
    let committee = Arc::new(c);
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let parameters = Parameters {
        leader_timeout_ms: 3_600_000,
        min_round_delay_ms: 0,
        ..Parameters::default()
    };
    let (wal, records) = Wal::open(dir, parameters.wal_segment_bytes).expect("wal");
    let core = Core::new(
        CoreConfig {
            authority: 0,
            committee: committee.clone(),
            parameters,
            key: keys[0].clone(),
            pool: Arc::new(TransactionPool::new(4 * 1024 * 1024)),
            metrics: metrics.clone(),
            peer_rounds: Arc::new((0..4).map(|_| AtomicU64::new(0)).collect()),
            connected: Arc::new(connected.into_iter().map(AtomicBool::new).collect()),
            plant_fork_at: None,
        },
        wal,
        records,
    )
    .expect("core");
    Setup {
        core,
        committee,
        keys,
        metrics,
    }
}

/// Own round-1 block, then round-1 blocks of `authors`: the clock reaches round 2.
fn reach_round_two(s: &mut Setup, authors: &[u32]) {
    let mut fx = Effects::default();
    s.core.tick(&mut fx).expect("tick");
    assert_eq!(s.core.last_own_round(), 1, "round 1 needs no leader");
    let genesis: Vec<_> = (0..4).map(|a| Block::genesis(a).reference()).collect();
    for &a in authors {
        let b = Block::new_signed(a, 1, 0, genesis.clone(), Bytes::new(), &s.keys[a as usize]);
        b.verify(&s.committee).expect("valid");
        s.core
            .add_peer_block(a, Arc::new(b), &mut fx)
            .expect("add block");
    }
    assert_eq!(s.core.clock_round(), 2);
}

#[test]
fn a_connected_leader_is_waited_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Round 1's leader is authority 1: connected, but its block has not arrived.
    let mut s = core(dir.path(), [true, true, true, true]);
    reach_round_two(&mut s, &[2, 3]);
    s.core.tick(&mut Effects::default()).expect("tick");
    assert_eq!(s.core.last_own_round(), 1, "proposed without the leader");
}

#[test]
fn a_leader_that_is_not_connected_is_not_waited_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = core(dir.path(), [true, false, true, true]);
    reach_round_two(&mut s, &[2, 3]);
    let mut fx = Effects::default();
    s.core.tick(&mut fx).expect("tick");
    assert_eq!(
        s.core.last_own_round(),
        2,
        "waited for a leader that is down"
    );
    assert_eq!(s.metrics.leader_timeouts.get(), 0);
    assert_eq!(fx.broadcast.last().map(|b| b.round()), Some(2));
}

#[test]
fn a_subscription_from_the_last_possible_round_is_answered_with_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = core(dir.path(), [true; 4]);
    reach_round_two(&mut s, &[2, 3]);
    // A peer chooses the round it subscribes from: the largest one must not overflow.
    let mut fx = Effects::default();
    s.core.subscribe(1, u64::MAX, &mut fx);
    assert!(fx.replies.is_empty());
    // An ordinary subscription gets our blocks above the round.
    s.core.subscribe(1, 0, &mut fx);
    let sent: Vec<_> = fx.replies.iter().flat_map(|(_, bs)| bs.iter()).collect();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].author(), sent[0].round()), (0, 1));
}

fn logged_blocks(dir: &std::path::Path) -> Vec<crate::block::BlockRef> {
    let (_, records) = Wal::open(dir, u64::MAX).expect("reopen");
    records
        .iter()
        .filter_map(|r| match r {
            crate::wal::Record::Block(b) => Some(b.reference()),
            _ => None,
        })
        .collect()
}

/// A block is logged once it joins the DAG: a block whose ancestors never come (e.g. one
/// from a far future round) never reaches the WAL, where its round would keep old
/// segments from being deleted.
#[test]
fn received_blocks_are_logged_when_their_ancestors_are_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = core(dir.path(), [true; 4]);
    let mut fx = Effects::default();
    s.core.tick(&mut fx).expect("tick");
    let genesis: Vec<_> = (0..4).map(|a| Block::genesis(a).reference()).collect();
    let r1: Vec<_> = (1..4u32)
        .map(|a| Block::new_signed(a, 1, 0, genesis.clone(), Bytes::new(), &s.keys[a as usize]))
        .map(Arc::new)
        .collect();
    let parents: Vec<_> = r1.iter().map(|b| b.reference()).collect();
    let child = Arc::new(Block::new_signed(
        2,
        2,
        0,
        parents,
        Bytes::new(),
        &s.keys[2],
    ));
    let far = Arc::new(Block::new_signed(
        3,
        1_000_000,
        0,
        (0..4)
            .map(|a| crate::block::BlockRef {
                round: 999_999,
                author: a,
                digest: [9; 32],
            })
            .collect(),
        Bytes::new(),
        &s.keys[3],
    ));
    for b in [child.clone(), far] {
        s.core.add_peer_block(b.author(), b, &mut fx).expect("add");
    }
    s.core.flush_wal().expect("flush");
    assert!(
        logged_blocks(dir.path()).is_empty(),
        "suspended blocks were logged"
    );
    for b in &r1 {
        s.core
            .add_peer_block(b.author(), b.clone(), &mut fx)
            .expect("add");
    }
    s.core.flush_wal().expect("flush");
    let logged = logged_blocks(dir.path());
    assert_eq!(logged.len(), 4, "{logged:?}");
    assert_eq!(
        logged.last(),
        Some(&child.reference()),
        "the child after its parents"
    );
    assert!(logged.iter().all(|r| r.round < 3));
}
