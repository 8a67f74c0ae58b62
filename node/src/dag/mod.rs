//! The local DAG: stored blocks and the causal buffer for blocks with missing ancestors.

mod buffer;
mod store;

pub use buffer::{Accepted, BufferLimits, CausalBuffer, DropReason};
pub use store::DagStore;
