//! A BFT consensus validator: uncertified DAG with the Mysticeti-C commit rule.
//!
//! [`validator::Validator`] runs one validator as a set of tokio tasks; the `node` binary
//! wraps it with a command line (`genesis`, `run`, `sim`, `explore`); [`sim`] runs a whole
//! committee of the same core in one process under virtual time.

pub mod accept;
pub mod block;
pub mod byzantine;
pub mod commit_log;
pub mod committee;
pub mod committer;
pub mod core;
pub mod crypto;
pub mod dag;
pub mod descriptors;
pub mod genesis;
pub mod loadgen;
pub mod metrics;
pub mod network;
pub mod observer;
pub mod parameters;
pub mod pool;
pub mod ratelimit;
pub mod sim;
pub mod storage_lock;
pub mod transactions;
pub mod validator;
pub mod wal;
pub mod world;
