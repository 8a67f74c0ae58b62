//! A running hash over the committed sequence: two validators that committed the same leaders
//! with the same sub-DAGs, in the same order, hold the same chain at the same commit index.

use std::fmt;

use crate::block::{BlockRef, REF_LENGTH};

/// Separates this hash from every other blake3 use of the node.
const DOMAIN: &str = "consensus-bench 2026 commit chain v1";

/// The committed sequence so far: its length and the hash chained over it.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitChain {
    /// Committed leaders so far (the index of the last commit; 0 before the first).
    pub index: u64,
    /// `chain_i = blake3_derive(DOMAIN, chain_{i-1} || leader || sub-DAG references in order)`,
    /// all zeros before the first commit.
    pub hash: [u8; 32],
}

impl CommitChain {
    /// Chains one commit: `leader` and the references of its sub-DAG in commit order.
    pub fn extend(&mut self, leader: &BlockRef, blocks: &[BlockRef]) {
        let mut hasher = blake3::Hasher::new_derive_key(DOMAIN);
        let mut bytes = Vec::with_capacity(32 + REF_LENGTH * (blocks.len() + 1));
        bytes.extend_from_slice(&self.hash);
        leader.encode(&mut bytes);
        for b in blocks {
            b.encode(&mut bytes);
        }
        hasher.update(&bytes);
        self.index += 1;
        self.hash = *hasher.finalize().as_bytes();
    }

    /// The hash in lower-case hex.
    pub fn hex(&self) -> String {
        hex::encode(self.hash)
    }
}

impl fmt::Debug for CommitChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}:{}", self.index, &self.hex()[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(round: u64, author: u32, byte: u8) -> BlockRef {
        BlockRef {
            round,
            author,
            digest: [byte; 32],
        }
    }

    #[test]
    fn equal_sequences_give_equal_chains_and_any_difference_changes_them() {
        let leader = r(3, 0, 1);
        let blocks = [r(2, 1, 2), r(2, 2, 3), leader];
        let mut a = CommitChain::default();
        let mut b = CommitChain::default();
        a.extend(&leader, &blocks);
        b.extend(&leader, &blocks);
        assert_eq!(a, b);
        assert_eq!(a.index, 1);
        assert_ne!(a.hash, [0; 32]);

        // Order of the sub-DAG, another leader, a missing block: each is a different sequence.
        let mut reordered = CommitChain::default();
        reordered.extend(&leader, &[blocks[1], blocks[0], blocks[2]]);
        let mut other_leader = CommitChain::default();
        other_leader.extend(&r(3, 1, 1), &blocks);
        let mut shorter = CommitChain::default();
        shorter.extend(&leader, &blocks[1..]);
        for other in [reordered, other_leader, shorter] {
            assert_eq!(other.index, a.index);
            assert_ne!(other.hash, a.hash);
        }

        // The chain carries the history: the same second commit after different first ones
        // gives different chains.
        a.extend(&r(4, 1, 9), &[r(4, 1, 9)]);
        reordered.extend(&r(4, 1, 9), &[r(4, 1, 9)]);
        assert_eq!(a.index, 2);
        assert_ne!(a.hash, reordered.hash);
    }
}
