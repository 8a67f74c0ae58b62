//! What the WAL stores.

use bytes::{Buf, Bytes};

use super::{frame, Owner};
use crate::{
    block::{Block, BlockPtr, BlockRef, Round, REF_LENGTH},
    committer::{CommitChain, DecisionKind, ScheduleState, Slot, SyncPoint},
};

const OWN_BLOCK: u8 = 1;
const BLOCK: u8 = 2;
const DECISION: u8 = 3;
const CHECKPOINT: u8 = 4;
const HEADER: u8 = 5;
const SYNC: u8 = 6;

/// One WAL entry.
#[derive(Debug)]
pub enum Record {
    /// A block this validator signed (fsynced before broadcast).
    OwnBlock(BlockPtr),
    /// A verified block received from a peer, logged when it joined the DAG.
    Block(BlockPtr),
    /// A decided leader slot and the blocks its sub-DAG committed.
    Decision {
        /// The slot.
        slot: Slot,
        /// How it was decided.
        kind: DecisionKind,
        /// Committed leader, if any.
        leader: Option<BlockRef>,
        /// Blocks committed with it.
        committed: Vec<BlockRef>,
    },
    /// State at the start of a segment (older segments may be deleted).
    Checkpoint {
        /// Last decided slot.
        last_decided: Slot,
        /// Round of the last committed leader.
        last_committed_round: Round,
        /// Highest round this validator signed.
        last_own_round: Round,
        /// Committed blocks still in the DAG window.
        committed: Vec<BlockRef>,
        /// The committed sequence so far.
        chain: CommitChain,
        /// What the leader schedule has learnt from it.
        schedule: ScheduleState,
    },
    /// First record of every segment: which validator of which committee writes the WAL.
    Header(Owner),
    /// The validator jumped to this sync point (vouched for by validity stake): the commit
    /// state continues from it, older rounds are dropped.
    Sync(SyncPoint),
}

fn put_refs(out: &mut Vec<u8>, refs: &[BlockRef]) {
    out.extend_from_slice(&(refs.len() as u32).to_le_bytes());
    for r in refs {
        r.encode(out);
    }
}

fn get_refs(b: &mut &[u8]) -> Result<Vec<BlockRef>, &'static str> {
    if b.remaining() < 4 {
        return Err("short");
    }
    let n = b.get_u32_le() as usize;
    if b.remaining() < n * REF_LENGTH {
        return Err("short references");
    }
    let mut refs = Vec::with_capacity(n);
    for _ in 0..n {
        refs.push(BlockRef::decode(&b[..REF_LENGTH]).ok_or("reference")?);
        b.advance(REF_LENGTH);
    }
    Ok(refs)
}

fn get_slot(b: &mut &[u8]) -> Result<Slot, &'static str> {
    if b.remaining() < 16 {
        return Err("short slot");
    }
    Ok(Slot {
        round: b.get_u64_le(),
        index: b.get_u64_le() as usize,
    })
}

impl Record {
    /// Round of the block it carries, if any.
    pub fn block_round(&self) -> Option<Round> {
        match self {
            Self::OwnBlock(b) | Self::Block(b) => Some(b.round()),
            _ => None,
        }
    }

    /// The block it carries, if any.
    pub fn block(&self) -> Option<&BlockPtr> {
        match self {
            Self::OwnBlock(b) | Self::Block(b) => Some(b),
            _ => None,
        }
    }

    /// Appends the record as one checksummed frame.
    pub fn encode_framed(&self, out: &mut Vec<u8>) {
        let header_at = frame::begin_frame(out);
        match self {
            Self::OwnBlock(b) | Self::Block(b) => {
                out.push(if matches!(self, Self::OwnBlock(_)) {
                    OWN_BLOCK
                } else {
                    BLOCK
                });
                out.extend_from_slice(b.serialized());
            }
            Self::Decision {
                slot,
                kind,
                leader,
                committed,
            } => {
                out.push(DECISION);
                out.extend_from_slice(&slot.round.to_le_bytes());
                out.extend_from_slice(&(slot.index as u64).to_le_bytes());
                out.push(kind.code());
                put_refs(out, leader.as_slice());
                put_refs(out, committed);
            }
            Self::Checkpoint {
                last_decided,
                last_committed_round,
                last_own_round,
                committed,
                chain,
                schedule,
            } => {
                out.push(CHECKPOINT);
                out.extend_from_slice(&last_decided.round.to_le_bytes());
                out.extend_from_slice(&(last_decided.index as u64).to_le_bytes());
                out.extend_from_slice(&last_committed_round.to_le_bytes());
                out.extend_from_slice(&last_own_round.to_le_bytes());
                out.extend_from_slice(&chain.index.to_le_bytes());
                out.extend_from_slice(&chain.hash);
                put_refs(out, committed);
                schedule.encode(out);
            }
            Self::Header(owner) => {
                out.push(HEADER);
                out.extend_from_slice(&owner.committee);
                out.extend_from_slice(&owner.authority.to_le_bytes());
                out.extend_from_slice(&owner.public_key);
            }
            Self::Sync(point) => {
                out.push(SYNC);
                point.encode(out);
            }
        }
        frame::finish_frame(out, header_at);
    }

    /// Decodes a frame payload.
    pub fn decode(payload: &[u8]) -> Result<Self, String> {
        let mut b = payload;
        if b.is_empty() {
            return Err("empty record".into());
        }
        let tag = b.get_u8();
        match tag {
            OWN_BLOCK | BLOCK => {
                let block = Block::parse(Bytes::copy_from_slice(b)).map_err(|e| e.to_string())?;
                let block = std::sync::Arc::new(block);
                Ok(if tag == OWN_BLOCK {
                    Self::OwnBlock(block)
                } else {
                    Self::Block(block)
                })
            }
            DECISION => {
                let slot = get_slot(&mut b)?;
                if b.remaining() < 1 {
                    return Err("short decision".into());
                }
                let kind = DecisionKind::from_code(b.get_u8()).ok_or("decision kind")?;
                let leader = get_refs(&mut b)?.first().copied();
                let committed = get_refs(&mut b)?;
                Ok(Self::Decision {
                    slot,
                    kind,
                    leader,
                    committed,
                })
            }
            CHECKPOINT => {
                let last_decided = get_slot(&mut b)?;
                if b.remaining() < 16 + 8 + 32 {
                    return Err("short checkpoint".into());
                }
                let last_committed_round = b.get_u64_le();
                let last_own_round = b.get_u64_le();
                let mut chain = CommitChain {
                    index: b.get_u64_le(),
                    ..CommitChain::default()
                };
                b.copy_to_slice(&mut chain.hash);
                let committed = get_refs(&mut b)?;
                let schedule = ScheduleState::decode(&mut b)?;
                Ok(Self::Checkpoint {
                    last_decided,
                    last_committed_round,
                    last_own_round,
                    committed,
                    chain,
                    schedule,
                })
            }
            HEADER => {
                if b.remaining() != 68 {
                    return Err("header of the wrong length".into());
                }
                let mut owner = Owner::default();
                b.copy_to_slice(&mut owner.committee);
                owner.authority = b.get_u32_le();
                b.copy_to_slice(&mut owner.public_key);
                Ok(Self::Header(owner))
            }
            SYNC => {
                let point = SyncPoint::decode(&mut b)?;
                if !b.is_empty() {
                    return Err("sync point with trailing bytes".into());
                }
                Ok(Self::Sync(point))
            }
            other => Err(format!("unknown record tag {other}")),
        }
    }
}
