//! The round trip between every pair of hosts, measured from each host before the first
//! point: each host times [`PROBES`] TCP connects to every peer's SSH port (bash's
//! `/dev/tcp`, timed with `$EPOCHREALTIME` inside the probing shell, so neither SSH nor a
//! process start is counted), all peers at once, each probe bounded by [`PROBE_TIMEOUT_S`];
//! the hosts probe in parallel over their open SSH connections. A TCP connect returns after
//! one round trip (SYN, SYN-ACK).

use std::time::Duration;

use anyhow::Result;

use crate::{
    ssh::{process::Io, shell::quote, SshClient},
    testbed::Instance,
};

/// One host's round trips (ms): per peer index, one entry per probe (`None`: unanswered).
pub type Samples = Vec<Vec<Option<f64>>>;

/// Connects timed per pair of hosts.
pub const PROBES: usize = 3;

/// Longest wait for one connect (seconds).
pub const PROBE_TIMEOUT_S: u64 = 2;

/// A peer to probe: its index among the hosts, the address peers reach it at and a port
/// that answers there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub index: usize,
    pub address: String,
    pub port: u16,
}

/// The shell command probing `targets` from one host: one line `INDEX T0 T1` per answered
/// probe (seconds, as `$EPOCHREALTIME` says them) and `INDEX -` per unanswered one.
pub fn command(targets: &[Target]) -> String {
    let probe = "t0=$EPOCHREALTIME; exec 3<>/dev/tcp/$1/$2 && t1=$EPOCHREALTIME && \
                 echo \"$0 $t0 $t1\"";
    let loops: Vec<String> = targets
        .iter()
        .map(|t| {
            format!(
                "{{ for _ in {probes}; do timeout {PROBE_TIMEOUT_S} bash -c {probe} {i} {a} {p} \
                 2>/dev/null || echo '{i} -'; done; }} &",
                probes = (1..=PROBES)
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                probe = quote(probe),
                i = t.index,
                a = quote(&t.address),
                p = t.port,
            )
        })
        .collect();
    format!("{} wait", loops.join(" "))
}

/// The round trips (ms) per peer index from the probing command's output; `None` for a probe
/// that did not answer or whose times cannot be read.
pub fn parse(output: &str, hosts: usize) -> Samples {
    let mut samples = vec![Vec::new(); hosts];
    for line in output.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(index) = fields.first().and_then(|i| i.parse::<usize>().ok()) else {
            continue;
        };
        let Some(slot) = samples.get_mut(index) else {
            continue;
        };
        // Some locales write the decimal separator as a comma.
        let time = |s: &&str| s.replace(',', ".").parse::<f64>().ok();
        let rtt = match fields[1..] {
            [t0, t1] => time(&t0)
                .zip(time(&t1))
                .map(|(a, b)| (b - a) * 1e3)
                .filter(|ms| ms.is_finite() && *ms >= 0.0),
            _ => None,
        };
        slot.push(rtt);
    }
    samples
}

/// Probes `targets` from every host of `hosts` in parallel: per host, the samples per peer
/// index (its own index stays empty), or why it could not probe.
pub fn measure(ssh: &SshClient, hosts: &[Instance], targets: &[Target]) -> Vec<Result<Samples>> {
    let bound = Duration::from_secs(PROBES as u64 * PROBE_TIMEOUT_S + 20);
    eprintln!(
        "measuring the round trips between {} hosts ({PROBES} probes per pair)...",
        hosts.len()
    );
    ssh.results(hosts, |host| {
        let index = hosts.iter().position(|h| h.id == host.id);
        let peers: Vec<Target> = targets
            .iter()
            .filter(|t| Some(t.index) != index)
            .cloned()
            .collect();
        let output = ssh.exec(host, &command(&peers), Io::default(), bound)?;
        Ok(parse(&output.stdout, targets.len()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_silences_are_read_per_peer() {
        let output = "1 100.000100 100.000350\n2 -\n1 5,000000 5,000200\nnoise\n7 1 2\n2 9 8\n";
        let samples = parse(output, 3);
        assert!(samples[0].is_empty());
        let ms: Vec<Option<f64>> = samples[1]
            .iter()
            .map(|s| s.map(|v| (v * 1000.0).round() / 1000.0))
            .collect();
        assert_eq!(ms, vec![Some(0.25), Some(0.2)]);
        assert_eq!(
            samples[2],
            vec![None, None],
            "no answer, and time running backwards"
        );
    }

    #[test]
    fn the_command_probes_every_peer_in_parallel_bounded() {
        let text = command(&[
            Target {
                index: 1,
                address: "10.0.0.2".into(),
                port: 22,
            },
            Target {
                index: 2,
                address: "10.0.0.3".into(),
                port: 2202,
            },
        ]);
        assert!(text.contains("timeout 2 bash -c"), "{text}");
        assert!(
            text.contains(" 1 10.0.0.2 22 ") && text.contains(" 2 10.0.0.3 2202 "),
            "{text}"
        );
        assert_eq!(text.matches("} &").count(), 2, "{text}");
        assert!(text.ends_with("wait"), "{text}");
    }
}
