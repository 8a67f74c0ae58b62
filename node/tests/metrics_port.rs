//! What a stranger can make the metrics port cost: idle connections beyond the cap are
//! refused, slow-loris headers and idle connections are closed at the header timeout, huge
//! headers are answered 431, and many concurrent scrapes share one encoding of the registry
//! per interval.

mod common;

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use common::*;
use node::{
    metrics::{Metrics, HEADER_TIMEOUT, MAX_CONNECTIONS, MAX_HEADER_BYTES, RENDER_INTERVAL},
    validator::Validator,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Validator 0 of 4, alone, serving `/metrics`; its metrics address.
async fn lone_validator(dir: &std::path::Path) -> (Validator, SocketAddr) {
    let mut configs = configs(4, dir, test_parameters());
    configs[0].serve_metrics = true;
    configs[0].load = 0;
    let address = configs[0]
        .committee
        .authority(0)
        .expect("a0")
        .metrics_address;
    let validator = Validator::start(configs[0].clone()).await.expect("start");
    (validator, address)
}

fn closed(m: &Metrics, reason: &str) -> u64 {
    m.metrics_connections_closed
        .with_label_values(&[reason])
        .get()
}

/// Waits (at most `limit`) until `done` holds.
async fn eventually(limit: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() {
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// Sends `request` on a new connection and reads the answer to its end (at most 20 s);
/// empty if the connection was closed without one.
async fn exchange(address: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(address).await.expect("connect");
    let _ = s.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

const SCRAPE: &[u8] = b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";

/// Whether the server closes `s` within `limit` (what it sends first is read and ignored).
async fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_beyond_the_cap_are_refused_and_the_rest_time_out() {
    const EXTRA: usize = 40;
    let dir = tempfile::tempdir().expect("tempdir");
    let (validator, address) = lone_validator(dir.path()).await;
    let metrics = validator.metrics().clone();
    let mut idle = Vec::new();
    for _ in 0..MAX_CONNECTIONS + EXTRA {
        idle.push(TcpStream::connect(address).await.expect("connect"));
    }
    assert!(
        eventually(Duration::from_secs(20), || closed(&metrics, "limit")
            >= EXTRA as u64)
        .await,
        "{} of {EXTRA} connections beyond the cap of {MAX_CONNECTIONS} refused",
        closed(&metrics, "limit")
    );
    assert!(metrics.metrics_connections.get() <= MAX_CONNECTIONS as i64);
    // Every connection is closed: the extra ones at once, the others at the header timeout.
    let limit = 4 * HEADER_TIMEOUT;
    for (i, s) in idle.iter_mut().enumerate() {
        assert!(
            closed_within(s, limit).await,
            "idle connection {i} still open after {limit:?}"
        );
    }
    assert!(closed(&metrics, "timeout") >= MAX_CONNECTIONS as u64);
    assert!(
        eventually(Duration::from_secs(10), || metrics
            .metrics_connections
            .get()
            == 0)
        .await
    );
    let answer = exchange(address, SCRAPE).await;
    assert!(answer.contains("node_metrics_connections_closed_total{reason=\"limit\"}"));
    validator.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_headers_are_cut_off_at_the_header_timeout() {
    /// Each connection sends its header a byte every 250 ms, 80 bytes at most (20 s, four
    /// header timeouts).
    const BYTES: usize = 80;
    let dir = tempfile::tempdir().expect("tempdir");
    let (validator, address) = lone_validator(dir.path()).await;
    let metrics = validator.metrics().clone();
    let loris = (0..MAX_CONNECTIONS).map(|_| {
        tokio::spawn(async move {
            let mut s = TcpStream::connect(address).await.expect("connect");
            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ").await;
            for sent in 0..BYTES {
                if s.write_all(b"x").await.is_err()
                    || closed_within(&mut s, Duration::from_millis(250)).await
                {
                    return Some(sent);
                }
            }
            None
        })
    });
    let cut: Vec<Option<usize>> = futures_util::future::join_all(loris)
        .await
        .into_iter()
        .map(|r| r.expect("join"))
        .collect();
    assert!(
        cut.iter().all(Option::is_some),
        "slow-loris connections still open after {BYTES} bytes over 20 s: {cut:?}"
    );
    assert!(
        closed(&metrics, "timeout") >= MAX_CONNECTIONS as u64,
        "{} closed for the header timeout",
        closed(&metrics, "timeout")
    );
    // Their slots are free again.
    let answer = exchange(address, SCRAPE).await;
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    validator.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_headers_are_refused_with_431() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (validator, address) = lone_validator(dir.path()).await;
    let metrics = validator.metrics().clone();
    let with_header = |value: &str| {
        format!("GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Big: {value}\r\n\r\n")
    };

    // The answer is 431, unless the close (with the rest of the request unread) resets the
    // connection before the client reads it.
    let refused = |answer: &str| answer.is_empty() || answer.starts_with("HTTP/1.1 431");
    let big = "a".repeat(64 << 10);
    let answer = exchange(address, with_header(&big).as_bytes()).await;
    assert!(refused(&answer), "a 64 KiB header: {answer:.200}");

    let many: String = (0..40).map(|i| format!("X-Field-{i}: 1\r\n")).collect();
    let request = format!("GET /metrics HTTP/1.1\r\nHost: localhost\r\n{many}\r\n");
    let answer = exchange(address, request.as_bytes()).await;
    assert!(refused(&answer), "40 header fields: {answer:.200}");
    assert!(
        eventually(Duration::from_secs(10), || closed(&metrics, "too-large")
            == 2)
        .await,
        "{} connections closed for a header over the limit, expected 2",
        closed(&metrics, "too-large")
    );

    // A header well inside the limit is answered.
    let fits = "a".repeat(MAX_HEADER_BYTES / 2);
    let answer = exchange(address, with_header(&fits).as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.200}");
    validator.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_scrapes_share_one_encoding_per_interval() {
    /// Scrapers at once (twice the connection cap), each scraping this many times in a row.
    const SCRAPERS: usize = 2 * MAX_CONNECTIONS;
    const SCRAPES: usize = 10;
    let dir = tempfile::tempdir().expect("tempdir");
    let (validator, address) = lone_validator(dir.path()).await;
    let metrics: Arc<Metrics> = validator.metrics().clone();
    let renders_before = metrics.metrics_renders.get();
    let start = Instant::now();
    let scrapers = (0..SCRAPERS).map(|_| {
        tokio::spawn(async move {
            let mut served = 0;
            for _ in 0..SCRAPES {
                let answer = exchange(address, SCRAPE).await;
                if answer.starts_with("HTTP/1.0 200") {
                    assert!(answer.contains("node_current_round"), "{answer:.200}");
                    served += 1;
                }
            }
            served
        })
    });
    let served: u64 = futures_util::future::join_all(scrapers)
        .await
        .into_iter()
        .map(|r| r.expect("join"))
        .sum();
    let elapsed = start.elapsed();
    let renders = metrics.metrics_renders.get() - renders_before;
    let intervals = (elapsed.as_secs_f64() / RENDER_INTERVAL.as_secs_f64()).ceil() as u64;
    assert!(served > 0, "no scrape answered");
    assert!(
        renders <= intervals + 1,
        "{renders} encodings for {served} scrapes in {elapsed:?}: more than one per {RENDER_INTERVAL:?}"
    );
    assert!(
        renders < served,
        "{renders} encodings for {served} scrapes: none shared"
    );
    validator.shutdown().await.expect("clean shutdown");
}
