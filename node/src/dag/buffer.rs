//! Holds blocks until their whole causal history is stored.

use std::collections::{HashMap, HashSet};

use crate::{
    block::{BlockPtr, BlockRef},
    dag::DagStore,
};

/// Result of adding blocks to the DAG.
#[derive(Default, Debug)]
pub struct Accepted {
    /// Blocks now stored, in causal order.
    pub blocks: Vec<BlockPtr>,
    /// References seen missing for the first time (to be requested).
    pub missing: Vec<BlockRef>,
}

/// Blocks waiting for ancestors.
pub struct CausalBuffer {
    pending: HashMap<BlockRef, (BlockPtr, usize)>,
    waiters: HashMap<BlockRef, Vec<BlockRef>>,
    capacity: usize,
}

impl CausalBuffer {
    /// A buffer holding at most `capacity` blocks.
    pub fn new(capacity: usize) -> Self {
        Self {
            pending: HashMap::new(),
            waiters: HashMap::new(),
            capacity,
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

    /// Whether `r` is suspended here.
    pub fn contains(&self, r: &BlockRef) -> bool {
        self.pending.contains_key(r)
    }

    /// Adds a verified block; stores it and any unblocked descendants if possible.
    pub fn add(&mut self, store: &mut DagStore, block: BlockPtr, out: &mut Accepted) {
        let r = block.reference();
        if store.contains(&r) || self.pending.contains_key(&r) || r.round < store.gc_round() {
            return;
        }
        let mut missing = 0;
        let mut seen = HashSet::new();
        for inc in block.includes() {
            if store.is_available(inc) || !seen.insert(*inc) {
                continue;
            }
            missing += 1;
            let waiters = self.waiters.entry(*inc).or_default();
            if waiters.is_empty() && !self.pending.contains_key(inc) {
                out.missing.push(*inc);
            }
            waiters.push(r);
        }
        if missing == 0 {
            self.accept(store, block, out);
        } else if self.pending.len() >= self.capacity {
            tracing::warn!(block = ?r, "causal buffer full: dropping block");
            self.forget_waiter(&r, block.includes());
        } else {
            self.pending.insert(r, (block, missing));
        }
    }

    fn forget_waiter(&mut self, waiter: &BlockRef, includes: &[BlockRef]) {
        for inc in includes {
            if let Some(ws) = self.waiters.get_mut(inc) {
                ws.retain(|w| w != waiter);
                if ws.is_empty() {
                    self.waiters.remove(inc);
                }
            }
        }
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
            if let Some((_, count)) = self.pending.get_mut(&w) {
                *count -= 1;
                if *count == 0 {
                    if let Some((b, _)) = self.pending.remove(&w) {
                        ready.push(b);
                    }
                }
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

    /// After the store pruned: drops stale blocks and releases those waiting on pruned rounds.
    pub fn on_prune(&mut self, store: &mut DagStore, out: &mut Accepted) {
        let gc = store.gc_round();
        self.pending.retain(|r, _| r.round >= gc);
        let stale: Vec<BlockRef> = self
            .waiters
            .keys()
            .filter(|r| r.round < gc)
            .copied()
            .collect();
        let mut ready = Vec::new();
        for r in stale {
            self.release(&r, &mut ready);
        }
        self.waiters.retain(|_, ws| {
            ws.retain(|w| w.round >= gc);
            !ws.is_empty()
        });
        for b in ready {
            self.accept(store, b, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{block::Block, committee::tests::committee, crypto::Digest};
    use bytes::Bytes;
    use std::sync::Arc;

    #[test]
    fn block_waits_for_missing_parent_then_both_are_stored() {
        let (c, keys) = committee(4);
        let mut store = DagStore::new(&c);
        let genesis: Vec<_> = (0..4).map(|a| Block::genesis(a).reference()).collect();
        let b1: Vec<_> = (0..4u32)
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
            .collect();
        let refs1: Vec<_> = b1.iter().map(|b| b.reference()).collect();
        let b2 = Arc::new(Block::new_signed(
            0,
            2,
            0,
            refs1.clone(),
            Bytes::new(),
            &keys[0],
        ));
        let mut buffer = CausalBuffer::new(100);
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

    #[test]
    fn pruning_releases_blocks_waiting_on_old_rounds() {
        let (c, keys) = committee(4);
        let mut store = DagStore::new(&c);
        let fake = |a: u32| BlockRef {
            round: 1,
            author: a,
            digest: Digest::default(),
        };
        let b = Arc::new(Block::new_signed(
            0,
            2,
            0,
            (0..4).map(fake).collect(),
            Bytes::new(),
            &keys[0],
        ));
        let mut buffer = CausalBuffer::new(100);
        let mut out = Accepted::default();
        buffer.add(&mut store, b.clone(), &mut out);
        assert_eq!(buffer.len(), 1);
        store.prune(2);
        let mut out = Accepted::default();
        buffer.on_prune(&mut store, &mut out);
        assert_eq!(out.blocks.len(), 1);
        assert!(store.contains(&b.reference()));
    }
}
