//! The node's metrics as the benchmark reads them: what a validator's `/metrics` says
//! ([`snapshot`], fetched by [`scrape`]), latency percentiles from its histogram
//! ([`histogram`]), this machine's load ([`host`]), and the figures of a measured window
//! ([`summary`]).

pub mod histogram;
pub mod host;
pub mod scrape;
pub mod snapshot;
pub mod summary;

pub use histogram::Histogram;
pub use snapshot::Snapshot;
pub use summary::{summarize, Observation, Summary};
