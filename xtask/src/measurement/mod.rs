//! Measurements: what a validator's `/metrics` says ([`snapshot`]), latency percentiles from
//! its histogram ([`histogram`]), and the figures of a measured window ([`summary`]).

pub mod histogram;
pub mod host;
pub mod scrape;
pub mod snapshot;
pub mod summary;

pub use histogram::Histogram;
pub use snapshot::Snapshot;
pub use summary::{summarize, Observation, Summary};
