//! Monitoring a testbed live: a Prometheus configuration that scrapes every validator (and,
//! on cloud and static testbeds, every host through prometheus-node-exporter) and a Grafana
//! dashboard (`assets/dashboards/consensus-bench.json`) over the node's metrics.
//!
//! Targets live in Prometheus file-based discovery files (`targets/*.json`), which Prometheus
//! re-reads when they change: after a redeploy, run `cargo xtask monitoring` again.

pub mod apply;
pub mod files;
pub mod install;
pub mod targets;

pub use files::{write, Written};
pub use targets::{host_targets, validator_targets, Target};
