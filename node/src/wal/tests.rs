//! WAL replay, corruption handling and segment rotation.

use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::{
    block::Block,
    committee::tests::committee,
    committer::{CommitChain, ScheduleState, Slot},
};
use std::path::Path;

/// Validator 0 of the 4-validator test committee.
fn owner() -> Owner {
    let (c, keys) = committee(4);
    Owner::new(&c, 0, &keys[0].verifying_key())
}

/// The error of opening the WAL in `dir` as `owner`.
fn open_error(dir: &Path, owner: Owner) -> String {
    match Wal::open(dir, u64::MAX, owner) {
        Ok(_) => panic!("the WAL in {} opened", dir.display()),
        Err(e) => format!("{e:#}"),
    }
}

/// Offsets of the frames of `path` (the header is frame 0).
fn frame_offsets(path: &Path) -> Vec<usize> {
    let data = std::fs::read(path).expect("read");
    decode_frames(&data).0.iter().map(|(at, _)| *at).collect()
}

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

/// The references of `bs`, in order.
fn references(bs: &[BlockPtr]) -> Vec<BlockRef> {
    bs.iter().map(|b| b.reference()).collect()
}

fn write(dir: &Path, bs: &[BlockPtr]) {
    let (mut wal, records) = Wal::open(dir, u64::MAX, owner()).expect("open");
    assert!(records.is_empty());
    for b in bs {
        wal.append(&Record::Block(b.clone())).expect("append");
    }
    wal.sync().expect("sync");
}

fn replayed(dir: &Path) -> Vec<BlockRef> {
    let (_, records) = Wal::open(dir, u64::MAX, owner()).expect("reopen");
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
    let expected = references(&bs);
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
    let expected = references(&bs[..4]);
    assert_eq!(replayed(dir.path()), expected);
    // The corrupted frame is gone from disk; appending after it works.
    let size_after = std::fs::metadata(&path).expect("meta").len() as usize;
    assert!(size_after < len);
    let (mut wal, _) = Wal::open(dir.path(), u64::MAX, owner()).expect("open");
    wal.append(&Record::Block(bs[4].clone())).expect("append");
    wal.sync().expect("sync");
    let expected = references(&bs);
    assert_eq!(replayed(dir.path()), expected);
}

#[test]
fn torn_frame_is_truncated_and_earlier_frames_survive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bs = blocks(3);
    write(dir.path(), &bs);
    let path = segment(dir.path());
    let data = std::fs::read(&path).expect("read");
    let frames = frame_offsets(&path);
    let last_start = frames[3];
    // Cut in the middle of the last frame, then in the middle of a header.
    std::fs::write(&path, &data[..last_start + 20]).expect("write");
    let expected = references(&bs[..2]);
    assert_eq!(replayed(dir.path()), expected);
    assert_eq!(
        std::fs::metadata(&path).expect("meta").len() as usize,
        last_start
    );
    std::fs::write(&path, &data[..frames[2] + 3]).expect("write");
    assert_eq!(replayed(dir.path()), expected[..1].to_vec());
}

#[test]
fn rotation_starts_with_a_checkpoint_and_deletes_old_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bs = blocks(8);
    let (mut wal, _) = Wal::open(dir.path(), 1, owner()).expect("open");
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
        schedule: learnt_schedule(),
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
    let (_, records) = Wal::open(dir.path(), u64::MAX, owner()).expect("reopen");
    assert_eq!(records.len(), 5);
    match &records[0] {
        Record::Checkpoint {
            last_decided,
            last_own_round,
            committed,
            chain,
            schedule,
            ..
        } => {
            assert_eq!(last_decided.round, 7);
            assert_eq!(*last_own_round, 9);
            assert_eq!(committed, &vec![bs[5].reference()]);
            assert_eq!((chain.index, chain.hash), (5, [3; 32]));
            assert_eq!(*schedule, learnt_schedule());
        }
        other => panic!("expected a checkpoint, got {other:?}"),
    }
}

/// One segment per round (1..=rounds), each holding the four blocks of its round.
fn segments_by_round(dir: &Path, rounds: u64, retention: impl Fn(u64) -> Retention) -> Wal {
    let (_, keys) = committee(4);
    let genesis: Vec<_> = (0..4).map(|a| Block::genesis(a).reference()).collect();
    let (mut wal, _) = Wal::open(dir, 1, owner()).expect("open");
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
        wal.rotate(&empty_checkpoint(round), retention(round))
            .expect("rotate");
    }
    wal
}

/// A checkpoint at `round` that has committed nothing.
fn empty_checkpoint(round: Round) -> Record {
    Record::Checkpoint {
        last_decided: Slot { round, index: 0 },
        last_committed_round: round,
        last_own_round: round,
        committed: Vec::new(),
        chain: CommitChain::default(),
        schedule: ScheduleState::default(),
    }
}

/// A leader schedule that swapped authority 2 out (authority 0 takes its slots).
fn learnt_schedule() -> ScheduleState {
    let mut schedule = crate::committer::LeaderSchedule::new(Arc::new(committee(4).0), 1, 2);
    for round in 1..10 {
        let author = schedule.leader(round, 0);
        schedule.record(round, author, author != 2);
    }
    assert_eq!(schedule.state().current.out, vec![2]);
    schedule.state().clone()
}

/// Rotates `wal` to a new segment behind an empty checkpoint at round 0, deleting the
/// segments that hold only blocks below `round` (no byte cap).
fn rotate_keeping_from(wal: &mut Wal, round: Round) {
    let retention = Retention {
        keep_round: round,
        max_bytes: u64::MAX,
        needed_round: round,
    };
    wal.rotate(&empty_checkpoint(0), retention).expect("rotate");
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
    let (_, records) = Wal::open(dir.path(), u64::MAX, owner()).expect("reopen");
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
    let (_, records) = Wal::open(dir.path(), u64::MAX, owner()).expect("reopen");
    let mut rounds: Vec<_> = records.iter().filter_map(|r| r.block_round()).collect();
    rounds.dedup();
    assert_eq!(rounds, (4..=10).collect::<Vec<_>>());
}

#[test]
fn a_zero_filled_tail_is_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bs = blocks(3);
    write(dir.path(), &bs);
    let path = segment(dir.path());
    let len = std::fs::metadata(&path).expect("meta").len();
    // Space a file system allocated at a crash but never wrote reads back as zeros.
    let mut data = std::fs::read(&path).expect("read");
    data.extend_from_slice(&[0u8; 4096]);
    std::fs::write(&path, &data).expect("write");
    let expected = references(&bs);
    assert_eq!(replayed(dir.path()), expected);
    assert_eq!(std::fs::metadata(&path).expect("meta").len(), len);
}

/// Writes five blocks, damages the third one's frame with `damage` and checks that opening
/// fails naming the segment and the frame's offset, leaving the file as it was.
fn refused_with_damage(damage: impl Fn(&mut Vec<u8>, usize), what: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), &blocks(5));
    let path = segment(dir.path());
    let at = frame_offsets(&path)[3];
    let mut data = std::fs::read(&path).expect("read");
    damage(&mut data, at);
    std::fs::write(&path, &data).expect("write");
    let err = open_error(dir.path(), owner());
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains(&format!("at byte {at} ")), "{err}");
    assert!(err.contains(what), "{err}");
    assert_eq!(
        std::fs::read(&path).expect("read"),
        data,
        "the WAL was changed"
    );
}

#[test]
fn a_corrupted_payload_before_the_tail_stops_replay_naming_file_and_offset() {
    refused_with_damage(|data, at| data[at + 30] ^= 0x01, "checksum mismatch");
}

#[test]
fn a_corrupted_length_before_the_tail_is_not_taken_for_a_torn_write() {
    // A length running past the end of the file would look like a torn last frame.
    refused_with_damage(|data, at| data[at + 3] = 0x7f, "corrupted frame length");
}

#[test]
fn an_undecodable_record_stops_replay_naming_file_and_offset() {
    refused_with_damage(
        |data, at| {
            // Intact checksums around a payload no version of the WAL writes.
            let mut bad = Vec::new();
            encode_frame(&mut bad, &[0xee, 1, 2, 3]);
            data.splice(at..at, bad);
        },
        "undecodable record",
    );
}

#[test]
fn damage_at_the_end_of_an_older_segment_stops_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bs = blocks(8);
    let (mut wal, _) = Wal::open(dir.path(), 1, owner()).expect("open");
    for b in &bs[..4] {
        wal.append(&Record::Block(b.clone())).expect("append");
    }
    rotate_keeping_from(&mut wal, 0);
    for b in &bs[4..] {
        wal.append(&Record::Block(b.clone())).expect("append");
    }
    wal.sync().expect("sync");
    drop(wal);
    // In the newest segment this would be a torn tail; here the log goes on after it.
    let old = segment_path(dir.path(), 0);
    let mut data = std::fs::read(&old).expect("read");
    let len = data.len();
    data[len - 5] ^= 0x01;
    std::fs::write(&old, &data).expect("write");
    let err = open_error(dir.path(), owner());
    assert!(err.contains(&old.display().to_string()), "{err}");
    assert!(err.contains("later segments"), "{err}");
}

#[test]
fn a_wal_of_another_validator_or_committee_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bs = blocks(8);
    // Two segments, the first deleted: every segment names its owner.
    let (mut wal, _) = Wal::open(dir.path(), 1, owner()).expect("open");
    wal.append(&Record::Block(bs[0].clone())).expect("append");
    rotate_keeping_from(&mut wal, 2);
    wal.append(&Record::Block(bs[4].clone())).expect("append");
    wal.sync().expect("sync");
    drop(wal);
    assert_eq!(segment_ids(dir.path()), vec![1]);

    let (c, keys) = committee(4);
    let other_validator = Owner::new(&c, 1, &keys[1].verifying_key());
    let err = open_error(dir.path(), other_validator);
    assert!(err.contains("wal-00000001.log"), "{err}");
    assert!(err.contains("was written by validator 0"), "{err}");
    assert!(err.contains("not by this validator (validator 1"), "{err}");
    let (other, _) = committee(5);
    let other_committee = Owner::new(&other, 0, &keys[0].verifying_key());
    let err = open_error(dir.path(), other_committee);
    assert!(err.contains("not by this validator"), "{err}");
    // Its own validator still replays it: the checkpoint and the block.
    let (_, records) = Wal::open(dir.path(), u64::MAX, owner()).expect("own WAL");
    assert_eq!(records.len(), 2);
}

#[test]
fn a_segment_without_a_header_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut data = Vec::new();
    Record::Block(blocks(1)[0].clone()).encode_framed(&mut data);
    std::fs::write(segment(dir.path()), &data).expect("write");
    let err = open_error(dir.path(), owner());
    assert!(err.contains("does not start with a header"), "{err}");
}

/// A new segment file is durable only once its directory entry is: creating one (the first
/// at open, or by rotation) fsyncs the directory.
#[test]
fn creating_a_segment_fsyncs_the_directory() {
    let syncs = || DIRECTORY_SYNCS.with(|c| c.get());
    let dir = tempfile::tempdir().expect("tempdir");
    let before = syncs();
    let (mut wal, _) = Wal::open(dir.path(), 1024, owner()).expect("open");
    assert_eq!(syncs(), before + 1, "first segment");
    rotate_keeping_from(&mut wal, 0);
    assert_eq!(syncs(), before + 2, "rotated segment");
    drop(wal);
    Wal::open(dir.path(), 1024, owner()).expect("reopen");
    assert_eq!(syncs(), before + 2, "no segment created on reopen");
}
