//! A flood of unauthenticated connections: memory stays bounded, what gets logged stays
//! small, and the validators keep committing.

mod common;

use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use common::*;
use node::{metrics::Metrics, network::max_handshakes};
use tokio::{io::AsyncWriteExt, net::TcpStream};

/// Log output of the whole test binary.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// Resident memory of this process (all validators and the flood), in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

fn refused(m: &Metrics, reason: &str) -> u64 {
    m.connections_refused.with_label_values(&[reason]).get()
}

/// Waits (at most `limit`) until `done` holds.
async fn eventually(limit: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() {
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    true
}

/// Connections that send a frame header announcing 1 MiB, then 256 KiB of it.
const PARTIAL_FRAMES: usize = 300;
/// Connections that send a whole 1 MiB frame (a first frame that is not a hello).
const WHOLE_FRAMES: usize = 20;
/// Connections that send nothing and hold a handshake slot.
const SILENT: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unauthenticated_connections_leaves_memory_bounded_and_commits_going() {
    let log = Captured::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let dir = tempfile::tempdir().expect("tempdir");
    let mut parameters = test_parameters();
    parameters.handshake_timeout_ms = 3_000;
    let configs = configs(4, dir.path(), parameters);
    let address = configs[0].committee.authority(0).expect("a0").address;
    let validators = start_all(configs).await;
    let refs: Vec<_> = validators.iter().collect();
    wait_until(
        &refs,
        Duration::from_secs(60),
        "every validator committed 5 leaders before the flood",
        |l| l.iter().all(|c| c.len() >= 5),
    )
    .await;
    let before = resident_bytes();
    let victim = validators[0].metrics().clone();

    // Partial 1 MiB frames, all connections held open at once.
    let mut held = Vec::new();
    let mut header = (1u32 << 20).to_le_bytes().to_vec();
    header.push(1);
    let chunk = vec![b'x'; (256 << 10) - 1];
    let mut peak = before;
    // Whole 1 MiB first frames: each would be a megabyte of warning if quoted.
    let whole = [header.clone(), vec![b'x'; (1 << 20) - 1]].concat();
    let partial = [header.clone(), chunk].concat();
    for i in 0..PARTIAL_FRAMES + WHOLE_FRAMES {
        let mut s = TcpStream::connect(address).await.expect("connect");
        let bytes = if i < PARTIAL_FRAMES { &partial } else { &whole };
        let _ = s.write_all(bytes).await;
        held.push(s);
        // The header alone is refused: no slot is held until the frame would be complete.
        assert!(
            eventually(Duration::from_secs(5), || refused(&victim, "malformed")
                > i as u64)
            .await,
            "connection {i}, a 1 MiB first frame, was not refused on its header"
        );
        peak = peak.max(resident_bytes());
    }
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        peak = peak.max(resident_bytes());
    }
    let growth = peak.saturating_sub(before);
    assert!(
        growth < 32 << 20,
        "resident memory grew by {} MiB during the flood",
        growth >> 20
    );
    drop(held);

    // Silent connections: at most max_handshakes(4) wait in their handshake, the rest are
    // closed at once, and those waiting are closed at the handshake timeout.
    let slots = max_handshakes(4);
    let mut silent = Vec::new();
    for _ in 0..SILENT {
        silent.push(TcpStream::connect(address).await.expect("connect"));
        assert!(victim.unauthenticated_connections.get() <= slots as i64);
    }
    let limited = (SILENT - slots) as u64;
    assert!(
        eventually(Duration::from_secs(10), || refused(&victim, "limit")
            >= limited)
        .await,
        "{} of {SILENT} silent connections refused at the limit, expected {limited}",
        refused(&victim, "limit")
    );
    let commits_during: Vec<usize> = validators.iter().map(|v| v.commits().len()).collect();
    let refs: Vec<_> = validators.iter().collect();
    wait_until(
        &refs,
        Duration::from_secs(60),
        "every validator committed 10 more leaders while validator 0's handshake slots were full",
        |l| {
            l.iter()
                .zip(&commits_during)
                .all(|(c, d)| c.len() >= d + 10)
        },
    )
    .await;
    assert!(
        eventually(Duration::from_secs(20), || refused(&victim, "timeout")
            >= slots as u64)
        .await,
        "silent connections were not closed at the handshake timeout"
    );
    assert_eq!(victim.unauthenticated_connections.get(), 0);
    drop(silent);

    // Every flood connection was counted; the log stayed small.
    let flood = (PARTIAL_FRAMES + WHOLE_FRAMES + SILENT) as u64;
    let counted: u64 = ["malformed", "limit", "timeout", "closed"]
        .iter()
        .map(|r| refused(&victim, r))
        .sum();
    assert!(
        counted >= flood,
        "{counted} of {flood} refused connections counted"
    );
    let text = log.text();
    let lines = text.lines().count() as u64;
    let longest = text.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 1024, "a log line of {longest} bytes");
    assert!(
        lines < flood / 2,
        "{lines} log lines for {flood} refused connections: not rate-limited"
    );
    shutdown_all(validators).await;
}
