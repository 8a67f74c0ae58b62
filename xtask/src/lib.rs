//! The orchestrator as a library: `cargo xtask` is a thin binary over it, and the integration
//! tests drive the same code.

pub(crate) mod aws_support;
pub(crate) mod benchmark;
pub mod builder;
pub mod cli;
pub mod commands;
pub mod deployment;
pub mod experiment;
pub(crate) mod failures;
pub(crate) mod instance;
pub mod interrupt;
pub mod metrics;
pub mod monitoring;
pub(crate) mod parallel;
pub(crate) mod ports;
pub(crate) mod progress;
pub mod protocol;
pub mod results;
pub mod saturation;
pub mod settings;
pub mod ssh;
pub mod state_lock;
pub mod testbed;
pub(crate) mod value_name;
pub mod workspace;
