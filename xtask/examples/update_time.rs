//! Measures how long updating N hosts with a new node binary takes (N = 1, 5, 20 by
//! default), and how many bytes a second update of the same binary sends.
//!
//! Run through `scripts/bench-update`, which starts the sshd hosts on loopback and points
//! `TEST_SSH_HOSTS` at them. Each trial makes a binary no host has (the release node with a
//! random trailer), compresses it, and installs it on the first N hosts; the figures are the
//! median of the trials.

use std::{path::Path, time::Instant};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use xtask::{
    benchmark::{
        executor::Deployment,
        remote::{upload, Options, RemoteDeployment},
    },
    builder::{self, Build, NodeBinary},
    settings::{CloudProvider, Settings, StaticHost},
    ssh,
};

#[derive(Deserialize)]
struct TestHost {
    address: String,
    port: u16,
    user: String,
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// A copy of `node` with a random trailer: same program, a hash no host has seen.
fn fresh_binary(node: &NodeBinary, dir: &Path) -> Result<NodeBinary> {
    let mut bytes = std::fs::read(&node.path).context("cannot read the node binary")?;
    bytes.extend((0..64).map(|_| rand::random::<u8>()));
    let path = dir.join(format!("node-{:08x}", rand::random::<u32>()));
    std::fs::write(&path, bytes).context("cannot write the trial binary")?;
    NodeBinary::from_path(&path, None)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let counts: Vec<usize> = args
        .first()
        .map_or("1,5,20", String::as_str)
        .split(',')
        .map(|n| {
            n.trim()
                .parse()
                .context("host counts: comma-separated numbers")
        })
        .collect::<Result<_>>()?;
    let trials: usize = args.get(1).map_or(Ok(5), |t| t.parse())?;
    let hosts_file = std::env::var_os("TEST_SSH_HOSTS")
        .context("TEST_SSH_HOSTS is not set: run scripts/bench-update")?;
    let hosts: Vec<TestHost> = serde_json::from_str(&std::fs::read_to_string(&hosts_file)?)?;
    let key = Path::new(&hosts_file)
        .parent()
        .context("hosts.json has no directory")?
        .join("client_key");
    if let Some(&n) = counts.iter().find(|&&n| n > hosts.len()) {
        bail!("{n} hosts wanted, {} started", hosts.len());
    }

    let root = xtask::workspace::root();
    let node = builder::build_node(&root, None)?;
    let scratch = tempfile::tempdir()?;
    let cache = ssh::cache_dir();
    println!(
        "node {} ({} bytes); {trials} trials per host count",
        node.short_hash(),
        std::fs::metadata(&node.path)?.len()
    );
    println!(
        "hosts  compress_s  transfer_s  update_s (median, min-max)  bytes/host  second_run_bytes"
    );
    let mut baseline = None;
    for &n in &counts {
        let mut settings = Settings::local_default();
        settings.testbed_id = format!("update-bench-{:06x}", rand::random::<u32>() >> 8);
        settings.cloud_provider = CloudProvider::Static;
        settings.ssh_private_key_file = Some(key.clone());
        settings.hosts = hosts[..n]
            .iter()
            .enumerate()
            .map(|(i, h)| StaticHost {
                address: h.address.clone(),
                port: h.port,
                user: Some(h.user.clone()),
                region: "bench".into(),
                private_address: None,
                working_directory: Some(
                    scratch
                        .path()
                        .join(format!("n{n}-host{i}"))
                        .display()
                        .to_string(),
                ),
            })
            .collect();
        let loaded = settings.validate()?;
        let provider = xtask::testbed::provider(&loaded)?;
        let instances = provider.list_instances()?;
        let mut deployment = RemoteDeployment::prepare(
            &loaded.settings,
            &instances,
            Options {
                run_id: "update-bench".into(),
                metrics_ports: Vec::new(),
                skip_update: false,
                skip_configure: true,
            },
        )?;
        let (mut compress, mut transfer, mut total, mut second) = (vec![], vec![], vec![], 0);
        let mut per_host = 0;
        for _ in 0..trials {
            let binary = fresh_binary(&node, scratch.path())?;
            let build = Build {
                source: builder::source::Source::workspace(&root),
                node: binary.clone(),
                local_tool: binary.clone(),
                minimum_glibc: None,
            };
            let sent_before: u64 = deployment
                .records()
                .iter()
                .map(|r| r.binary_bytes_sent)
                .sum();
            let started = Instant::now();
            let archive = upload::compressed(&binary, &cache)?;
            let compressed = started.elapsed().as_secs_f64();
            deployment.install(&build)?;
            let done = started.elapsed().as_secs_f64();
            compress.push(compressed);
            transfer.push(done - compressed);
            total.push(done);
            let sent_after: u64 = deployment
                .records()
                .iter()
                .map(|r| r.binary_bytes_sent)
                .sum();
            per_host = (sent_after - sent_before) / n as u64;
            deployment.install(&build)?;
            let sent_again: u64 = deployment
                .records()
                .iter()
                .map(|r| r.binary_bytes_sent)
                .sum();
            second += sent_again - sent_after;
            std::fs::remove_file(&archive).ok();
            std::fs::remove_file(&binary.path).ok();
        }
        deployment.finish(scratch.path().join("none").as_path())?;
        let _ = std::fs::remove_dir_all(ssh::testbed_state_dir(&loaded.settings.testbed_id));
        let (low, high) = (
            total.iter().copied().fold(f64::INFINITY, f64::min),
            total.iter().copied().fold(0.0, f64::max),
        );
        let update = median(&mut total);
        let ratio = match baseline {
            None => {
                baseline = Some(update);
                String::new()
            }
            Some(b) => format!("  ({:.2}x the first)", update / b),
        };
        println!(
            "{n:>5}  {:>10.3}  {:>10.3}  {update:>8.3} ({low:.3}-{high:.3}){ratio}  {per_host:>10}  {second:>16}",
            median(&mut compress),
            median(&mut transfer),
        );
    }
    Ok(())
}
