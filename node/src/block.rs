//! Signed DAG blocks: wire format, digest, signature and structural checks.

use std::{fmt, sync::Arc};

use bytes::{BufMut, Bytes, BytesMut};
use ed25519_dalek::{Signature, SigningKey};
use thiserror::Error;

use crate::{
    committee::{AuthorityIndex, Committee, StakeAggregator},
    crypto::{self, Digest, SIGNATURE_LENGTH},
};

/// A round of the DAG.
pub type Round = u64;

/// Encoded length of a [`BlockRef`].
pub const REF_LENGTH: usize = 4 + 8 + 32;
const HEADER_LENGTH: usize = 4 + 8 + 8 + 4;

/// Most references a block may carry.
pub const MAX_INCLUDES: usize = 10_000;

/// Names a block: its author, round and digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockRef {
    /// Round of the block (first for ordering).
    pub round: Round,
    /// Author of the block.
    pub author: AuthorityIndex,
    /// Blake3 digest over the signed fields.
    pub digest: Digest,
}

impl fmt::Debug for BlockRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "B{}({},{})",
            self.round,
            self.author,
            hex::encode(&self.digest[..4])
        )
    }
}

impl BlockRef {
    /// Appends the wire encoding.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u32_le(self.author);
        out.put_u64_le(self.round);
        out.put_slice(&self.digest);
    }

    /// Decodes from exactly [`REF_LENGTH`] bytes.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < REF_LENGTH {
            return None;
        }
        let author = u32::from_le_bytes(bytes[0..4].try_into().ok()?);
        let round = u64::from_le_bytes(bytes[4..12].try_into().ok()?);
        let digest: Digest = bytes[12..44].try_into().ok()?;
        Some(Self {
            round,
            author,
            digest,
        })
    }
}

/// Why a block was rejected.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum BlockError {
    /// The bytes do not parse.
    #[error("malformed block: {0}")]
    Malformed(&'static str),
    /// The author is not in the committee.
    #[error("unknown author {0}")]
    UnknownAuthor(AuthorityIndex),
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// A reference is not at a lower round.
    #[error("reference {0:?} is not below round {1}")]
    IncludeNotBelow(BlockRef, Round),
    /// Not enough stake among references at round - 1.
    #[error("references at round {0} hold stake {1}, below quorum")]
    NoParentQuorum(Round, u64),
    /// Two references to blocks of one (author, round): honest blocks never amplify an
    /// equivocation.
    #[error("two references to blocks of author {0} at round {1}")]
    DuplicateSlot(AuthorityIndex, Round),
    /// Genesis blocks are never sent.
    #[error("round 0 blocks are never sent")]
    Genesis,
}

/// A block with its wire encoding; immutable and shared as `Arc<Block>`.
pub struct Block {
    reference: BlockRef,
    timestamp_ms: u64,
    includes: Vec<BlockRef>,
    payload: Bytes,
    serialized: Bytes,
}

impl fmt::Debug for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}{:?}", self.reference, self.includes)
    }
}

impl Block {
    /// Builds and signs a block.
    pub fn new_signed(
        author: AuthorityIndex,
        round: Round,
        timestamp_ms: u64,
        includes: Vec<BlockRef>,
        payload: Bytes,
        key: &SigningKey,
    ) -> Self {
        let mut out = BytesMut::with_capacity(
            HEADER_LENGTH + includes.len() * REF_LENGTH + 4 + payload.len() + SIGNATURE_LENGTH,
        );
        out.put_u32_le(author);
        out.put_u64_le(round);
        out.put_u64_le(timestamp_ms);
        out.put_u32_le(includes.len() as u32);
        for r in &includes {
            r.encode(&mut out);
        }
        out.put_u32_le(payload.len() as u32);
        out.put_slice(&payload);
        let digest = crypto::digest(&out);
        out.put_slice(&crypto::sign(key, &digest));
        let serialized = out.freeze();
        let payload_start = serialized.len() - SIGNATURE_LENGTH - payload.len();
        let payload = serialized.slice(payload_start..payload_start + payload.len());
        Self {
            reference: BlockRef {
                round,
                author,
                digest,
            },
            timestamp_ms,
            includes,
            payload,
            serialized,
        }
    }

    /// The unsigned round-0 block of `author`, known to everyone.
    pub fn genesis(author: AuthorityIndex) -> Self {
        let mut seed = b"genesis".to_vec();
        seed.extend_from_slice(&author.to_le_bytes());
        Self {
            reference: BlockRef {
                round: 0,
                author,
                digest: crypto::digest(&seed),
            },
            timestamp_ms: 0,
            includes: Vec::new(),
            payload: Bytes::new(),
            serialized: Bytes::new(),
        }
    }

    /// Parses the wire encoding without checking signature or rules.
    pub fn parse(serialized: Bytes) -> Result<Self, BlockError> {
        let b = &serialized[..];
        if b.len() < HEADER_LENGTH + 4 + SIGNATURE_LENGTH {
            return Err(BlockError::Malformed("too short"));
        }
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(a)
        };
        let author = u32_at(0);
        let round = u64_at(4);
        let timestamp_ms = u64_at(12);
        let count = u32_at(20) as usize;
        if count > MAX_INCLUDES {
            return Err(BlockError::Malformed("too many references"));
        }
        let mut pos = HEADER_LENGTH;
        let refs_end = pos + count * REF_LENGTH;
        if b.len() < refs_end + 4 + SIGNATURE_LENGTH {
            return Err(BlockError::Malformed("truncated references"));
        }
        let mut includes = Vec::with_capacity(count);
        while pos < refs_end {
            includes.push(
                BlockRef::decode(&b[pos..pos + REF_LENGTH])
                    .ok_or(BlockError::Malformed("reference"))?,
            );
            pos += REF_LENGTH;
        }
        let payload_len = u32_at(pos) as usize;
        pos += 4;
        if b.len() != pos + payload_len + SIGNATURE_LENGTH {
            return Err(BlockError::Malformed("length mismatch"));
        }
        let digest = crypto::digest(&b[..pos + payload_len]);
        let payload = serialized.slice(pos..pos + payload_len);
        Ok(Self {
            reference: BlockRef {
                round,
                author,
                digest,
            },
            timestamp_ms,
            includes,
            payload,
            serialized,
        })
    }

    /// Parses and fully verifies a block received from a peer.
    pub fn parse_and_verify(serialized: Bytes, committee: &Committee) -> Result<Self, BlockError> {
        let block = Self::parse(serialized)?;
        block.verify(committee)?;
        Ok(block)
    }

    /// Checks author, signature, references and the parent quorum.
    pub fn verify(&self, committee: &Committee) -> Result<(), BlockError> {
        let round = self.round();
        if round == 0 {
            return Err(BlockError::Genesis);
        }
        let authority = committee
            .authority(self.author())
            .ok_or(BlockError::UnknownAuthor(self.author()))?;
        let sig_start = self.serialized.len() - SIGNATURE_LENGTH;
        let signature = Signature::from_slice(&self.serialized[sig_start..])
            .map_err(|_| BlockError::BadSignature)?;
        authority
            .public_key
            .verify_strict(&self.reference.digest, &signature)
            .map_err(|_| BlockError::BadSignature)?;
        let mut parents = StakeAggregator::default();
        let mut slots = std::collections::HashSet::with_capacity(self.includes.len());
        for r in &self.includes {
            if r.round >= round {
                return Err(BlockError::IncludeNotBelow(*r, round));
            }
            if !slots.insert((r.author, r.round)) {
                return Err(BlockError::DuplicateSlot(r.author, r.round));
            }
            if committee.authority(r.author).is_none() {
                return Err(BlockError::UnknownAuthor(r.author));
            }
            if r.round == round - 1 {
                parents.add(r.author, committee);
            }
        }
        if parents.stake() < committee.quorum_threshold() {
            return Err(BlockError::NoParentQuorum(round - 1, parents.stake()));
        }
        Ok(())
    }

    /// Reference to this block.
    pub fn reference(&self) -> BlockRef {
        self.reference
    }

    /// Author.
    pub fn author(&self) -> AuthorityIndex {
        self.reference.author
    }

    /// Round.
    pub fn round(&self) -> Round {
        self.reference.round
    }

    /// Creation time (ms since UNIX epoch).
    pub fn timestamp_ms(&self) -> u64 {
        self.timestamp_ms
    }

    /// References to earlier blocks, in the author's order.
    pub fn includes(&self) -> &[BlockRef] {
        &self.includes
    }

    /// Encoded transactions (see [`crate::transactions`]).
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Full wire encoding (empty for genesis).
    pub fn serialized(&self) -> &Bytes {
        &self.serialized
    }
}

/// Shared handle to a block.
pub type BlockPtr = Arc<Block>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::committee::tests::committee;

    fn genesis_refs(n: u32) -> Vec<BlockRef> {
        (0..n).map(|a| Block::genesis(a).reference()).collect()
    }

    /// The 4-validator test committee and author 1's block of round 1 (timestamp 7) on
    /// the genesis blocks, carrying `payload`.
    fn signed_by_author_1(payload: &'static [u8]) -> (Committee, Block) {
        let (c, keys) = committee(4);
        let payload = Bytes::from_static(payload);
        let b = Block::new_signed(1, 1, 7, genesis_refs(4), payload, &keys[1]);
        (c, b)
    }

    #[test]
    fn signed_block_round_trips_and_verifies() {
        let payload = Bytes::from_static(b"abc");
        let (c, b) = signed_by_author_1(b"abc");
        let parsed = Block::parse_and_verify(b.serialized().clone(), &c).expect("valid");
        assert_eq!(parsed.reference(), b.reference());
        assert_eq!(parsed.payload(), &payload);
        assert_eq!(parsed.includes(), b.includes());
        assert_eq!(parsed.timestamp_ms(), 7);
    }

    #[test]
    fn bad_signature_is_rejected() {
        let (c, keys) = committee(4);
        // Signed by key 2 but claims author 1.
        let b = Block::new_signed(1, 1, 7, genesis_refs(4), Bytes::new(), &keys[2]);
        assert_eq!(
            Block::parse_and_verify(b.serialized().clone(), &c).unwrap_err(),
            BlockError::BadSignature
        );
    }

    #[test]
    fn tampered_payload_is_rejected() {
        let (c, b) = signed_by_author_1(b"xyz");
        let mut raw = b.serialized().to_vec();
        let i = raw.len() - SIGNATURE_LENGTH - 1;
        raw[i] ^= 1;
        assert_eq!(
            Block::parse_and_verify(Bytes::from(raw), &c).unwrap_err(),
            BlockError::BadSignature
        );
    }

    #[test]
    fn missing_parent_quorum_and_unknown_author_are_rejected() {
        let (c, keys) = committee(4);
        let b = Block::new_signed(0, 1, 7, genesis_refs(2), Bytes::new(), &keys[0]);
        assert!(matches!(
            Block::parse_and_verify(b.serialized().clone(), &c),
            Err(BlockError::NoParentQuorum(0, 2))
        ));
        let b = Block::new_signed(9, 1, 7, genesis_refs(4), Bytes::new(), &keys[0]);
        assert_eq!(
            Block::parse_and_verify(b.serialized().clone(), &c).unwrap_err(),
            BlockError::UnknownAuthor(9)
        );
    }

    #[test]
    fn two_references_to_one_slot_are_rejected() {
        let (c, keys) = committee(4);
        let mut includes = genesis_refs(4);
        includes.push(BlockRef {
            digest: [5; 32],
            ..includes[3]
        });
        let b = Block::new_signed(0, 1, 7, includes, Bytes::new(), &keys[0]);
        assert_eq!(
            Block::parse_and_verify(b.serialized().clone(), &c).unwrap_err(),
            BlockError::DuplicateSlot(3, 0)
        );
    }

    #[test]
    fn truncated_bytes_are_malformed_not_a_panic() {
        let (c, b) = signed_by_author_1(b"abc");
        for cut in 0..b.serialized().len() {
            let r = Block::parse_and_verify(b.serialized().slice(..cut), &c);
            assert!(r.is_err(), "cut at {cut} accepted");
        }
    }
}
