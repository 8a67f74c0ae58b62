//! Measures how long updating N hosts with a new node binary takes (N = 1, 5, 20 by
//! default), and how many bytes a second update of the same binary sends.
//!
//! Run through `scripts/bench-update`, which starts the sshd hosts on loopback and points
//! `TEST_SSH_HOSTS` at them. Each trial makes a binary no host has (the release node with a
//! random trailer), compresses it, and installs it on the first N hosts; the figures are the
//! median of the trials.
//!
//! The emulated hosts share this machine's cores, so their side of the work (sshd, sftp,
//! unpacking, hashing) competes with the orchestrator's. Both are measured in CPU seconds:
//! "local" is this process, its ssh/scp children and the SSH control masters; "hosts" is
//! every process of the sshd servers.

use std::{path::Path, time::Instant};

use anyhow::{bail, Context, Result};
use xtask::{
    builder::{self, Build, NodeBinary},
    deployment::{
        remote::{upload, Options, RemoteDeployment},
        Deployment,
    },
    settings::{CloudProvider, SettingsFile},
    workspace,
};

#[path = "../tests/common/mod.rs"]
mod common;
use common::TestHost;

/// CPU seconds of process `pid` and its reaped children (`/proc/<pid>/stat`).
fn process_cpu(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(fields) = stat.rsplit_once(") ").map(|(_, rest)| rest) else {
        return 0.0;
    };
    // After the command: state, ppid, ... utime is the 12th, then stime, cutime, cstime.
    let ticks: f64 = fields
        .split(' ')
        .skip(11)
        .take(4)
        .filter_map(|t| t.parse::<f64>().ok())
        .sum();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// Every process: (pid, parent pid, command line).
fn processes() -> Vec<(u32, u32, String)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split(' ').nth(1)?.parse().ok())
            .unwrap_or(0);
        let cmdline = std::fs::read_to_string(entry.path().join("cmdline"))
            .unwrap_or_default()
            .replace('\0', " ");
        all.push((pid, ppid, cmdline));
    }
    all
}

/// CPU seconds of the processes descending from `roots` (the roots included): every CPU
/// second is counted once, in a live process or in the parent that reaped it.
fn tree_cpu(roots: &[u32], all: &[(u32, u32, String)]) -> f64 {
    let mut members: Vec<u32> = roots.to_vec();
    let mut grew = true;
    while grew {
        grew = false;
        for (pid, ppid, _) in all {
            if members.contains(ppid) && !members.contains(pid) {
                members.push(*pid);
                grew = true;
            }
        }
    }
    members.into_iter().map(process_cpu).sum()
}

/// CPU seconds so far of this side (this process, its children, the control masters) and of
/// the hosts (the sshd servers whose pids are in `sshd_pids`).
fn cpu_split(control_dir: &str, sshd_pids: &[u32]) -> (f64, f64) {
    let all = processes();
    let masters: Vec<u32> = all
        .iter()
        .filter(|(_, _, cmd)| cmd.starts_with("ssh: ") && cmd.contains(control_dir))
        .map(|(pid, _, _)| *pid)
        .collect();
    let local = process_cpu(std::process::id()) + tree_cpu(&masters, &all);
    (local, tree_cpu(sshd_pids, &all))
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
    let host_dirs = Path::new(&hosts_file)
        .parent()
        .context("hosts.json has no directory")?;
    let sshd_pids: Vec<u32> = (1..=hosts.len())
        .filter_map(|i| {
            std::fs::read_to_string(host_dirs.join(format!("host{i}/sshd.pid")))
                .ok()?
                .trim()
                .parse()
                .ok()
        })
        .collect();

    let root = workspace::root()?;
    let node = builder::build_node(&root, None)?;
    let scratch = tempfile::tempdir()?;
    let cache = workspace::cache_dir();
    println!(
        "node {} ({} bytes); {trials} trials per host count",
        node.short_hash(),
        std::fs::metadata(&node.path)?.len()
    );
    println!(
        "hosts  compress_s  transfer_s  update_s (median, min-max)  cpu_local_s  cpu_hosts_s  \
         bytes/host  second_run_bytes"
    );
    let mut baseline = None;
    for &n in &counts {
        let mut settings = SettingsFile::local_default();
        settings.testbed_id = format!("update-bench-{:06x}", rand::random::<u32>() >> 8);
        settings.cloud_provider = CloudProvider::Static;
        settings.ssh_private_key_file = Some(key.clone());
        settings.hosts = hosts[..n]
            .iter()
            .enumerate()
            .map(|(i, h)| {
                h.static_host("bench", Some(&scratch.path().join(format!("n{n}-host{i}"))))
            })
            .collect();
        let loaded = settings.validate()?;
        let provider = xtask::testbed::provider(&loaded)?;
        let instances = provider.list_instances()?;
        let ssh = loaded.ssh_options()?;
        let control_dir = ssh.control_dir.display().to_string();
        let mut deployment = RemoteDeployment::prepare(
            ssh,
            &instances,
            Options {
                run_id: "update-bench".into(),
                consensus_ports: Vec::new(),
                metrics_ports: Vec::new(),
                port_ranges: loaded.common.ports.ranges(),
                working_directories: loaded.testbed.working_directories(),
                scrape_through_ssh: false,
                skip_update: false,
                skip_configure: true,
            },
        )?;
        let (mut compress, mut transfer, mut total, mut second) = (vec![], vec![], vec![], 0);
        let (mut cpu_local, mut cpu_hosts) = (vec![], vec![]);
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
            let (local_before, hosts_before) = cpu_split(&control_dir, &sshd_pids);
            let started = Instant::now();
            let archive = upload::compressed(&binary, &cache)?;
            let compressed = started.elapsed().as_secs_f64();
            deployment.install(&build)?;
            let done = started.elapsed().as_secs_f64();
            let (local_after, hosts_after) = cpu_split(&control_dir, &sshd_pids);
            cpu_local.push(local_after - local_before);
            cpu_hosts.push(hosts_after - hosts_before);
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
        let _ = std::fs::remove_dir_all(workspace::testbed_state_dir(&loaded.common.testbed_id));
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
            "{n:>5}  {:>10.3}  {:>10.3}  {update:>8.3} ({low:.3}-{high:.3}){ratio}  {:>11.2}  \
             {:>11.2}  {per_host:>10}  {second:>16}",
            median(&mut compress),
            median(&mut transfer),
            median(&mut cpu_local),
            median(&mut cpu_hosts),
        );
    }
    Ok(())
}
