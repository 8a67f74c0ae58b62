//! Hostile peers and broken configuration.

mod common;
mod member;

use std::{
    io::{Read, Write},
    net::TcpStream,
};

use bytes::Bytes;
use common::*;
use member::*;
use node::{
    block::{Block, BlockRef},
    network::{Message, COOL_DOWN},
    validator::{Validator, ValidatorConfig},
};
use tokio::{io::AsyncWriteExt, net::TcpListener};

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

/// Reads `connection` until the block `wanted` arrives, within 20 s (pings and other blocks
/// are skipped).
async fn receive(connection: &mut Connection, wanted: BlockRef, what: &str) {
    let wait = async {
        while let Some(message) = connection.next().await {
            if block_bytes(&message)
                .is_some_and(|b| Block::parse(b).expect("block").reference() == wanted)
            {
                return true;
            }
        }
        false
    };
    let received = tokio::time::timeout(std::time::Duration::from_secs(20), wait).await;
    assert!(received.unwrap_or(false), "{what} within 20 s");
}

/// Validator 0 of 5 alone (it proposes its round-1 block and waits). Members 1 to 3 misbehave;
/// member 4 stays honest and is still answered after the attacks, and member 3 is heard
/// again once its cool-down is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_and_bad_blocks_do_not_crash_the_validator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut configs = configs(5, dir.path(), test_parameters());
    configs[0].serve_metrics = true;
    let committee = configs[0].committee.clone();
    let address = committee.authority(0).expect("a0").address;
    let metrics_address = committee.authority(0).expect("a0").metrics_address;
    let member_address = |i| committee.authority(i).expect("member").address;
    // Validator 0 dials members 3 and 4: what it sends them arrives here.
    let listener3 = TcpListener::bind(member_address(3))
        .await
        .expect("bind member 3");
    let listener4 = TcpListener::bind(member_address(4))
        .await
        .expect("bind member 4");
    let validator = Validator::start(configs[0].clone()).await.expect("start");
    let member = |i: usize| identity(&committee, i as u32, &configs[i].key);
    let genesis: Vec<BlockRef> = (0..5).map(|a| Block::genesis(a).reference()).collect();

    // The honest member 4: validator 0's round-1 block reaches it, and it dials in.
    let (_, mut to_honest) = accept(&listener4, &member(4)).await;
    let own = loop {
        match to_honest.next().await.expect("validator 0's first block") {
            Message::Block(b) => break Block::parse(b).expect("block").reference(),
            _ => continue,
        }
    };
    let mut from_honest = dial(&member(4), 0, address).await.expect("member 4 dials");
    let (_, mut to_three) = accept(&listener3, &member(3)).await;

    // Before authentication: oversized first frames, no hello, an unknown member.
    let attacks: Vec<Vec<u8>> = vec![
        u32::MAX.to_le_bytes().to_vec(),
        frame(&[vec![1u8], vec![b'x'; 1 << 20]].concat()),
        frame(&Message::Subscribe(0).encode()),
        frame(
            &Message::Hello {
                from: 99,
                to: 0,
                nonce: [0; 32],
            }
            .encode(),
        ),
    ];
    for attack in attacks {
        let mut c = raw(address).await;
        let _ = c.writer.write_all(&attack).await;
        assert!(
            c.closed().await,
            "the validator kept a misbehaving connection open"
        );
    }
    assert_eq!(
        validator
            .metrics()
            .connections_refused
            .with_label_values(&["malformed"])
            .get(),
        4
    );

    // Authenticated members that send an oversized length prefix or an unknown tag are
    // cut off.
    for (i, attack) in [
        (1, u32::MAX.to_le_bytes().to_vec()),
        (2, frame(&[77, 1, 2, 3])),
    ] {
        let mut c = dial(&member(i), 0, address).await.expect("dial");
        c.writer.write_all(&attack).await.expect("send");
        assert!(c.closed().await, "member {i} was not cut off");
    }

    // A block signed with the wrong key is counted; its sender is cut off and may not
    // reconnect at once.
    let wrong_key = configs[2].key.clone();
    let forged = Block::new_signed(1, 3, 0, genesis.clone(), Bytes::new(), &wrong_key);
    let mut c = dial(&member(3), 0, address).await.expect("dial");
    c.send(Message::Block(forged.serialized().clone()))
        .await
        .expect("send");
    assert!(
        c.closed().await,
        "a sender of an invalid block was not cut off"
    );
    assert_eq!(validator.metrics().invalid_blocks.get(), 1);
    let disconnects = |reason: &str| {
        validator
            .metrics()
            .peer_disconnects
            .with_label_values(&[reason])
            .get()
    };
    assert_eq!(disconnects("invalid-block"), 1);
    assert_eq!(disconnects("malformed"), 2);
    assert!(
        dial(&member(3), 0, address).await.is_err(),
        "a member cut off for an invalid block reconnected at once"
    );
    assert_eq!(
        validator
            .metrics()
            .connections_refused
            .with_label_values(&["cooling-down"])
            .get(),
        1
    );

    // Later, the honest member's connection is still open and its request is answered.
    from_honest
        .send(Message::Request(vec![own]))
        .await
        .expect("member 4 asks again");
    receive(
        &mut to_honest,
        own,
        "the honest member 4 was not answered after the attacks",
    )
    .await;

    // Member 3 is let back once its cool-down is over (waited for, bounded), and a valid
    // block it sends then is accepted: it is served when member 3 asks for it.
    let deadline = tokio::time::Instant::now() + 3 * COOL_DOWN;
    let mut back = loop {
        match dial(&member(3), 0, address).await {
            Ok(c) => break c,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "member 3 was still refused {} s after its cool-down began: {e}",
                    (3 * COOL_DOWN).as_secs()
                );
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    };
    let honest = Block::new_signed(3, 1, 0, genesis, Bytes::new(), &configs[3].key);
    back.send(Message::Block(honest.serialized().clone()))
        .await
        .expect("member 3 sends a valid block");
    back.send(Message::Request(vec![honest.reference()]))
        .await
        .expect("member 3 asks for it");
    receive(
        &mut to_three,
        honest.reference(),
        "member 3's valid block after its cool-down was not accepted",
    )
    .await;
    assert_eq!(validator.metrics().invalid_blocks.get(), 1);

    // Still alive and serving metrics with the contract's names.
    let text = metrics_text(metrics_address).await;
    for name in [
        "node_committed_transactions_total",
        "node_transaction_latency_seconds_bucket",
        "node_invalid_blocks_total 1",
        "node_connections_refused_total{reason=\"malformed\"} 4",
        "node_peer_disconnects_total{reason=\"invalid-block\"} 1",
        "node_unauthenticated_connections 0",
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
