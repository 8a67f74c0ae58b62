//! Holds blocks until their whole causal history is stored. Each author has its own bounded
//! share, so blocks whose ancestors never come (forged or far-future ones) cost bounded
//! memory and never take the space of other authors' blocks.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::{
    block::{BlockPtr, BlockRef, Round, MAX_INCLUDES},
    dag::DagStore,
};

/// Why a valid block was not kept (a label of `node_dropped_blocks_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Its author's share of the buffer is full of lower rounds.
    BufferFull,
    /// Too many rounds above the highest stored round.
    TooFarAhead,
    /// Its (author, round) already holds enough equivocating blocks.
    Equivocation,
    /// It references a pruned block this validator never held, so its history cannot be
    /// checked (every validator decides this the same way: see `DagStore::is_available`).
    StaleInclude,
}

impl DropReason {
    /// Every reason, for registering the metric's labels.
    pub const ALL: [Self; 4] = [
        Self::BufferFull,
        Self::TooFarAhead,
        Self::Equivocation,
        Self::StaleInclude,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::BufferFull => "buffer-full",
            Self::TooFarAhead => "too-far-ahead",
            Self::Equivocation => "equivocation",
            Self::StaleInclude => "stale-include",
        }
    }
}

/// Result of adding blocks to the DAG.
#[derive(Default, Debug)]
pub struct Accepted {
    /// Blocks now stored, in causal order.
    pub blocks: Vec<BlockPtr>,
    /// References seen missing for the first time (to be requested).
    pub missing: Vec<BlockRef>,
    /// Blocks not kept (arriving or evicted), with the reason.
    pub dropped: Vec<(BlockRef, DropReason)>,
}

/// Bounds of the causal buffer, per author of the suspended blocks.
#[derive(Clone, Copy, Debug)]
pub struct BufferLimits {
    /// Most suspended blocks of one author.
    pub blocks_per_author: usize,
    /// Most missing references waited for by one author's suspended blocks together.
    pub missing_per_author: usize,
    /// Blocks more than this many rounds above the highest stored round are not kept.
    pub rounds_ahead: Round,
}

impl BufferLimits {
    /// `total_blocks` shared equally by `committee_size` authors; every author may wait for
    /// 16 references per block, and at least for two blocks with the most references.
    pub fn new(committee_size: usize, total_blocks: usize, rounds_ahead: Round) -> Self {
        let blocks_per_author = (total_blocks / committee_size.max(1)).max(1);
        Self {
            blocks_per_author,
            missing_per_author: (blocks_per_author * 16).max(2 * MAX_INCLUDES),
            rounds_ahead,
        }
    }
}

struct Suspended {
    block: BlockPtr,
    /// Includes still missing; each has an entry in `waiters`.
    missing: usize,
    /// Read back from our own WAL (its history was checked before it was logged).
    logged: bool,
}

/// One author's suspended blocks (ordered by round) and the references they wait for.
#[derive(Default)]
struct Share {
    blocks: BTreeSet<BlockRef>,
    missing: usize,
}

/// Blocks waiting for ancestors.
pub struct CausalBuffer {
    pending: HashMap<BlockRef, Suspended>,
    waiters: HashMap<BlockRef, Vec<BlockRef>>,
    shares: HashMap<u32, Share>,
    limits: BufferLimits,
}

impl CausalBuffer {
    /// An empty buffer with these bounds.
    pub fn new(limits: BufferLimits) -> Self {
        Self {
            pending: HashMap::new(),
            waiters: HashMap::new(),
            shares: HashMap::new(),
            limits,
        }
    }

    /// Number of suspended blocks.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether no block is suspended.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Number of missing references waited for (the request bookkeeping).
    pub fn missing_len(&self) -> usize {
        self.waiters.len()
    }

    /// Whether `r` is suspended here.
    pub fn contains(&self, r: &BlockRef) -> bool {
        self.pending.contains_key(r)
    }

    /// Adds a verified block from a peer or our own proposer; stores it and any unblocked
    /// descendants if possible.
    pub fn add(&mut self, store: &mut DagStore, block: BlockPtr, out: &mut Accepted) {
        self.insert(store, block, out, false);
    }

    /// Adds a block read back from our own WAL: it was checked before it was logged, so
    /// references below the gc round count as present even if their segment is gone.
    pub fn add_logged(&mut self, store: &mut DagStore, block: BlockPtr, out: &mut Accepted) {
        self.insert(store, block, out, true);
    }

    fn insert(&mut self, store: &mut DagStore, block: BlockPtr, out: &mut Accepted, logged: bool) {
        let r = block.reference();
        let gc = store.gc_round();
        if store.contains(&r) || self.pending.contains_key(&r) || r.round < gc {
            return;
        }
        let mut missing = Vec::new();
        let mut seen = HashSet::new();
        for inc in block.includes() {
            if store.is_available(inc) || (logged && inc.round < gc) || !seen.insert(*inc) {
                continue;
            }
            if inc.round < gc {
                out.dropped.push((r, DropReason::StaleInclude));
                return;
            }
            missing.push(*inc);
        }
        if missing.is_empty() {
            self.accept(store, block, out);
            return;
        }
        if r.round
            > store
                .highest_round()
                .saturating_add(self.limits.rounds_ahead)
        {
            out.dropped.push((r, DropReason::TooFarAhead));
            return;
        }
        if !self.make_room(&r, missing.len(), out) {
            out.dropped.push((r, DropReason::BufferFull));
            return;
        }
        for inc in &missing {
            let waiters = self.waiters.entry(*inc).or_default();
            if waiters.is_empty() && !self.pending.contains_key(inc) {
                out.missing.push(*inc);
            }
            waiters.push(r);
        }
        let share = self.shares.entry(r.author).or_default();
        share.blocks.insert(r);
        share.missing += missing.len();
        self.pending.insert(
            r,
            Suspended {
                block,
                missing: missing.len(),
                logged,
            },
        );
    }

    /// Evicts the author's highest-round blocks above `r` until a block waiting for
    /// `missing` references fits in its share; false if it does not.
    fn make_room(&mut self, r: &BlockRef, missing: usize, out: &mut Accepted) -> bool {
        let limits = self.limits;
        loop {
            let share = self.shares.entry(r.author).or_default();
            if share.blocks.len() < limits.blocks_per_author
                && share.missing + missing <= limits.missing_per_author
            {
                return true;
            }
            let Some(highest) = share.blocks.last().copied() else {
                return false;
            };
            if highest.round <= r.round {
                return false;
            }
            self.remove(&highest);
            out.dropped.push((highest, DropReason::BufferFull));
        }
    }

    /// Takes a suspended block out, with its waiter entries and its share's accounting.
    fn remove(&mut self, r: &BlockRef) -> Option<BlockPtr> {
        let s = self.pending.remove(r)?;
        if let Some(share) = self.shares.get_mut(&r.author) {
            share.blocks.remove(r);
            share.missing -= s.missing;
            if share.blocks.is_empty() {
                self.shares.remove(&r.author);
            }
        }
        if s.missing > 0 {
            for inc in s.block.includes() {
                if let Some(ws) = self.waiters.get_mut(inc) {
                    ws.retain(|w| w != r);
                    if ws.is_empty() {
                        self.waiters.remove(inc);
                    }
                }
            }
        }
        Some(s.block)
    }

    fn accept(&mut self, store: &mut DagStore, block: BlockPtr, out: &mut Accepted) {
        let mut ready = vec![block];
        while let Some(b) = ready.pop() {
            let r = b.reference();
            if !store.insert(b.clone()) {
                continue;
            }
            out.blocks.push(b);
            self.release(&r, &mut ready);
        }
    }

    fn release(&mut self, available: &BlockRef, ready: &mut Vec<BlockPtr>) {
        for w in self.waiters.remove(available).unwrap_or_default() {
            self.release_one(&w, ready);
        }
    }

    /// One of `w`'s missing includes is no longer missing.
    fn release_one(&mut self, w: &BlockRef, ready: &mut Vec<BlockPtr>) {
        let Some(s) = self.pending.get_mut(w) else {
            return;
        };
        s.missing -= 1;
        if let Some(share) = self.shares.get_mut(&w.author) {
            share.missing -= 1;
        }
        if s.missing == 0 {
            if let Some(b) = self.remove(w) {
                ready.push(b);
            }
        }
    }

    /// Missing references nobody has delivered yet (for request retries).
    pub fn missing(&self) -> Vec<BlockRef> {
        self.waiters
            .keys()
            .filter(|r| !self.pending.contains_key(r))
            .copied()
            .collect()
    }

    /// After the store pruned: drops suspended blocks below the gc round, and the blocks
    /// waiting for a reference that fell below it before it came (their history can no
    /// longer be checked; counting it as present would make validators disagree). Blocks
    /// from our own WAL count such references as present, and may join the DAG.
    pub fn on_prune(&mut self, store: &mut DagStore, out: &mut Accepted) {
        let gc = store.gc_round();
        // Sorted: what joins the DAG, and in which order, must not depend on the hash map's
        // (per-process) order.
        let mut old: Vec<BlockRef> = self
            .pending
            .keys()
            .filter(|r| r.round < gc)
            .copied()
            .collect();
        old.sort_unstable();
        for r in old {
            self.remove(&r);
        }
        let mut stale: Vec<BlockRef> = self
            .waiters
            .keys()
            .filter(|r| r.round < gc)
            .copied()
            .collect();
        stale.sort_unstable();
        let mut ready = Vec::new();
        for m in stale {
            for w in self.waiters.remove(&m).unwrap_or_default() {
                match self.pending.get(&w).map(|s| s.logged) {
                    Some(true) => self.release_one(&w, &mut ready),
                    Some(false) => {
                        self.remove(&w);
                        out.dropped.push((w, DropReason::StaleInclude));
                    }
                    None => {}
                }
            }
        }
        for b in ready {
            self.accept(store, b, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{block::Block, committee::tests::committee};
    use bytes::Bytes;
    use std::sync::Arc;

    #[test]
    fn block_waits_for_missing_parent_then_both_are_stored() {
        let (c, keys) = committee(4);
        let mut store = DagStore::new(&c, 10);
        let b1 = round_one(&keys);
        let refs1: Vec<_> = b1.iter().map(|b| b.reference()).collect();
        let b2 = Arc::new(Block::new_signed(
            0,
            2,
            0,
            refs1.clone(),
            Bytes::new(),
            &keys[0],
        ));
        let mut buffer = CausalBuffer::new(limits());
        let mut out = Accepted::default();
        buffer.add(&mut store, b2.clone(), &mut out);
        assert!(out.blocks.is_empty());
        assert_eq!(out.missing.len(), 4);
        assert!(!store.contains(&b2.reference()));
        let mut out = Accepted::default();
        for b in &b1 {
            buffer.add(&mut store, b.clone(), &mut out);
        }
        assert!(out.missing.is_empty());
        assert_eq!(out.blocks.len(), 5);
        assert_eq!(
            out.blocks.last().map(|b| b.reference()),
            Some(b2.reference())
        );
        assert!(buffer.is_empty());
        assert!(buffer.missing().is_empty());
    }

    /// The four blocks of round 1, on the genesis blocks.
    fn round_one(keys: &[ed25519_dalek::SigningKey]) -> Vec<BlockPtr> {
        let genesis: Vec<_> = (0..4).map(|a| Block::genesis(a).reference()).collect();
        (0..4u32)
            .map(|a| {
                Arc::new(Block::new_signed(
                    a,
                    1,
                    0,
                    genesis.clone(),
                    Bytes::new(),
                    &keys[a as usize],
                ))
            })
            .collect()
    }

    fn limits() -> BufferLimits {
        BufferLimits::new(4, 100, 1000)
    }

    fn fake(round: u64, author: u32, tag: u8) -> BlockRef {
        BlockRef {
            round,
            author,
            digest: [tag; 32],
        }
    }

    /// A block of `author` at `round` whose parents (at round - 1) never come.
    fn orphan(keys: &[ed25519_dalek::SigningKey], author: u32, round: u64, tag: u8) -> BlockPtr {
        Arc::new(Block::new_signed(
            author,
            round,
            0,
            (0..4).map(|a| fake(round - 1, a, tag)).collect(),
            Bytes::new(),
            &keys[author as usize],
        ))
    }

    #[test]
    fn a_block_waiting_for_a_reference_that_falls_below_the_gc_round_is_dropped() {
        let (c, keys) = committee(4);
        let mut store = DagStore::new(&c, 10);
        let b = orphan(&keys, 0, 2, 9);
        let mut buffer = CausalBuffer::new(limits());
        let mut out = Accepted::default();
        buffer.add(&mut store, b.clone(), &mut out);
        assert_eq!(buffer.len(), 1);
        store.prune(2);
        let mut out = Accepted::default();
        buffer.on_prune(&mut store, &mut out);
        assert!(out.blocks.is_empty(), "stored with unchecked ancestors");
        assert!(!store.contains(&b.reference()));
        assert_eq!(out.dropped, vec![(b.reference(), DropReason::StaleInclude)]);
        assert!(buffer.is_empty() && buffer.missing().is_empty());
    }

    /// Another validator with a lower gc round would wait for the reference forever: a
    /// reference below the gc round counts only if this validator held it.
    #[test]
    fn references_below_the_gc_round_count_only_if_they_were_held() {
        let (c, keys) = committee(4);
        let mut store = DagStore::new(&c, 10);
        let r1 = round_one(&keys);
        let mut buffer = CausalBuffer::new(limits());
        let mut out = Accepted::default();
        for b in &r1 {
            buffer.add(&mut store, b.clone(), &mut out);
        }
        store.prune(2);
        let held: Vec<_> = r1.iter().map(|b| b.reference()).collect();
        let good = Arc::new(Block::new_signed(1, 2, 0, held, Bytes::new(), &keys[1]));
        let forged = orphan(&keys, 2, 2, 7);
        let mut out = Accepted::default();
        buffer.add(&mut store, good.clone(), &mut out);
        buffer.add(&mut store, forged.clone(), &mut out);
        assert!(store.contains(&good.reference()));
        assert!(
            !store.contains(&forged.reference()),
            "unchecked history stored"
        );
        assert_eq!(
            out.dropped,
            vec![(forged.reference(), DropReason::StaleInclude)]
        );
        // Read back from our own WAL, the same references count: they were checked.
        let mut out = Accepted::default();
        buffer.add_logged(&mut store, forged.clone(), &mut out);
        assert!(store.contains(&forged.reference()));
    }

    /// One author flooding blocks whose parents never come (forged far-future rounds) fills
    /// only its own share, keeps the missing-reference bookkeeping bounded, and leaves room
    /// for the others' out-of-order blocks.
    #[test]
    fn a_flood_of_orphans_from_one_author_stays_in_its_share() {
        let (c, keys) = committee(4);
        let mut store = DagStore::new(&c, 10);
        let mut buffer = CausalBuffer::new(limits());
        let per_author = limits().blocks_per_author;
        let mut out = Accepted::default();
        for round in 2..900u64 {
            buffer.add(&mut store, orphan(&keys, 3, round, round as u8), &mut out);
        }
        assert_eq!(buffer.len(), per_author);
        assert!(buffer.missing_len() <= limits().missing_per_author);
        // The lowest rounds are kept (a lagging validator needs those first).
        assert!(out
            .dropped
            .iter()
            .all(|(r, why)| *why == DropReason::BufferFull && r.round > per_author as u64 + 1));
        // Another author's out-of-order block still finds room and is stored once its
        // parents come.
        let r1 = round_one(&keys);
        let child = Arc::new(Block::new_signed(
            1,
            2,
            0,
            r1.iter().map(|b| b.reference()).collect(),
            Bytes::new(),
            &keys[1],
        ));
        let mut out = Accepted::default();
        buffer.add(&mut store, child.clone(), &mut out);
        assert!(out.dropped.is_empty());
        assert_eq!(buffer.len(), per_author + 1);
        for b in &r1 {
            buffer.add(&mut store, b.clone(), &mut out);
        }
        assert!(store.contains(&child.reference()));
    }

    #[test]
    fn a_lower_round_evicts_the_highest_of_its_author_and_far_rounds_are_refused() {
        let (c, keys) = committee(4);
        let mut store = DagStore::new(&c, 10);
        let limits = BufferLimits {
            blocks_per_author: 2,
            missing_per_author: 1_000,
            rounds_ahead: 100,
        };
        let mut buffer = CausalBuffer::new(limits);
        let mut out = Accepted::default();
        for round in [50, 40, 30] {
            buffer.add(&mut store, orphan(&keys, 2, round, 1), &mut out);
        }
        assert_eq!(buffer.len(), 2);
        assert_eq!(out.dropped.len(), 1);
        assert_eq!(out.dropped[0].0.round, 50);
        let far = orphan(&keys, 2, 102, 1);
        let mut out = Accepted::default();
        buffer.add(&mut store, far.clone(), &mut out);
        assert_eq!(
            out.dropped,
            vec![(far.reference(), DropReason::TooFarAhead)]
        );
        // A block waiting for more references than its author's share allows is refused.
        let limits = BufferLimits {
            missing_per_author: 3,
            ..limits
        };
        let mut buffer = CausalBuffer::new(limits);
        let mut out = Accepted::default();
        buffer.add(&mut store, orphan(&keys, 2, 5, 1), &mut out);
        assert!(buffer.is_empty() && buffer.missing_len() == 0);
        assert_eq!(out.dropped.len(), 1);
    }
}
