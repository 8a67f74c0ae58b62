//! WAL replay, corruption handling and segment rotation.

use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::{
    block::Block,
    committee::tests::committee,
    committer::{CommitChain, Slot},
};
use std::path::Path;

fn blocks(n: usize) -> Vec<BlockPtr> {
    let (_, keys) = committee(4);
    let genesis: Vec<_> = (0..4).map(|a| Block::genesis(a).reference()).collect();
    (0..n)
        .map(|i| {
            Arc::new(Block::new_signed(
                (i % 4) as u32,
                1 + i as u64 / 4,
                i as u64,
                genesis.clone(),
                Bytes::from(vec![i as u8; 100]),
                &keys[i % 4],
            ))
        })
        .collect()
}

use crate::block::BlockPtr;

fn write(dir: &Path, bs: &[BlockPtr]) {
    let (mut wal, records) = Wal::open(dir, u64::MAX).expect("open");
    assert!(records.is_empty());
    for b in bs {
        wal.append(&Record::Block(b.clone())).expect("append");
    }
    wal.sync().expect("sync");
}

fn replayed(dir: &Path) -> Vec<BlockRef> {
    let (_, records) = Wal::open(dir, u64::MAX).expect("reopen");
    records
        .iter()
        .map(|r| match r {
            Record::Block(b) | Record::OwnBlock(b) => b.reference(),
            other => panic!("unexpected record {other:?}"),
        })
        .collect()
}

use crate::block::BlockRef;

fn segment(dir: &Path) -> PathBuf {
    segment_path(dir, 0)
}

#[test]
fn records_survive_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bs = blocks(6);
    write(dir.path(), &bs);
    let expected: Vec<_> = bs.iter().map(|b| b.reference()).collect();
    assert_eq!(replayed(dir.path()), expected);
}

#[test]
fn flipped_byte_in_the_tail_is_detected_and_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bs = blocks(5);
    write(dir.path(), &bs);
    let path = segment(dir.path());
    let mut data = std::fs::read(&path).expect("read");
    let len = data.len();
    data[len - 10] ^= 0xff;
    std::fs::write(&path, &data).expect("write");
    let expected: Vec<_> = bs[..4].iter().map(|b| b.reference()).collect();
    assert_eq!(replayed(dir.path()), expected);
    // The corrupted frame is gone from disk; appending after it works.
    let size_after = std::fs::metadata(&path).expect("meta").len() as usize;
    assert!(size_after < len);
    let (mut wal, _) = Wal::open(dir.path(), u64::MAX).expect("open");
    wal.append(&Record::Block(bs[4].clone())).expect("append");
    wal.sync().expect("sync");
    let expected: Vec<_> = bs.iter().map(|b| b.reference()).collect();
    assert_eq!(replayed(dir.path()), expected);
}

#[test]
fn torn_frame_is_truncated_and_earlier_frames_survive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bs = blocks(3);
    write(dir.path(), &bs);
    let path = segment(dir.path());
    let data = std::fs::read(&path).expect("read");
    let (frames, _, _) = decode_frames(&data);
    let last_start = frames[2].0;
    // Cut in the middle of the last frame, then in the middle of a header.
    std::fs::write(&path, &data[..last_start + 20]).expect("write");
    let expected: Vec<_> = bs[..2].iter().map(|b| b.reference()).collect();
    assert_eq!(replayed(dir.path()), expected);
    assert_eq!(
        std::fs::metadata(&path).expect("meta").len() as usize,
        last_start
    );
    std::fs::write(&path, &data[..frames[1].0 + 3]).expect("write");
    assert_eq!(replayed(dir.path()), expected[..1].to_vec());
}

#[test]
fn rotation_starts_with_a_checkpoint_and_deletes_old_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bs = blocks(8);
    let (mut wal, _) = Wal::open(dir.path(), 1).expect("open");
    for b in &bs[..4] {
        wal.append(&Record::Block(b.clone())).expect("append");
    }
    assert!(wal.should_rotate());
    let checkpoint = Record::Checkpoint {
        last_decided: Slot { round: 7, index: 0 },
        last_committed_round: 7,
        last_own_round: 9,
        committed: vec![bs[5].reference()],
        chain: CommitChain {
            index: 5,
            hash: [3; 32],
        },
    };
    // Segment 0 holds round-1 blocks only: deleted once the gc round passes 1.
    let retention = Retention {
        keep_round: 2,
        max_bytes: u64::MAX,
        needed_round: 2,
    };
    wal.rotate(&checkpoint, retention).expect("rotate");
    for b in &bs[4..] {
        wal.append(&Record::OwnBlock(b.clone())).expect("append");
    }
    wal.sync().expect("sync");
    drop(wal);
    assert!(!segment_path(dir.path(), 0).exists());
    let (_, records) = Wal::open(dir.path(), u64::MAX).expect("reopen");
    assert_eq!(records.len(), 5);
    match &records[0] {
        Record::Checkpoint {
            last_decided,
            last_own_round,
            committed,
            chain,
            ..
        } => {
            assert_eq!(last_decided.round, 7);
            assert_eq!(*last_own_round, 9);
            assert_eq!(committed, &vec![bs[5].reference()]);
            assert_eq!((chain.index, chain.hash), (5, [3; 32]));
        }
        other => panic!("expected a checkpoint, got {other:?}"),
    }
}

/// One segment per round (1..=rounds), each holding the four blocks of its round.
fn segments_by_round(dir: &Path, rounds: u64, retention: impl Fn(u64) -> Retention) -> Wal {
    let (_, keys) = committee(4);
    let genesis: Vec<_> = (0..4).map(|a| Block::genesis(a).reference()).collect();
    let (mut wal, _) = Wal::open(dir, 1).expect("open");
    for round in 1..=rounds {
        for a in 0..4u32 {
            let b = Block::new_signed(
                a,
                round,
                0,
                genesis.clone(),
                Bytes::from(vec![7; 1000]),
                &keys[a as usize],
            );
            wal.append(&Record::Block(Arc::new(b))).expect("append");
        }
        let checkpoint = Record::Checkpoint {
            last_decided: Slot { round, index: 0 },
            last_committed_round: round,
            last_own_round: round,
            committed: Vec::new(),
            chain: CommitChain::default(),
        };
        wal.rotate(&checkpoint, retention(round)).expect("rotate");
    }
    wal
}

fn segment_ids(dir: &Path) -> Vec<u64> {
    list_segments(dir).expect("list")
}

#[test]
fn old_segments_beyond_the_byte_cap_are_deleted_oldest_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Rounds alone would keep everything; the cap keeps about three segments.
    let cap = 3 * 4 * 1200;
    let wal = segments_by_round(dir.path(), 10, |round| Retention {
        keep_round: 0,
        max_bytes: cap,
        needed_round: round + 1,
    });
    let ids = segment_ids(dir.path());
    assert!(
        wal.old_segment_bytes() <= cap,
        "{} bytes kept",
        wal.old_segment_bytes()
    );
    assert!(ids.len() >= 3 && ids.len() < 10, "segments kept: {ids:?}");
    // The newest ones are kept, without gaps.
    assert_eq!(ids.last(), Some(&10));
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1));
    // What is left replays, starting with a checkpoint.
    let (_, records) = Wal::open(dir.path(), u64::MAX).expect("reopen");
    assert!(matches!(records.first(), Some(Record::Checkpoint { .. })));
}

#[test]
fn the_byte_cap_never_deletes_segments_a_restart_needs() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Blocks from round 4 on are still needed (in the DAG window): whatever the cap says.
    let wal = segments_by_round(dir.path(), 10, |_| Retention {
        keep_round: 0,
        max_bytes: 0,
        needed_round: 4,
    });
    drop(wal);
    let (_, records) = Wal::open(dir.path(), u64::MAX).expect("reopen");
    let mut rounds: Vec<_> = records.iter().filter_map(|r| r.block_round()).collect();
    rounds.dedup();
    assert_eq!(rounds, (4..=10).collect::<Vec<_>>());
}
