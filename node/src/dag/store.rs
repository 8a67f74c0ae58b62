//! Blocks indexed by reference and round, with commit marks and pruning.

use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    ops::Bound,
    sync::atomic::{AtomicU64, Ordering},
};

use foldhash::{HashMap, HashMapExt};

use crate::{
    block::{Block, BlockPtr, BlockRef, Round},
    committee::{AuthorityIndex, Committee},
};

/// Source of [`DagStore::version`]s, unique in the process.
static VERSIONS: AtomicU64 = AtomicU64::new(0);

fn next_version() -> u64 {
    VERSIONS.fetch_add(1, Ordering::Relaxed) + 1
}

struct Entry {
    block: BlockPtr,
    committed: bool,
}

/// Every block this validator holds whose causal history is complete (down to the gc round).
pub struct DagStore {
    /// Keyed by the references of stored blocks, whose digests their authors cannot pick
    /// freely (blake3 of the contents), hence the fast hasher; nothing iterates it in an
    /// order that matters (`committed_refs` sorts).
    blocks: HashMap<BlockRef, Entry>,
    rounds: BTreeMap<Round, Vec<BlockPtr>>,
    gc_round: Round,
    highest_round: Round,
    committed_ahead: HashSet<BlockRef>,
    /// References of pruned blocks, for `pruned_window` rounds below the gc round.
    pruned: BTreeSet<BlockRef>,
    pruned_window: Round,
    /// After a jump to a sync point: references below this round count as held (the
    /// committee committed past them; see [`DagStore::jump`]).
    sync_floor: Round,
    /// Names this store ([`DagStore::id`]).
    id: u64,
    /// Changes at every change of the store (see [`DagStore::version`]).
    version: u64,
}

impl DagStore {
    /// A store holding the genesis blocks of `committee`; it remembers the references of
    /// pruned blocks for `pruned_window` rounds below the gc round.
    pub fn new(committee: &Committee, pruned_window: Round) -> Self {
        let mut store = Self {
            blocks: HashMap::new(),
            rounds: BTreeMap::new(),
            gc_round: 0,
            highest_round: 0,
            committed_ahead: HashSet::new(),
            pruned: BTreeSet::new(),
            pruned_window,
            sync_floor: 0,
            id: next_version(),
            version: next_version(),
        };
        for (a, _) in committee.authorities() {
            store.insert(std::sync::Arc::new(Block::genesis(a)));
        }
        store
    }

    /// Whether the block is stored.
    pub fn contains(&self, r: &BlockRef) -> bool {
        self.blocks.contains_key(r)
    }

    /// Whether a reference counts as present: stored, or pruned after being stored. A
    /// reference below the gc round that this validator never held is not present: its
    /// history cannot be checked any more (and another validator, with a lower gc round,
    /// would not count it either).
    pub fn is_available(&self, r: &BlockRef) -> bool {
        if r.round < self.gc_round {
            r.round < self.sync_floor || self.pruned.contains(r)
        } else {
            self.blocks.contains_key(r)
        }
    }

    /// The stored block, if any.
    pub fn get(&self, r: &BlockRef) -> Option<&BlockPtr> {
        self.blocks.get(r).map(|e| &e.block)
    }

    /// Stores a block; returns false if it was already there or is below the gc round.
    pub fn insert(&mut self, block: BlockPtr) -> bool {
        let r = block.reference();
        if r.round < self.gc_round || self.blocks.contains_key(&r) {
            return false;
        }
        self.version = next_version();
        let committed = self.committed_ahead.remove(&r);
        self.rounds.entry(r.round).or_default().push(block.clone());
        self.blocks.insert(r, Entry { block, committed });
        self.highest_round = self.highest_round.max(r.round);
        true
    }

    /// Blocks at `round`.
    pub fn blocks_at(&self, round: Round) -> &[BlockPtr] {
        self.rounds.get(&round).map_or(&[], Vec::as_slice)
    }

    /// Number of blocks of one slot (more than one if the author equivocated).
    pub fn slot_len(&self, round: Round, author: AuthorityIndex) -> usize {
        self.blocks_at(round)
            .iter()
            .filter(|b| b.author() == author)
            .count()
    }

    /// Blocks of one slot (several if the author equivocated).
    pub fn slot_blocks(&self, round: Round, author: AuthorityIndex) -> Vec<BlockPtr> {
        self.blocks_at(round)
            .iter()
            .filter(|b| b.author() == author)
            .cloned()
            .collect()
    }

    /// Blocks of `author` with round > `after`, in round order.
    pub fn blocks_of_after(&self, author: AuthorityIndex, after: Round) -> Vec<BlockPtr> {
        self.rounds
            .range((Bound::Excluded(after), Bound::Unbounded))
            .flat_map(|(_, bs)| bs.iter().filter(|b| b.author() == author).cloned())
            .collect()
    }

    /// Highest round of any stored block.
    pub fn highest_round(&self) -> Round {
        self.highest_round
    }

    /// Rounds below this are pruned.
    pub fn gc_round(&self) -> Round {
        self.gc_round
    }

    /// Whether a stored block is already part of a committed sub-DAG.
    pub fn is_committed(&self, r: &BlockRef) -> bool {
        self.blocks.get(r).is_some_and(|e| e.committed)
    }

    /// Marks a block as committed (remembered if it is not stored yet, e.g. during replay).
    pub fn set_committed(&mut self, r: &BlockRef) {
        self.version = next_version();
        match self.blocks.get_mut(r) {
            Some(e) => e.committed = true,
            None if r.round >= self.gc_round => {
                self.committed_ahead.insert(*r);
            }
            None => {}
        }
    }

    /// Committed references at or above the gc round (for WAL checkpoints).
    pub fn committed_refs(&self) -> Vec<BlockRef> {
        let mut refs: Vec<_> = self
            .blocks
            .iter()
            .filter(|(_, e)| e.committed)
            .map(|(r, _)| *r)
            .chain(self.committed_ahead.iter().copied())
            .collect();
        refs.sort();
        refs
    }

    /// Drops every block below `gc_round`.
    pub fn prune(&mut self, gc_round: Round) {
        if gc_round <= self.gc_round {
            return;
        }
        self.gc_round = gc_round;
        self.version = next_version();
        let keep = self.rounds.split_off(&gc_round);
        let old = std::mem::replace(&mut self.rounds, keep);
        for (_, blocks) in old {
            for b in blocks {
                self.blocks.remove(&b.reference());
                self.pruned.insert(b.reference());
            }
        }
        self.pruned = self.pruned.split_off(&BlockRef {
            round: gc_round.saturating_sub(self.pruned_window),
            author: 0,
            digest: [0; 32],
        });
        self.committed_ahead.retain(|r| r.round >= gc_round);
    }

    /// Prepares a jump to a sync point whose gc round is `gc_round` (prune to it next):
    /// references below it count as held, since this validator never saw the rounds the
    /// committee committed while it was away. Blocks further than the retention above such
    /// a reference are refused by the retention rule, so the exception ends by itself.
    pub fn jump(&mut self, gc_round: Round) {
        self.version = next_version();
        self.sync_floor = self.sync_floor.max(gc_round);
        self.highest_round = self.highest_round.max(gc_round);
    }

    /// Identifies the store's contents: two calls return the same number only if the store
    /// is the same one and did not change in between (no two stores share a number).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Names this store: no two stores of the process share it.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Number of stored blocks.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether nothing is stored (never true: genesis is stored).
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}
