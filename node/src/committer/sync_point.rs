//! A sync point: the state after one commit that the committed sequence needs to go on (commit
//! chain, last decided slot, the committed blocks the linearizer must not commit again, the
//! leader schedule learnt so far). It is
//! a function of the committed sequence only, so every honest validator computes the same one
//! for the same commit index; a validator too far behind to catch up block by block installs
//! one that validators holding validity stake vouch for.

use bytes::Buf;

use super::{CommitChain, ScheduleState, Slot};
use crate::block::{BlockRef, Round, REF_LENGTH};

/// Separates the sync point digest from every other blake3 use of the node.
const DOMAIN: &str = "consensus-bench 2026 sync point v1";

/// Sync points are kept after every commit whose index is a multiple of this.
pub const SYNC_POINT_INTERVAL: u64 = 10;

/// Most committed references a decoded sync point may carry.
pub const MAX_SYNC_REFS: usize = 100_000;

/// The state right after the commit at `chain.index`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncPoint {
    /// The committed sequence up to and including this commit.
    pub chain: CommitChain,
    /// The slot of the committed leader (the last decided slot at this commit).
    pub slot: Slot,
    /// The committed leader.
    pub leader: BlockRef,
    /// Committed blocks at or above the gc round of this commit, sorted.
    pub committed: Vec<BlockRef>,
    /// The leader schedule right after this commit.
    pub schedule: ScheduleState,
}

impl SyncPoint {
    /// Appends the encoding: chain index u64, chain hash, slot round u64, slot index u32,
    /// leader reference, count u32, committed references, leader schedule (little-endian).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.chain.index.to_le_bytes());
        out.extend_from_slice(&self.chain.hash);
        out.extend_from_slice(&self.slot.round.to_le_bytes());
        out.extend_from_slice(&(self.slot.index as u32).to_le_bytes());
        self.leader.encode(out);
        out.extend_from_slice(&(self.committed.len() as u32).to_le_bytes());
        for r in &self.committed {
            r.encode(out);
        }
        self.schedule.encode(out);
    }

    /// Decodes one sync point from the front of `b`; checks that it is well formed (the
    /// leader is at its slot's round and among the sorted committed blocks, none above it).
    pub fn decode(b: &mut &[u8]) -> Result<Self, &'static str> {
        if b.remaining() < 8 + 32 + 8 + 4 + REF_LENGTH + 4 {
            return Err("short sync point");
        }
        let mut chain = CommitChain {
            index: b.get_u64_le(),
            ..CommitChain::default()
        };
        b.copy_to_slice(&mut chain.hash);
        let slot = Slot {
            round: b.get_u64_le(),
            index: b.get_u32_le() as usize,
        };
        let leader = BlockRef::decode(&b[..REF_LENGTH]).ok_or("leader reference")?;
        b.advance(REF_LENGTH);
        let count = b.get_u32_le() as usize;
        if count > MAX_SYNC_REFS || b.remaining() < count * REF_LENGTH {
            return Err("sync point references");
        }
        let mut committed = Vec::with_capacity(count);
        for _ in 0..count {
            committed.push(BlockRef::decode(&b[..REF_LENGTH]).ok_or("reference")?);
            b.advance(REF_LENGTH);
        }
        let schedule = ScheduleState::decode(b)?;
        let point = Self {
            chain,
            slot,
            leader,
            committed,
            schedule,
        };
        point.check()?;
        Ok(point)
    }

    fn check(&self) -> Result<(), &'static str> {
        if self.chain.index == 0 || self.leader.round != self.slot.round {
            return Err("sync point leader");
        }
        if self.schedule.commits != self.chain.index {
            return Err("sync point leader schedule");
        }
        if !self.committed.windows(2).all(|w| w[0] < w[1])
            || self
                .committed
                .last()
                .is_some_and(|r| r.round > self.slot.round)
            || self.committed.binary_search(&self.leader).is_err()
        {
            return Err("sync point committed blocks");
        }
        Ok(())
    }

    /// The round of the committed leader.
    pub fn round(&self) -> Round {
        self.slot.round
    }

    /// A digest of the whole sync point: peers that report the same digest report the same
    /// state.
    pub fn digest(&self) -> [u8; 32] {
        let mut bytes = Vec::new();
        self.encode(&mut bytes);
        *blake3::Hasher::new_derive_key(DOMAIN)
            .update(&bytes)
            .finalize()
            .as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::committer::{SwapTable, Tally};

    fn point() -> SyncPoint {
        let r = |round, author| BlockRef {
            round,
            author,
            digest: [round as u8; 32],
        };
        SyncPoint {
            chain: CommitChain {
                index: 7,
                hash: [3; 32],
            },
            slot: Slot {
                round: 12,
                index: 0,
            },
            leader: r(12, 0),
            committed: vec![r(10, 1), r(11, 2), r(12, 0)],
            schedule: ScheduleState {
                commits: 7,
                window: vec![Tally { led: 2, skipped: 1 }; 4],
                record: vec![Tally::default(); 4],
                current: SwapTable {
                    from_round: 9,
                    out: vec![3],
                    into: vec![0],
                },
                previous: SwapTable::default(),
            },
        }
    }

    #[test]
    fn a_sync_point_round_trips_and_any_change_changes_its_digest() {
        let p = point();
        let mut bytes = Vec::new();
        p.encode(&mut bytes);
        let mut b = bytes.as_slice();
        assert_eq!(SyncPoint::decode(&mut b), Ok(p.clone()));
        assert!(b.is_empty());
        let mut other = p.clone();
        other.committed.remove(0);
        assert_ne!(other.digest(), p.digest());
        let mut other = p.clone();
        other.chain.hash[0] ^= 1;
        assert_ne!(other.digest(), p.digest());
        let mut other = p.clone();
        other.schedule.current.into = vec![1];
        assert_ne!(other.digest(), p.digest());
    }

    #[test]
    fn a_malformed_sync_point_is_refused() {
        let mut unsorted = point();
        unsorted.committed.swap(0, 1);
        let mut no_leader = point();
        no_leader.committed.pop();
        let mut above = point();
        above.committed.push(BlockRef {
            round: 13,
            author: 1,
            digest: [0; 32],
        });
        let mut other_schedule = point();
        other_schedule.schedule.commits += 1;
        for bad in [unsorted, no_leader, above, other_schedule] {
            let mut bytes = Vec::new();
            bad.encode(&mut bytes);
            assert!(SyncPoint::decode(&mut bytes.as_slice()).is_err());
        }
        let mut bytes = Vec::new();
        point().encode(&mut bytes);
        bytes.truncate(bytes.len() - 1);
        assert!(SyncPoint::decode(&mut bytes.as_slice()).is_err());
    }
}
