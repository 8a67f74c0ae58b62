//! Turns a committed leader into its committed sub-DAG.

use crate::{
    block::{BlockPtr, Round},
    dag::DagStore,
};

/// The not yet committed causal history of `leader` at rounds >= `cutoff`, sorted by
/// (round, author, digest), marked committed in `dag`.
pub fn linearize(dag: &mut DagStore, leader: &BlockPtr, cutoff: Round) -> Vec<BlockPtr> {
    let mut out = Vec::new();
    if dag.is_committed(&leader.reference()) {
        return out;
    }
    dag.set_committed(&leader.reference());
    let mut stack = vec![leader.clone()];
    while let Some(b) = stack.pop() {
        for r in b.includes() {
            if r.round < cutoff.max(1) || dag.is_committed(r) {
                continue;
            }
            if let Some(ib) = dag.get(r).cloned() {
                dag.set_committed(r);
                stack.push(ib);
            }
        }
        out.push(b);
    }
    out.sort_by_key(|b| b.reference());
    out
}
