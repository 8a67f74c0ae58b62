//! Serving catch-up outside the core, bounded per peer: a member that asks for far more old
//! blocks than it reads gets some of them, the rest of its requests are dropped and counted,
//! and real-time messages to it are never crowded out.

mod common;
mod member;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use common::*;
use member::*;
use node::{
    block::{Block, BlockRef},
    network::Message,
    validator::Validator,
};
use tokio::net::TcpListener;

/// Requests sent in one burst, each for 240 blocks pruned from memory.
const REQUESTS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_greedy_member_gets_bounded_catch_up_and_no_real_time_message_is_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut parameters = test_parameters();
    parameters.retention_rounds = 6;
    let configs = configs(4, dir.path(), parameters);
    let committee = configs[0].committee.clone();
    let address = |i| committee.authority(i).expect("member").address;
    // Member 3 is played by the test.
    let listener = TcpListener::bind(address(3)).await.expect("bind member 3");
    let mut validators = Vec::new();
    for c in &configs[..3] {
        validators.push(Validator::start(c.clone()).await.expect("start"));
    }
    let member3 = identity(&committee, 3, &configs[3].key);
    let inbound = loop {
        let (peer, c) = accept(&listener, &member3).await;
        if peer == 0 {
            break c;
        }
    };

    // Read validator 0's own blocks until round 40, then stop reading: what it sends to
    // member 3 from then on piles up in the socket buffers and its queues.
    let own: Arc<Mutex<BTreeMap<u64, BlockRef>>> = Arc::default();
    let seen = own.clone();
    let reader = tokio::spawn(async move {
        let mut inbound = inbound;
        while let Some(message) = inbound.next().await {
            if let Some(bytes) = block_bytes(&message) {
                let r = Block::parse(bytes).expect("block").reference();
                if r.author == 0 {
                    let mut seen = seen.lock().expect("lock");
                    seen.insert(r.round, r);
                    if r.round >= 40 {
                        break;
                    }
                }
            }
        }
        inbound
    });
    let inbound = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("validator 0 reached round 40 within 60 s")
        .expect("reader");
    let old: Vec<BlockRef> = own
        .lock()
        .expect("lock")
        .range(1..=20)
        .map(|(_, r)| *r)
        .collect();
    assert!(
        !old.is_empty(),
        "no block of validator 0's first rounds seen"
    );
    let wanted: Vec<BlockRef> = old.iter().cycle().take(240).copied().collect();

    let v0 = validators[0].metrics().clone();
    let dropped_before = v0.dropped_messages.get();
    let mut c = dial(&member3, 0, address(0)).await.expect("member 3 dials");
    for _ in 0..REQUESTS {
        c.send(Message::Request(wanted.clone()))
            .await
            .expect("send");
    }
    // Each request past the few that fit in member 3's catch-up queue is dropped.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while v0.catch_up_dropped.get() < (REQUESTS / 2) as u64 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {REQUESTS} catch-up requests dropped: catch-up is not bounded per peer",
            v0.catch_up_dropped.get()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        v0.dropped_messages.get(),
        dropped_before,
        "catch-up crowded real-time messages out of member 3's queue"
    );

    // Once member 3 reads again it gets the old blocks, read from validator 0's WAL.
    let mut inbound = inbound;
    let first_old = old[0];
    let served = loop {
        let Some(message) = inbound.next().await else {
            break false;
        };
        if let Some(bytes) = block_bytes(&message) {
            if Block::parse(bytes).expect("block").reference() == first_old {
                break true;
            }
        }
    };
    assert!(served, "no old block served from the WAL");
    let refs: Vec<_> = validators.iter().collect();
    let during: Vec<usize> = validators.iter().map(|v| v.commits().len()).collect();
    wait_until(
        &refs,
        Duration::from_secs(60),
        "the three validators committed 10 more leaders",
        |l| l.iter().zip(&during).all(|(c, d)| c.len() >= d + 10),
    )
    .await;
    shutdown_all(validators).await;
}
