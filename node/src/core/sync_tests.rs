//! Installing a sync point on a real core: only one that validators holding validity stake
//! report identically, and a restart replays the jump from the WAL.

use std::sync::Arc;

use bytes::Bytes;

use super::{
    tests::{core, Setup},
    Effects,
};
use crate::{
    block::{Block, BlockRef},
    committer::{CommitChain, ScheduleState, Slot, SwapTable, SyncPoint, Tally},
};

/// Far beyond what peers serve block by block with the default retention.
const FAR: u64 = 10_000;

/// Blocks of authors 1 and 2 (validity stake of 4) at round `FAR`: the core is far behind.
fn see_far_blocks(s: &mut Setup, fx: &mut Effects) {
    for a in [1u32, 2] {
        let parent = |p: u32| BlockRef {
            round: FAR - 1,
            author: p,
            digest: [7; 32],
        };
        let b = Block::new_signed(
            a,
            FAR,
            0,
            (0..4).map(parent).collect(),
            Bytes::new(),
            &s.keys[a as usize],
        );
        s.core.add_peer_block(a, Arc::new(b), fx).expect("add");
    }
}

fn point(tag: u8) -> SyncPoint {
    let leader = BlockRef {
        round: FAR - 20,
        author: 1,
        digest: [tag; 32],
    };
    SyncPoint {
        chain: CommitChain {
            index: 5_000,
            hash: [tag; 32],
        },
        slot: Slot {
            round: leader.round,
            index: 0,
        },
        leader,
        committed: vec![leader],
        schedule: ScheduleState {
            commits: 5_000,
            window: vec![Tally::default(); 4],
            record: vec![
                Tally { led: 5, skipped: 0 },
                Tally { led: 5, skipped: 1 },
                Tally { led: 5, skipped: 0 },
                Tally { led: 5, skipped: 4 },
            ],
            // Validator 3's slots go to validator 0.
            current: SwapTable {
                from_round: FAR - 25,
                out: vec![3],
                into: vec![0],
            },
            previous: SwapTable::default(),
        },
    }
}

/// The committer elects under the sync point's schedule: validator 3's slots are validator 0's.
fn elects_under_the_sync_points_schedule(s: &Setup) -> bool {
    s.core.committer.schedule_state() == &point(1).schedule
        && (FAR..FAR + 8).all(|round| s.core.committer.leader(round, 0) != 3)
}

#[test]
fn only_a_sync_point_vouched_for_by_validity_stake_is_installed_and_replayed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = core(dir.path(), [true; 4]);
    let mut fx = Effects::default();
    s.core.tick(&mut fx).expect("tick");
    assert!(!fx.sync_request, "asked for sync points while up to date");
    see_far_blocks(&mut s, &mut fx);
    s.core.tick(&mut fx).expect("tick");
    assert!(
        fx.sync_request,
        "did not ask for sync points while far behind"
    );

    // One peer alone (a liar, for all the core knows) is not enough, nor two that disagree.
    s.core
        .receive_sync_points(1, vec![point(1)], &mut fx)
        .expect("receive");
    s.core
        .receive_sync_points(2, vec![point(2)], &mut fx)
        .expect("receive");
    assert_eq!(
        s.core.commit_chain().index,
        0,
        "installed a sync point only one peer reported"
    );
    assert_eq!(s.metrics.state_syncs.get(), 0);

    // A second peer reporting the same one vouches for it.
    s.core
        .receive_sync_points(3, vec![point(9), point(1)], &mut fx)
        .expect("receive");
    assert_eq!(s.core.commit_chain(), point(1).chain);
    assert_eq!(s.core.last_committed_round(), FAR - 20);
    assert_eq!(s.metrics.state_syncs.get(), 1);
    assert!(
        elects_under_the_sync_points_schedule(&s),
        "the jump kept this validator's own leader schedule"
    );
    let own_round = s.core.last_own_round();
    drop(s);

    // A restart replays the jump.
    let s = core(dir.path(), [true; 4]);
    assert_eq!(s.core.commit_chain(), point(1).chain);
    assert_eq!(s.core.last_committed_round(), FAR - 20);
    assert_eq!(s.core.last_own_round(), own_round);
    assert!(
        elects_under_the_sync_points_schedule(&s),
        "the replayed jump kept the old leader schedule"
    );
}

#[test]
fn sync_requests_are_answered_at_most_every_half_second_per_peer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = core(dir.path(), [true; 4]);
    let mut fx = Effects::default();
    s.core.answer_sync_request(1, &mut fx);
    assert!(fx.sync_points.is_empty(), "answered without a sync point");
    s.core.keep_sync_point(point(1));
    for _ in 0..10 {
        s.core.answer_sync_request(1, &mut fx);
    }
    s.core.answer_sync_request(2, &mut fx);
    let answered: Vec<_> = fx.sync_points.iter().map(|(peer, _)| *peer).collect();
    assert_eq!(
        answered,
        vec![1, 2],
        "a burst of requests was answered more than once"
    );
    assert_eq!(fx.sync_points[0].1, vec![point(1)]);
}
