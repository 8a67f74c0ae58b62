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
    wal::{Owner, Wal},
};

pub(super) struct Setup {
    pub(super) core: Core,
    committee: Arc<Committee>,
    pub(super) keys: Vec<SigningKey>,
    pub(super) metrics: Arc<Metrics>,
    pool: Arc<TransactionPool>,
}

/// Authority 0 of a 4-validator committee; `connected[i]` says whether its connection to
/// authority i is up. The leader timeout is long enough never to fire in a test.
pub(super) fn core(dir: &std::path::Path, connected: [bool; 4]) -> Setup {
    core_with(dir, connected, 3_600_000)
}

/// [`core`] with the given leader timeout.
fn core_with(dir: &std::path::Path, connected: [bool; 4], leader_timeout_ms: u64) -> Setup {
    let parameters = Parameters {
        leader_timeout_ms,
        min_round_delay_ms: 0,
        ..Parameters::default()
    };
    core_params(dir, connected, parameters)
}

/// [`core`] with the given parameters.
fn core_params(dir: &std::path::Path, connected: [bool; 4], parameters: Parameters) -> Setup {
    let (c, keys) = committee(4);
    let committee = Arc::new(c);
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let owner = Owner::new(&committee, 0, &keys[0].verifying_key());
    let (wal, records) = Wal::open(dir, parameters.wal_segment_bytes, owner).expect("wal");
    let pool = Arc::new(TransactionPool::new(4 * 1024 * 1024));
    let core = Core::new(
        CoreConfig {
            authority: 0,
            committee: committee.clone(),
            parameters,
            key: keys[0].clone(),
            pool: pool.clone(),
            metrics: metrics.clone(),
            peer_rounds: Arc::new((0..4).map(|_| AtomicU64::new(0)).collect()),
            connected: Arc::new(connected.into_iter().map(AtomicBool::new).collect()),
            plant_fork_at: None,
            byzantine: None,
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
        pool,
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

/// Signed blocks of `authors` at `round` that include `previous`, added to the core.
fn add_round(
    s: &mut Setup,
    round: u64,
    authors: impl Iterator<Item = u32>,
    previous: &[crate::block::BlockRef],
    fx: &mut Effects,
) -> Vec<crate::block::BlockPtr> {
    let blocks: Vec<_> = authors
        .map(|a| {
            let key = &s.keys[a as usize];
            Arc::new(Block::new_signed(
                a,
                round,
                0,
                previous.to_vec(),
                Bytes::new(),
                key,
            ))
        })
        .collect();
    for b in &blocks {
        s.core
            .add_peer_block(b.author(), b.clone(), fx)
            .expect("add");
    }
    blocks
}

/// Authority 1 leads rounds 1, 5, 9 and 13 (`leader(r) = r % 4`). It proposes nothing in
/// rounds 1, 5 and 13 and proposes in time in round 9; everyone else proposes every round.
/// Returns, per round from 2 on, whether our proposal there waited for the leader timeout.
async fn waits_with_a_silent_leader(s: &mut Setup, rounds: u64) -> Vec<(u64, bool)> {
    let timeout = std::time::Duration::from_millis(1000);
    let mut previous: Vec<_> = (0..4).map(|a| Block::genesis(a).reference()).collect();
    let mut waits = Vec::new();
    for round in 1..=rounds {
        let mut fx = Effects::default();
        s.core.tick(&mut fx).expect("tick");
        let waited = s.core.last_own_round() < round;
        if waited {
            tokio::time::advance(timeout).await;
            s.core.tick(&mut fx).expect("tick");
        }
        assert_eq!(
            s.core.last_own_round(),
            round,
            "no proposal at round {round}"
        );
        if round > 1 {
            waits.push((round, waited));
        }
        let own = fx.broadcast.last().expect("own block").reference();
        let silent = round % 4 == 1 && round != 9;
        let authors = (1..4u32).filter(|&a| !(a == 1 && silent));
        let blocks = add_round(s, round, authors, &previous, &mut fx);
        previous = std::iter::once(own)
            .chain(blocks.iter().map(|b| b.reference()))
            .collect();
    }
    waits
}

#[tokio::test(start_paused = true)]
async fn a_leader_that_let_its_wait_time_out_is_not_waited_for_until_it_leads_in_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = core_with(dir.path(), [true; 4], 1000);
    let waits = waits_with_a_silent_leader(&mut s, 14).await;
    let waited: Vec<u64> = waits.iter().filter(|(_, w)| *w).map(|(r, _)| *r).collect();
    // Round 2 waits for round 1's leader in vain; round 6 does not wait for it again;
    // it leads round 9 in time, so round 14 waits for it again.
    assert_eq!(
        waited,
        vec![2, 14],
        "rounds that waited for the leader timeout"
    );
    assert_eq!(s.metrics.leader_timeouts.get(), 2);
}

/// Authority 1 is a late leader (`Behaviour::LateLeader`): in the rounds it leads under
/// our schedule, in turn, its block arrives `LATE_FRACTION` of the leader timeout after the
/// round started, never, or in time; in other rounds it is honest. Authorities 2 and 3
/// propose every round on what our own block referenced. Returns, per round, how long we
/// waited (paused clock) before proposing there.
async fn waits_with_a_late_leader(s: &mut Setup, rounds: u64) -> Vec<std::time::Duration> {
    let timeout = s.core.params.leader_timeout();
    let late = timeout.mul_f64(crate::byzantine::LATE_FRACTION);
    let mut waits = Vec::new();
    // The late leader's block of the round before, not delivered yet.
    let mut held: Option<crate::block::BlockPtr> = None;
    for round in 1..=rounds {
        let mut fx = Effects::default();
        let started = tokio::time::Instant::now();
        s.core.tick(&mut fx).expect("tick");
        if s.core.last_own_round() < round {
            if let Some(b) = held.take() {
                tokio::time::advance(late).await;
                s.core.add_peer_block(1, b, &mut fx).expect("add");
                s.core.tick(&mut fx).expect("tick");
            }
        }
        if s.core.last_own_round() < round {
            tokio::time::advance(timeout.saturating_sub(started.elapsed())).await;
            s.core.tick(&mut fx).expect("tick");
        }
        assert_eq!(
            s.core.last_own_round(),
            round,
            "no proposal at round {round}"
        );
        waits.push(started.elapsed());
        // We did not wait for it: it arrives after our proposal.
        if let Some(b) = held.take() {
            s.core.add_peer_block(1, b, &mut fx).expect("add");
        }
        let own = fx.broadcast.last().expect("own block").clone();
        let previous: Vec<_> = own
            .includes()
            .iter()
            .filter(|r| r.round + 1 == round)
            .copied()
            .collect();
        add_round(s, round, 2..4u32, &previous, &mut fx);
        let phase = (s.core.committer.leader(round, 0) == 1)
            .then(|| crate::byzantine::LatePhase::of(round, 4));
        if phase != Some(crate::byzantine::LatePhase::Silent) {
            let key = &s.keys[1];
            let b = Arc::new(Block::new_signed(1, round, 0, previous, Bytes::new(), key));
            if phase == Some(crate::byzantine::LatePhase::Late) {
                held = Some(b);
            } else {
                s.core.add_peer_block(1, b, &mut fx).expect("add");
            }
        }
    }
    waits
}

/// Leader reputation against a late leader: with it, the late and silent rounds of the
/// first window cost their wait, then authority 1 loses its slots and nobody waits for it
/// again; without it (window 0), it costs about 1.9 leader timeouts every 12 rounds, for
/// ever.
#[tokio::test(start_paused = true)]
async fn a_late_leader_is_swapped_out_of_the_schedule_and_then_costs_no_wait() {
    let timeout = std::time::Duration::from_millis(1000);
    let run = |reputation_window| async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let parameters = Parameters {
            leader_timeout_ms: timeout.as_millis() as u64,
            min_round_delay_ms: 0,
            reputation_window,
            ..Parameters::default()
        };
        let mut s = core_params(dir.path(), [true; 4], parameters);
        let waits = waits_with_a_late_leader(&mut s, 120).await;
        assert!(
            s.core.commit_chain().index >= 100,
            "{:?}",
            s.core.commit_chain()
        );
        let total: std::time::Duration = waits.iter().sum();
        let second_half: std::time::Duration = waits[60..].iter().sum();
        (
            total,
            second_half,
            s.core.committer.schedule_state().clone(),
        )
    };

    let (total, second_half, schedule) = run(8).await;
    assert_eq!(schedule.current.out, vec![1], "{schedule:?}");
    assert!(total <= timeout * 2, "waited {total:?} in all");
    assert!(
        second_half.is_zero(),
        "waited {second_half:?} in rounds 61-120"
    );

    let (total, second_half, schedule) = run(0).await;
    assert!(schedule.current.out.is_empty());
    assert!(
        total >= timeout * 15,
        "waited only {total:?} without reputation"
    );
    assert!(
        second_half >= timeout * 8,
        "waited only {second_half:?} in rounds 61-120 without reputation"
    );
}

/// Learns a schedule against a late leader, restarts, and checks the restarted core has
/// the same schedule; returns whether its WAL replay started at a checkpoint.
async fn schedule_after_restart(parameters: Parameters) -> bool {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = core_params(dir.path(), [true; 4], parameters.clone());
    waits_with_a_late_leader(&mut s, 60).await;
    s.core.sync_wal().expect("sync");
    let learnt = s.core.committer.schedule_state().clone();
    assert_eq!(learnt.current.out, vec![1], "{learnt:?}");
    let leaders: Vec<_> = (60..90).map(|r| s.core.committer.leader(r, 0)).collect();
    let chain = s.core.commit_chain();
    drop(s);

    let (c, keys) = committee(4);
    let owner = Owner::new(&c, 0, &keys[0].verifying_key());
    let (_, records) = Wal::open(dir.path(), u64::MAX, owner).expect("reopen");
    let from_checkpoint = matches!(
        records.first(),
        Some(crate::wal::Record::Checkpoint { chain, .. }) if chain.index > 8
    );
    let s = core_params(dir.path(), [true; 4], parameters);
    assert_eq!(s.core.commit_chain(), chain);
    assert_eq!(s.core.committer.schedule_state(), &learnt);
    let after: Vec<_> = (60..90).map(|r| s.core.committer.leader(r, 0)).collect();
    assert_eq!(after, leaders);
    from_checkpoint
}

/// What the schedule learnt survives a restart: rebuilt from the logged decisions, or
/// taken from a checkpoint when the segments before it are gone.
#[tokio::test(start_paused = true)]
async fn the_leader_schedule_survives_a_restart() {
    let parameters = Parameters {
        leader_timeout_ms: 1000,
        min_round_delay_ms: 0,
        reputation_window: 8,
        ..Parameters::default()
    };
    assert!(
        !schedule_after_restart(parameters.clone()).await,
        "one segment: the replay starts at genesis"
    );
    // Small segments, kept only while needed: the replay starts at a checkpoint.
    let parameters = Parameters {
        wal_segment_bytes: 4096,
        retention_rounds: 6,
        wal_retention_rounds: 0,
        wal_retention_bytes: 0,
        ..parameters
    };
    assert!(
        schedule_after_restart(parameters).await,
        "the replay does not start at a checkpoint"
    );
}

#[test]
fn a_subscription_from_the_last_possible_round_is_answered_with_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = core(dir.path(), [true; 4]);
    reach_round_two(&mut s, &[2, 3]);
    // A peer chooses the round it subscribes from: the largest one must not overflow.
    let mut fx = Effects::default();
    s.core.subscribe(1, u64::MAX, &mut fx);
    assert!(fx.replies.is_empty() && fx.catch_up.is_empty());
    // An ordinary subscription gets our blocks above the round.
    s.core.subscribe(1, 0, &mut fx);
    let sent = replied(&fx);
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].author(), sent[0].round()), (0, 1));
}

fn logged_blocks(dir: &std::path::Path) -> Vec<crate::block::BlockRef> {
    let (c, keys) = committee(4);
    let owner = Owner::new(&c, 0, &keys[0].verifying_key());
    let (_, records) = Wal::open(dir, u64::MAX, owner).expect("reopen");
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

/// Blocks from memory in the core's replies and catch-up jobs.
fn replied(fx: &Effects) -> Vec<crate::block::BlockPtr> {
    let stored = fx.catch_up.iter().flat_map(|(_, job)| {
        job.0.iter().filter_map(|s| match s {
            crate::network::Source::Stored(b) => Some(b.clone()),
            crate::network::Source::Logged(..) => None,
        })
    });
    fx.replies
        .iter()
        .flat_map(|(_, bs)| bs.iter().cloned())
        .chain(stored)
        .collect()
}

/// Own blocks in what the core sends: broadcasts and replies.
fn own_blocks_sent(fx: &Effects) -> Vec<crate::block::BlockPtr> {
    fx.broadcast
        .iter()
        .cloned()
        .chain(replied(fx))
        .filter(|b| b.author() == 0)
        .collect()
}

/// Drives authority 0 through `rounds` rounds with blocks of authorities 1-3 that include
/// every block of the round before; returns those peer blocks, round by round.
fn run_rounds(s: &mut Setup, rounds: u64, fx: &mut Effects) -> Vec<Vec<crate::block::BlockPtr>> {
    let mut previous: Vec<_> = (0..4).map(|a| Block::genesis(a).reference()).collect();
    let mut peers = Vec::new();
    for round in 1..=rounds {
        s.core.tick(fx).expect("tick");
        assert_eq!(
            s.core.last_own_round(),
            round,
            "no proposal at round {round}"
        );
        let own = fx.broadcast.last().expect("own block").reference();
        let blocks = add_round(s, round, 1..4u32, &previous, fx);
        previous = std::iter::once(own)
            .chain(blocks.iter().map(|b| b.reference()))
            .collect();
        peers.push(blocks);
    }
    peers
}

/// What a restarted validator sends never contains a second block for a round it signed
/// before the crash: its WAL replay restores the rounds it signed.
#[test]
fn a_restarted_core_never_sends_a_second_block_for_a_signed_round() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = core(dir.path(), [true; 4]);
    let mut fx = Effects::default();
    let peers = run_rounds(&mut s, 5, &mut fx);
    let signed: std::collections::HashMap<_, _> = own_blocks_sent(&fx)
        .iter()
        .map(|b| (b.round(), b.reference().digest))
        .collect();
    assert_eq!(signed.len(), 5);
    // Crash: whatever was not fsynced is lost (own blocks were, before they were sent).
    drop(s);

    let mut s = core(dir.path(), [true; 4]);
    // Pending transactions make any new block differ from the one signed before.
    let mut tx = bytes::BytesMut::new();
    crate::transactions::put_transaction(&mut tx, 64, 1, 1);
    assert!(s.pool.try_push(tx.freeze(), 1));
    // The peers resend their blocks and subscribe to ours from the start.
    let mut fx = Effects::default();
    for blocks in &peers {
        s.core.tick(&mut fx).expect("tick");
        for b in blocks {
            s.core
                .add_peer_block(b.author(), b.clone(), &mut fx)
                .expect("add");
        }
    }
    s.core.tick(&mut fx).expect("tick");
    s.core.subscribe(1, 0, &mut fx);
    let sent = own_blocks_sent(&fx);
    for b in &sent {
        if let Some(digest) = signed.get(&b.round()) {
            assert_eq!(
                *digest,
                b.reference().digest,
                "a second block signed for round {}",
                b.round()
            );
        }
    }
    // It does go on: its next block is above the rounds signed before the crash.
    assert!(
        sent.iter().any(|b| b.round() == 6),
        "no proposal after the restart: {:?}",
        sent.iter().map(|b| b.round()).collect::<Vec<_>>()
    );
}

/// Round-1 blocks of `author`, `count` of them (an equivocator when count > 1).
fn round_one(s: &Setup, author: u32, count: usize) -> Vec<Arc<Block>> {
    let genesis: Vec<_> = (0..4).map(|a| Block::genesis(a).reference()).collect();
    (0..count)
        .map(|i| {
            let payload = Bytes::from((i as u32).to_le_bytes().to_vec());
            let b = Block::new_signed(
                author,
                1,
                0,
                genesis.clone(),
                payload,
                &s.keys[author as usize],
            );
            b.verify(&s.committee).expect("valid");
            Arc::new(b)
        })
        .collect()
}

/// One validator of 4 signs many blocks for one round: they are counted as evidence, at
/// most two are stored unless a block we need references another, and our own proposals
/// reference exactly one of them, the same one whatever the order they came in.
#[test]
fn an_equivocation_is_counted_and_never_amplified() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = core(dir.path(), [true; 4]);
    let mut fx = Effects::default();
    s.core.tick(&mut fx).expect("tick");
    let mut forks = round_one(&s, 3, 50);
    forks.reverse();
    for b in round_one(&s, 1, 1)
        .into_iter()
        .chain(round_one(&s, 2, 1))
        .chain(forks.iter().cloned())
    {
        s.core.add_peer_block(b.author(), b, &mut fx).expect("add");
    }
    assert!(s.metrics.equivocations.get() >= 49, "evidence not counted");
    assert_eq!(s.core.dag.slot_len(1, 3), 2, "unrequested forks stored");
    assert_eq!(s.core.clock_round(), 2);
    let mut fx = Effects::default();
    s.core.tick(&mut fx).expect("tick");
    let own = fx.broadcast.last().expect("proposed at round 2").clone();
    assert_eq!(own.round(), 2);
    let of_3: Vec<_> = own.includes().iter().filter(|r| r.author == 3).collect();
    assert_eq!(of_3.len(), 1, "several blocks of one slot referenced");
    let stored = s.core.dag.slot_blocks(1, 3);
    let lowest = stored.iter().map(|b| b.reference()).min().expect("stored");
    assert_eq!(*of_3[0], lowest, "not the lowest digest");
    own.verify(&s.committee).expect("own block valid");

    // A peer's block references a fork we did not keep: it is fetched and stored, but our
    // next block still references nothing else of that slot.
    let wanted = forks
        .iter()
        .find(|b| !s.core.dag.contains(&b.reference()))
        .expect("a dropped fork")
        .clone();
    let r1 = |a: u32| round_one(&s, a, 1)[0].reference();
    let peer = Arc::new(Block::new_signed(
        2,
        2,
        0,
        vec![r1(1), r1(2), wanted.reference()],
        Bytes::new(),
        &s.keys[2],
    ));
    let mut fx = Effects::default();
    s.core
        .add_peer_block(2, peer.clone(), &mut fx)
        .expect("add");
    assert!(fx
        .requests
        .iter()
        .any(|(_, refs)| refs.contains(&wanted.reference())));
    s.core
        .add_peer_block(2, wanted.clone(), &mut fx)
        .expect("add");
    assert!(
        s.core.dag.contains(&peer.reference()),
        "a requested fork was refused"
    );
    assert!(!s
        .core
        .pending_refs
        .iter()
        .any(|r| (r.round, r.author) == (1, 3)));
}

/// A peer's block that references a block more than `retention_rounds` below its own round
/// is invalid for every validator (whatever its gc round), so none stores it.
#[test]
fn a_reference_beyond_the_retention_horizon_makes_a_block_invalid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = core(dir.path(), [true; 4]);
    let horizon = Parameters::default().retention_rounds;
    let round = horizon + 10;
    let parents: Vec<_> = (0..4)
        .map(|a| crate::block::BlockRef {
            round: round - 1,
            author: a,
            digest: [1; 32],
        })
        .chain([Block::genesis(2).reference()])
        .collect();
    let b = Arc::new(Block::new_signed(
        1,
        round,
        0,
        parents,
        Bytes::new(),
        &s.keys[1],
    ));
    b.verify(&s.committee).expect("structurally valid");
    let mut fx = Effects::default();
    s.core.add_peer_block(1, b.clone(), &mut fx).expect("add");
    assert_eq!(s.metrics.invalid_blocks.get(), 1);
    assert!(!s.core.buffer.contains(&b.reference()));
    assert!(
        fx.requests.is_empty(),
        "asked for the ancestors of an invalid block"
    );
}

/// One author floods blocks from far rounds whose parents never come: the causal buffer
/// and the missing-block bookkeeping stay within that author's share, and another
/// author's out-of-order block still waits for its parents and is then stored.
#[test]
fn a_far_future_flood_leaves_the_buffer_and_requests_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = core(dir.path(), [true; 4]);
    s.core.params.missing_retry_ms = 0;
    let mut fx = Effects::default();
    s.core.tick(&mut fx).expect("tick");
    let share = super::BUFFER_CAPACITY / 4;
    // Within the rounds-ahead bound (only the share limits them), highest rounds first so
    // that later ones evict earlier ones.
    for round in (2..(share as u64 * 2 + 100)).rev() {
        let fake = |a: u32| crate::block::BlockRef {
            round: round - 1,
            author: a,
            digest: [round as u8; 32],
        };
        let b = Block::new_signed(
            3,
            round,
            0,
            (0..4).map(fake).collect(),
            Bytes::new(),
            &s.keys[3],
        );
        s.core.add_peer_block(3, Arc::new(b), &mut fx).expect("add");
        if round % 100 == 0 {
            s.core.tick(&mut fx).expect("tick");
        }
    }
    s.core.tick(&mut fx).expect("tick");
    assert!(
        s.core.buffer.len() <= share,
        "{} suspended",
        s.core.buffer.len()
    );
    assert!(s.core.requested.len() <= s.core.buffer.missing_len());
    assert!(s.core.buffer.missing_len() <= 4 * share);
    let dropped = s
        .metrics
        .dropped_blocks
        .with_label_values(&["buffer-full"])
        .get();
    assert!(dropped >= share as u64, "nothing dropped");
    assert_eq!(s.metrics.invalid_blocks.get(), 0);
    let r1 = round_one(&s, 1, 1).remove(0);
    let r1b = round_one(&s, 2, 1).remove(0);
    let own = s.core.last_own.expect("own block");
    let child = Arc::new(Block::new_signed(
        1,
        2,
        0,
        vec![own, r1.reference(), r1b.reference()],
        Bytes::new(),
        &s.keys[1],
    ));
    s.core
        .add_peer_block(1, child.clone(), &mut fx)
        .expect("add");
    assert!(s.core.buffer.contains(&child.reference()), "no room left");
    for b in [r1, r1b] {
        s.core.add_peer_block(b.author(), b, &mut fx).expect("add");
    }
    assert!(s.core.dag.contains(&child.reference()));
}
