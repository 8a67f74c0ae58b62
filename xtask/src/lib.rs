//! The orchestrator as a library: `cargo xtask` is a thin binary over it, and the integration
//! tests drive the same code.

pub mod aws_support;
pub mod benchmark;
pub mod builder;
pub mod cli;
pub mod commands;
pub mod failures;
pub mod instance;
pub mod interrupt;
pub mod measurement;
pub mod monitoring;
pub mod parallel;
pub mod ports;
pub mod progress;
pub mod protocol;
pub mod results;
pub mod settings;
pub mod ssh;
pub mod testbed;
pub mod workspace;
