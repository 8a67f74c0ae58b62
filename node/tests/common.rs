//! Helpers: in-process validators on 127.0.0.1 with free ports.

#![allow(dead_code)]

use std::{path::Path, sync::Arc, time::Duration};

use ed25519_dalek::SigningKey;
use node::{
    committee::{AuthorityConfig, Committee, CommitteeConfig},
    observer::CommitSummary,
    parameters::Parameters,
    validator::{Validator, ValidatorConfig},
};

#[path = "ports.rs"]
mod ports;

/// A free TCP port on 127.0.0.1 ([`ports`]).
pub(crate) fn free_port() -> u16 {
    ports::free_ports(1)
}

/// Parameters that make tests quick.
pub(crate) fn test_parameters() -> Parameters {
    Parameters {
        leader_timeout_ms: 300,
        min_round_delay_ms: 20,
        missing_retry_ms: 200,
        ..Parameters::default()
    }
}

/// Configs for an `n`-validator committee with storage under `dir`.
pub(crate) fn configs(n: usize, dir: &Path, parameters: Parameters) -> Vec<ValidatorConfig> {
    let keys: Vec<SigningKey> = (0..n)
        .map(|i| SigningKey::from_bytes(&[i as u8 + 11; 32]))
        .collect();
    let config = CommitteeConfig {
        authorities: keys
            .iter()
            .map(|k| AuthorityConfig {
                public_key: hex::encode(k.verifying_key().as_bytes()),
                stake: 1,
                address: format!("127.0.0.1:{}", free_port())
                    .parse()
                    .expect("address"),
                metrics_address: format!("127.0.0.1:{}", free_port())
                    .parse()
                    .expect("address"),
                region: None,
            })
            .collect(),
    };
    let committee = Arc::new(Committee::from_config(&config, "test").expect("committee"));
    keys.into_iter()
        .enumerate()
        .map(|(i, key)| ValidatorConfig {
            authority: i as u32,
            committee: committee.clone(),
            parameters: parameters.clone(),
            key,
            storage: dir.join(format!("storage-{i}")),
            load: 200,
            transaction_size: 128,
            network: None,
            serve_metrics: false,
            bind_all: false,
            record_commits: true,
            commit_log: None,
            plant_fork_at: None,
            byzantine: None,
        })
        .collect()
}

/// Starts a validator for each config, in order.
pub(crate) async fn start_all(
    configs: impl IntoIterator<Item = ValidatorConfig>,
) -> Vec<Validator> {
    let mut validators = Vec::new();
    for c in configs {
        validators.push(Validator::start(c).await.expect("start"));
    }
    validators
}

/// Shuts every validator down cleanly, in order.
pub(crate) async fn shutdown_all(validators: Vec<Validator>) {
    for v in validators {
        v.shutdown().await.expect("clean shutdown");
    }
}

/// Waits until `done` holds for the validators' commits, polling every 50 ms; panics
/// naming `what` if it does not within `limit`.
pub(crate) async fn wait_until(
    validators: &[&Validator],
    limit: Duration,
    what: &str,
    done: impl Fn(&[Vec<CommitSummary>]) -> bool,
) -> Vec<Vec<CommitSummary>> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let logs: Vec<_> = validators.iter().map(|v| v.commits()).collect();
        if done(&logs) {
            return logs;
        }
        let lengths: Vec<_> = logs.iter().map(Vec::len).collect();
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting until {what} (commits per validator: {lengths:?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts that `a` and `b` agree on their common prefix; returns its length.
pub(crate) fn assert_prefix(a: &[CommitSummary], b: &[CommitSummary]) -> usize {
    let n = a.len().min(b.len());
    for i in 0..n {
        assert_eq!(a[i], b[i], "commit {i} differs");
    }
    n
}

/// A validator's commit log (`index,leader_round,leader_author,chain` lines): index -> chain.
pub(crate) fn read_commit_log(path: &Path) -> std::collections::BTreeMap<u64, String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(node::commit_log::HEADER));
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields.len(), 4, "{line}");
            (fields[0].parse().expect("index"), fields[3].to_string())
        })
        .collect()
}
