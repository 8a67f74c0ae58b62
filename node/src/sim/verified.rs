//! Verdicts on the blocks the simulated validators receive, kept so that each distinct
//! serialized block is parsed and verified once per simulation rather than once per
//! receiver.
//!
//! Flow: a delivery asks [`Verified::check`] with the block's bytes; the first time those
//! bytes come, it runs [`Block::parse_and_verify`] (the check every receiver of a real
//! node runs) and keeps the verdict: the parsed block, shared by every receiver as one
//! `Arc` (a block is immutable), or the error. Later deliveries of the same bytes get the
//! same verdict without the signature check. The verdict depends only on the bytes and the
//! committee, which is fixed for a simulation, so every receiver still accepts or rejects
//! exactly what it would have (a bad block is still rejected, counted and cut off at each
//! receiver). CPU time is not simulated, so nothing simulated changes.
//!
//! Memory is bounded: the verdicts live in two generations of at most `capacity` entries
//! each; when the current one is full it becomes the previous one and the oldest is dropped
//! (a block asked for again after that is verified again). A block's receivers get it
//! within a few rounds, which a generation of several rounds' blocks covers.

use std::{
    hash::{Hash, Hasher},
    sync::Arc,
};

use bytes::Bytes;
use foldhash::{HashMap, HashMapExt};

use crate::{
    block::{Block, BlockError, BlockPtr},
    committee::Committee,
};

/// Rounds of every validator's blocks one generation holds (before equivocations).
const ROUNDS_PER_GENERATION: usize = 16;

/// The least entries of a generation, for small committees.
const MIN_CAPACITY: usize = 256;

/// Bytes hashed from each end of a key: the header (author, round, timestamp) and the
/// signature, which tell blocks apart, instead of the whole block.
const HASHED_END: usize = 64;

/// A verdict on one serialized block.
pub(super) type Verdict = Result<BlockPtr, BlockError>;

/// A serialized block as a key: equal when the bytes are, hashed from its two ends (the
/// receivers of one broadcast share one buffer, which equality checks first).
#[derive(Clone)]
struct Key(Bytes);

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (&self.0, &other.0);
        a.len() == b.len() && (a.as_ptr() == b.as_ptr() || a[..] == b[..])
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let b = &self.0[..];
        state.write_usize(b.len());
        state.write(&b[..b.len().min(HASHED_END)]);
        state.write(&b[b.len().saturating_sub(HASHED_END)..]);
    }
}

/// Verdicts on serialized blocks, keyed by their bytes.
pub(super) struct Verified {
    current: HashMap<Key, Verdict>,
    previous: HashMap<Key, Verdict>,
    capacity: usize,
    /// Verdicts computed (cache misses), for the tests.
    computed: u64,
}

impl Verified {
    /// Room for [`ROUNDS_PER_GENERATION`] rounds of a committee of `committee` validators
    /// per generation.
    pub(super) fn new(committee: usize) -> Self {
        Self::with_capacity((committee * ROUNDS_PER_GENERATION).max(MIN_CAPACITY))
    }

    fn with_capacity(capacity: usize) -> Self {
        Self {
            current: HashMap::with_capacity(capacity),
            previous: HashMap::new(),
            capacity,
            computed: 0,
        }
    }

    /// The verdict on `bytes`: what [`Block::parse_and_verify`] returns for them, the
    /// parsed block shared with the other receivers of the same bytes.
    pub(super) fn check(&mut self, bytes: Bytes, committee: &Committee) -> Verdict {
        let key = Key(bytes);
        if let Some(v) = self.current.get(&key) {
            return v.clone();
        }
        let verdict = match self.previous.remove(&key) {
            Some(v) => v,
            None => {
                self.computed += 1;
                Block::parse_and_verify(key.0.clone(), committee).map(Arc::new)
            }
        };
        if self.current.len() >= self.capacity {
            self.previous =
                std::mem::replace(&mut self.current, HashMap::with_capacity(self.capacity));
        }
        self.current.insert(key, verdict.clone());
        verdict
    }

    /// Entries held (both generations).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        block::{BlockRef, Round},
        committee::tests::committee as test_committee,
    };
    use ed25519_dalek::SigningKey;

    fn committee() -> (Committee, Vec<SigningKey>) {
        test_committee(4)
    }

    /// A block of `author` at round 1 over the genesis blocks, with `payload`.
    fn block(keys: &[SigningKey], author: u32, payload: &'static [u8]) -> Block {
        let genesis: Vec<BlockRef> = (0..keys.len() as u32)
            .map(|a| Block::genesis(a).reference())
            .collect();
        Block::new_signed(
            author,
            1 as Round,
            0,
            genesis,
            Bytes::from_static(payload),
            &keys[author as usize],
        )
    }

    #[test]
    fn the_same_bytes_are_verified_once_and_share_one_block() {
        let (c, keys) = committee();
        let b = block(&keys, 1, b"tx");
        let mut v = Verified::new(4);
        let first = v.check(b.serialized().clone(), &c).expect("valid");
        // Another copy of the same bytes (as a WAL read gives) is the same block.
        let copy = Bytes::copy_from_slice(b.serialized());
        let second = v.check(copy, &c).expect("valid");
        assert_eq!(v.computed, 1);
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(first.reference(), b.reference());
    }

    #[test]
    fn a_bad_signature_is_rejected_every_time_it_comes() {
        let (c, keys) = committee();
        let b = block(&keys, 1, b"tx");
        let mut raw = b.serialized().to_vec();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let bad = Bytes::from(raw);
        let mut v = Verified::new(4);
        for _ in 0..3 {
            assert_eq!(
                v.check(bad.clone(), &c).err(),
                Some(BlockError::BadSignature)
            );
        }
        assert_eq!(v.computed, 1);
        // The good block with the same digest (only the signature differs) is accepted.
        assert!(v.check(b.serialized().clone(), &c).is_ok());
        assert_eq!(v.computed, 2);
    }

    #[test]
    fn blocks_that_differ_only_between_the_hashed_ends_get_their_own_verdicts() {
        let (c, keys) = committee();
        let b = block(&keys, 2, &[7; 300]);
        let mut raw = b.serialized().to_vec();
        let middle = raw.len() / 2;
        assert!(middle > HASHED_END && middle < raw.len() - HASHED_END);
        raw[middle] ^= 1;
        let tampered = Bytes::from(raw);
        let mut v = Verified::new(4);
        assert!(v.check(b.serialized().clone(), &c).is_ok());
        assert_eq!(
            v.check(tampered.clone(), &c).err(),
            Some(BlockError::BadSignature)
        );
        assert!(v.check(b.serialized().clone(), &c).is_ok());
        assert_eq!(v.computed, 2);
    }

    #[test]
    fn memory_is_bounded_by_two_generations() {
        let (c, keys) = committee();
        let mut v = Verified::with_capacity(2);
        let payloads: [&'static [u8]; 5] = [b"a", b"b", b"c", b"d", b"e"];
        let blocks: Vec<Block> = payloads.iter().map(|p| block(&keys, 0, p)).collect();
        for b in &blocks {
            assert!(v.check(b.serialized().clone(), &c).is_ok());
            assert!(v.len() <= 4);
        }
        assert_eq!(v.computed, 5);
        // The oldest generation was dropped: the first block is verified again...
        assert!(v.check(blocks[0].serialized().clone(), &c).is_ok());
        assert_eq!(v.computed, 6);
        // ...and one of the previous generation is not.
        assert!(v.check(blocks[3].serialized().clone(), &c).is_ok());
        assert_eq!(v.computed, 6);
    }
}
