//! A stranger floods a validator's metrics port with idle connections, more than its
//! open-files limit allows (the validator starts with a lower soft limit and raises it to
//! the hard one), and keeps reopening those closed: the validator refuses the extra ones,
//! keeps the descriptors its peers and its WAL need, and keeps committing.

mod process;

use std::{
    io::{ErrorKind, Read},
    net::{SocketAddr, TcpStream},
    time::{Duration, Instant},
};

use node::metrics::MAX_CONNECTIONS;
use process::*;

/// The victim's open-files limit: it starts with a lower soft limit and raises it to this,
/// the hard limit.
const OPEN_FILES: u64 = 256;
const SOFT_AT_START: u64 = 128;
/// Idle connections the flood holds open at once: more than the victim's limit.
const FLOOD: usize = 300;
/// How long the flood lasts...
const FLOOD_TIME: Duration = Duration::from_secs(20);
/// ...and how many connections it opens at most.
const MAX_CONNECTS: usize = 3_000;
/// Leaders the others must commit during the flood (they need the victim's blocks).
const COMMITS_DURING: f64 = 10.0;

/// Whether the server closed `s` (non-blocking read: end of stream or an error).
fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 512];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    }
}

fn connect(address: SocketAddr) -> Option<TcpStream> {
    let s = TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
    s.set_nonblocking(true).ok()?;
    Some(s)
}

/// What the flood saw.
struct Flood {
    connects: usize,
    closed: usize,
    most_open_descriptors: usize,
}

/// Holds `FLOOD` idle connections to `address` for `FLOOD_TIME` (or `MAX_CONNECTS`
/// connections), reopening every one the server closes; samples the victim's descriptors.
fn flood(address: SocketAddr, victim: &NodeProcess) -> Flood {
    let start = Instant::now();
    let mut held: Vec<TcpStream> = Vec::new();
    let mut seen = Flood {
        connects: 0,
        closed: 0,
        most_open_descriptors: 0,
    };
    while start.elapsed() < FLOOD_TIME && seen.connects < MAX_CONNECTS {
        let before = held.len();
        held.retain_mut(|s| !closed_by_server(s));
        seen.closed += before - held.len();
        while held.len() < FLOOD && seen.connects < MAX_CONNECTS {
            seen.connects += 1;
            match connect(address) {
                Some(s) => held.push(s),
                None => break,
            }
        }
        seen.most_open_descriptors = seen.most_open_descriptors.max(victim.open_descriptors());
        std::thread::sleep(Duration::from_millis(100));
    }
    seen
}

fn commit_index(address: SocketAddr) -> f64 {
    scrape(address)
        .and_then(|t| sample(&t, "node_commit_index"))
        .unwrap_or(0.0)
}

#[test]
fn a_flood_of_idle_metrics_connections_is_refused_and_the_validator_keeps_committing() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Small WAL segments: the victim creates new ones throughout the flood.
    let genesis = Genesis::new(
        dir.path(),
        4,
        serde_json::json!({
            "leader_timeout_ms": 300,
            "min_round_delay_ms": 20,
            "missing_retry_ms": 200,
            "wal_segment_bytes": 64 << 10,
        }),
    );
    // Validators 0 (the victim), 1 and 2 of 4: every commit needs the victim's blocks.
    let run = |i: usize, open_files| {
        Run {
            genesis: &genesis,
            authority: i,
            storage: dir.path().join(format!("storage-{i}")),
            committee: None,
            load: 200,
            open_files,
            log: dir.path().join(format!("validator-{i}.log")),
        }
        .start()
    };
    let mut victim = run(0, Some((SOFT_AT_START, OPEN_FILES)));
    let _others = [run(1, None), run(2, None)];
    let observer = genesis.metrics_address(1);
    assert!(
        wait_for_sample(observer, "node_commit_index", 5.0, Duration::from_secs(120)),
        "no commits before the flood; victim's log: {}",
        victim.log()
    );
    let before = commit_index(observer);

    let seen = flood(genesis.metrics_address(0), &victim);
    let during = commit_index(observer);
    eprintln!(
        "flood: {} connections opened, {} closed by the victim, at most {} descriptors open \
         in the victim, {} leaders committed meanwhile",
        seen.connects,
        seen.closed,
        seen.most_open_descriptors,
        during - before
    );
    let victim_log = victim.log();
    assert!(
        victim.exited().is_none(),
        "the victim stopped during the flood: {victim_log}"
    );
    assert!(
        during >= before + COMMITS_DURING,
        "{} leaders committed during the flood (from {before}), expected {COMMITS_DURING}; \
         victim's log: {victim_log}",
        during - before
    );
    assert!(
        seen.most_open_descriptors < OPEN_FILES as usize,
        "the victim had {} descriptors open",
        seen.most_open_descriptors
    );
    assert!(
        seen.closed >= FLOOD - MAX_CONNECTIONS,
        "the victim closed {} of {} flood connections",
        seen.closed,
        seen.connects
    );

    // Once the flood is over the victim answers, and counted what it refused.
    let text = (0..50)
        .find_map(|_| {
            scrape(genesis.metrics_address(0)).or_else(|| {
                std::thread::sleep(Duration::from_millis(200));
                None
            })
        })
        .expect("the victim's /metrics after the flood");
    let refused = sample(
        &text,
        "node_metrics_connections_closed_total{reason=\"limit\"}",
    )
    .unwrap_or(0.0);
    assert!(
        refused >= (FLOOD - MAX_CONNECTIONS) as f64,
        "{refused} flood connections refused at the limit"
    );
    assert!(sample(&text, "node_commit_index").unwrap_or(0.0) >= before + COMMITS_DURING);
    assert_eq!(sample(&text, "process_max_fds"), Some(OPEN_FILES as f64));
    let raised = format!("open-files limit raised from {SOFT_AT_START} to {OPEN_FILES}");
    assert!(victim.log().contains(&raised), "{}", victim.log());
    assert!(
        victim.stop().is_some_and(|s| s.success()),
        "{}",
        victim.log()
    );
}
