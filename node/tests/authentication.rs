//! Peer authentication: a member index is worth nothing without its committee key, and one
//! connection per member.

mod common;
mod member;

use bytes::Bytes;
use common::*;
use member::*;
use node::{
    block::{Block, BlockRef},
    network::{handshake, Message},
    validator::Validator,
};
use tokio::net::TcpListener;

fn refused(v: &Validator, reason: &str) -> u64 {
    v.metrics()
        .connections_refused
        .with_label_values(&[reason])
        .get()
}

fn disconnects(v: &Validator, reason: &str) -> u64 {
    v.metrics()
        .peer_disconnects
        .with_label_values(&[reason])
        .get()
}

/// Requests block `wanted` on `connection` and reads blocks from `inbound` up to and
/// including the reply; how many copies of `counted` came meanwhile (the reply included).
async fn request(
    connection: &mut Connection,
    wanted: BlockRef,
    inbound: &mut Connection,
    counted: BlockRef,
) -> usize {
    connection
        .send(Message::Request(vec![wanted]))
        .await
        .expect("send request");
    let mut copies = 0;
    loop {
        let message = inbound
            .next()
            .await
            .expect("the reply to member 1's request");
        let Some(bytes) = block_bytes(&message) else {
            continue;
        };
        let r = Block::parse(bytes).expect("block").reference();
        if r == counted {
            copies += 1;
        }
        if r == wanted {
            return copies;
        }
    }
}

/// Validator 0 alone (no quorum: it proposes its round-1 block and waits); the test plays
/// member 1, whose address it dials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_hellos_are_refused_and_a_spoofed_subscribe_gets_no_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut configs = configs(4, dir.path(), test_parameters());
    configs[0].load = 0;
    let committee = configs[0].committee.clone();
    let address = |i| committee.authority(i).expect("member").address;
    let listener = TcpListener::bind(address(1)).await.expect("bind member 1");
    let validator = Validator::start(configs[0].clone()).await.expect("start");
    let member1 = identity(&committee, 1, &configs[1].key);
    let (peer, mut inbound) = accept(&listener, &member1).await;
    assert_eq!(peer, 0, "validator 0 authenticated as itself");
    let own = loop {
        match inbound.next().await.expect("validator 0's first block") {
            Message::Block(b) => break Block::parse(b).expect("block").reference(),
            _ => continue,
        }
    };
    // Sent once by the broadcast; again only when member 1 asks for it.
    let mut copies_of_own = 1;

    // Member 1's index with member 3's key, then a subscription.
    let impostor = identity(&committee, 1, &configs[3].key);
    let mut c = raw(address(0)).await;
    handshake::dial(&mut c.frames, &mut c.writer, &impostor, 0)
        .await
        .expect("validator 0 proves who it is to anyone");
    c.send(Message::Subscribe(0)).await.expect("send");
    assert!(c.closed().await, "an impostor's connection stayed open");
    assert_eq!(refused(&validator, "bad-signature"), 1);

    // No hello, an unknown member, and the unauthenticated hello of old.
    for attack in [
        frame(&Message::Subscribe(0).encode()),
        frame(
            &Message::Hello {
                from: 99,
                to: 0,
                nonce: [1; 32],
            }
            .encode(),
        ),
        [
            frame(&[0, 1, 0, 0, 0]),
            frame(&Message::Subscribe(0).encode()),
        ]
        .concat(),
    ] {
        let mut c = raw(address(0)).await;
        tokio::io::AsyncWriteExt::write_all(&mut c.writer, &attack)
            .await
            .expect("send");
        assert!(
            c.closed().await,
            "a connection without a valid hello stayed open"
        );
    }
    assert_eq!(refused(&validator, "malformed"), 3);

    // The real member 1 connects twice: the second connection replaces the first (once
    // the first is served: its request is answered).
    let mut first = dial(&member1, 0, address(0)).await.expect("member 1 dials");
    copies_of_own += request(&mut first, own, &mut inbound, own).await;
    let mut second = dial(&member1, 0, address(0))
        .await
        .expect("member 1 dials again");
    assert!(
        first.closed().await,
        "the older connection of member 1 stayed open"
    );
    assert_eq!(disconnects(&validator, "replaced"), 1);

    // Sync point: a block only member 1 has, then a request for it. Its reply comes after
    // anything the spoofed subscriptions could have caused.
    let genesis: Vec<BlockRef> = (0..4).map(|a| Block::genesis(a).reference()).collect();
    let marker = Block::new_signed(1, 1, 0, genesis, Bytes::new(), &configs[1].key);
    let marker_ref = marker.reference();
    second
        .send(Message::Block(marker.serialized().clone()))
        .await
        .expect("send block");
    copies_of_own += request(&mut second, marker_ref, &mut inbound, own).await;
    assert_eq!(
        copies_of_own, 2,
        "validator 0 answered a spoofed subscription (its own block was sent again)"
    );
    assert_eq!(validator.metrics().invalid_blocks.get(), 0);
    validator.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_and_dialers_keep_theirs_alive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut parameters = test_parameters();
    parameters.idle_timeout_ms = 600;
    let mut configs = configs(4, dir.path(), parameters);
    configs[0].load = 0;
    let committee = configs[0].committee.clone();
    let address = |i| committee.authority(i).expect("member").address;
    let listener = TcpListener::bind(address(1)).await.expect("bind member 1");
    let validator = Validator::start(configs[0].clone()).await.expect("start");
    let member1 = identity(&committee, 1, &configs[1].key);

    // A connection that sends nothing is closed after the idle timeout.
    let mut silent = dial(&member1, 0, address(0)).await.expect("dial");
    assert!(silent.closed().await, "a silent connection stayed open");
    assert_eq!(disconnects(&validator, "idle"), 1);

    // Validator 0 has nothing to send to member 1 after its first block: it pings instead.
    let (_, mut inbound) = accept(&listener, &member1).await;
    let mut pings = 0;
    while pings < 3 {
        match inbound.next().await {
            Some(Message::Ping) => pings += 1,
            Some(_) => {}
            None => panic!("validator 0 went silent on its connection to member 1"),
        }
    }
    validator.shutdown().await.expect("clean shutdown");
}
