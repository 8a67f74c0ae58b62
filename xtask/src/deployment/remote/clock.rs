//! Clock offsets between this machine and the hosts. Latency is measured from a timestamp
//! written by the submitting validator to the commit seen by another, so the hosts' clocks
//! must agree to better than the latencies reported.

use std::{
    io::{BufRead, BufReader, Write},
    process::Child,
    sync::mpsc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::{ssh::SshClient, testbed::Instance};

/// Hosts whose clocks differ by more than this make latency figures suspect.
pub const WARN_MS: f64 = 10.0;

/// Samples taken per host; the one with the shortest round trip is kept.
const SAMPLES: usize = 8;

/// Longest wait for one answer of the host.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// A host's clock compared with this machine's.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Offset {
    /// Host clock minus local clock, in milliseconds.
    pub offset_ms: f64,
    /// Half the round trip of the best sample: the offset is known to within this.
    pub uncertainty_ms: f64,
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The offset from one sample: the host's time `remote_s` read between `before_s` and
/// `after_s` here.
pub fn from_sample(before_s: f64, remote_s: f64, after_s: f64) -> Offset {
    let middle = (before_s + after_s) / 2.0;
    Offset {
        offset_ms: (remote_s - middle) * 1e3,
        uncertainty_ms: (after_s - before_s) / 2.0 * 1e3,
    }
}

/// Measures `host`'s clock offset over its (open) SSH connection: one remote shell answers
/// each line sent with `date +%s.%N`, so the samples do not include starting a session.
pub fn measure(ssh: &SshClient, host: &Instance) -> Result<Offset> {
    let mut child = ssh.session(host, "while read -r _; do date +%s.%N; done")?;
    let result = ping_pong(&mut child);
    drop(child.stdin.take());
    // The remote loop ends with its input; make sure the local client goes too.
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn ping_pong(child: &mut Child) -> Result<Offset> {
    let stdout = child.stdout.take().context("no output pipe")?;
    let (sender, answers) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let stdin = child.stdin.as_mut().context("no input pipe")?;
    let mut best: Option<Offset> = None;
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let before = now_s();
        stdin
            .write_all(b"t\n")
            .and_then(|()| stdin.flush())
            .context("the clock probe's session closed")?;
        let line = answers
            .recv_timeout(ANSWER_TIMEOUT)
            .context("the host did not answer the clock probe")?
            .context("cannot read the clock probe's answer")?;
        let after = before + started.elapsed().as_secs_f64();
        let text = line.trim();
        let remote: f64 = text.parse().with_context(|| {
            format!("the host's `date +%s.%N` printed {text:?}, not seconds with a fraction")
        })?;
        let sample = from_sample(before, remote, after);
        if best.is_none_or(|b| sample.uncertainty_ms < b.uncertainty_ms) {
            best = Some(sample);
        }
    }
    best.context("no clock sample")
}

/// A warning when the hosts' clocks differ by more than [`WARN_MS`] (beyond what the
/// measurement can tell apart), naming the two hosts furthest apart.
pub fn spread_warning(offsets: &[(String, Offset)]) -> Option<String> {
    let low = offsets
        .iter()
        .min_by(|a, b| a.1.offset_ms.total_cmp(&b.1.offset_ms))?;
    let high = offsets
        .iter()
        .max_by(|a, b| a.1.offset_ms.total_cmp(&b.1.offset_ms))?;
    let spread = high.1.offset_ms - low.1.offset_ms;
    let slack = high.1.uncertainty_ms + low.1.uncertainty_ms;
    (spread - slack > WARN_MS).then(|| {
        format!(
            "the clocks of {} and {} differ by {spread:.1} ms (± {slack:.1} ms): latency \
             between validators on different hosts is off by up to that much; synchronise the \
             hosts' clocks (chrony or systemd-timesyncd) for latency figures to be trusted",
            low.0, high.0
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_is_taken_at_the_middle_of_the_round_trip() {
        let o = from_sample(100.0, 100.5, 100.2);
        assert!((o.offset_ms - 400.0).abs() < 1e-6, "{o:?}");
        assert!((o.uncertainty_ms - 100.0).abs() < 1e-6, "{o:?}");
    }

    #[test]
    fn only_a_spread_beyond_the_threshold_and_the_uncertainty_warns() {
        let at = |ms: f64, uncertainty_ms: f64| Offset {
            offset_ms: ms,
            uncertainty_ms,
        };
        let close = vec![("a".to_string(), at(1.0, 0.5)), ("b".into(), at(-2.0, 0.5))];
        assert_eq!(spread_warning(&close), None);
        let far = vec![
            ("a".to_string(), at(1.0, 0.5)),
            ("b".into(), at(40.0, 0.5)),
            ("c".into(), at(-3.0, 0.5)),
        ];
        let warning = spread_warning(&far).expect("warns");
        assert!(
            warning.contains("c and b") && warning.contains("43.0 ms"),
            "{warning}"
        );
        // Too uncertain to tell: no warning.
        let vague = vec![
            ("a".to_string(), at(0.0, 10.0)),
            ("b".into(), at(15.0, 10.0)),
        ];
        assert_eq!(spread_warning(&vague), None);
    }
}
