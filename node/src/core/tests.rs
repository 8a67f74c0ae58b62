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
