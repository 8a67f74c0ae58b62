//! Hostile peers and broken configuration.

mod common;

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

use bytes::Bytes;
use common::*;
use node::{
    block::Block,
    network::Message,
    validator::{Validator, ValidatorConfig},
};

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// Whether the validator closed the connection (EOF or reset) within a few seconds.
fn closed(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
}

async fn metrics_text(address: std::net::SocketAddr) -> String {
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(address).expect("connect to metrics");
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .expect("send");
        let mut text = String::new();
        s.read_to_string(&mut text).expect("read");
        text
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_and_bad_blocks_do_not_crash_the_validator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut configs = configs(4, dir.path(), test_parameters());
    configs[0].serve_metrics = true;
    let address = configs[0].committee.authority(0).expect("a0").address;
    let metrics_address = configs[0]
        .committee
        .authority(0)
        .expect("a0")
        .metrics_address;
    let validator = Validator::start(configs[0].clone()).await.expect("start");
    let hello = frame(&Message::Hello(1).encode());

    let attacks: Vec<Vec<u8>> = vec![
        // Oversized length prefix.
        [hello.clone(), u32::MAX.to_le_bytes().to_vec()].concat(),
        // Unknown message tag.
        [hello.clone(), frame(&[77, 1, 2, 3])].concat(),
        // No hello first.
        frame(&Message::Subscribe(0).encode()),
        // Hello from an unknown authority.
        frame(&Message::Hello(99).encode()),
    ];
    for attack in attacks {
        let mut s = tokio::task::spawn_blocking(move || {
            let mut s = TcpStream::connect(address).expect("connect");
            s.write_all(&attack).expect("send");
            s
        })
        .await
        .expect("join");
        let was_closed = tokio::task::spawn_blocking(move || closed(&mut s))
            .await
            .expect("join");
        assert!(
            was_closed,
            "the validator kept a misbehaving connection open"
        );
    }

    // A block signed with the wrong key is counted and dropped; the connection stays up.
    let wrong_key = configs[2].key.clone();
    let genesis = (0..4).map(|a| Block::genesis(a).reference()).collect();
    let forged = Block::new_signed(1, 1, 0, genesis, Bytes::new(), &wrong_key);
    let mut payload = hello.clone();
    payload.extend(frame(&Message::Block(forged.serialized().clone()).encode()));
    let mut s = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(address).expect("connect");
        s.write_all(&payload).expect("send");
        s
    })
    .await
    .expect("join");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while validator.metrics().invalid_blocks.get() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(validator.metrics().invalid_blocks.get(), 1);
    s.set_nonblocking(true).expect("nonblocking");
    let mut buf = [0u8; 1];
    assert!(
        matches!(s.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "an invalid block alone must not close the connection"
    );

    // Still alive and serving metrics with the contract's names.
    let text = metrics_text(metrics_address).await;
    for name in [
        "node_committed_transactions_total",
        "node_transaction_latency_seconds_bucket",
        "node_invalid_blocks_total 1",
        "node_committed_leaders_total{decision=\"direct-commit\"}",
        "node_benchmark_duration_seconds",
        "process_resident_memory_bytes",
        "node_rejected_transactions_total",
    ] {
        assert!(text.contains(name), "missing {name} in /metrics");
    }
    validator.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn inconsistent_configuration_is_reported_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let configs = configs(4, dir.path(), test_parameters());
    let wrong_key = ValidatorConfig {
        key: configs[1].key.clone(),
        ..configs[0].clone()
    };
    let err = Validator::start(wrong_key).await.err().expect("must fail");
    assert!(format!("{err:#}").contains("does not match"), "{err:#}");
    let out_of_range = ValidatorConfig {
        authority: 7,
        ..configs[0].clone()
    };
    let err = Validator::start(out_of_range)
        .await
        .err()
        .expect("must fail");
    assert!(format!("{err:#}").contains("out of range"), "{err:#}");
    // More leaders per round than validators: one authority would lead two slots.
    let mut too_many_leaders = configs[0].clone();
    too_many_leaders.parameters.leaders_per_round = 5;
    let err = Validator::start(too_many_leaders)
        .await
        .err()
        .expect("must fail");
    assert!(format!("{err:#}").contains("leaders_per_round"), "{err:#}");
    // A transaction no block can carry would sit in the pool forever.
    let oversized = ValidatorConfig {
        transaction_size: configs[0].parameters.max_block_bytes,
        ..configs[0].clone()
    };
    let err = Validator::start(oversized).await.err().expect("must fail");
    assert!(format!("{err:#}").contains("max_block_bytes"), "{err:#}");
}
