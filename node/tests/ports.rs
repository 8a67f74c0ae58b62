//! Free ports on 127.0.0.1 for the validators of a test.
//!
//! They come from below the kernel's ephemeral range (32768 and up by default): a port bound
//! and released from that range can be taken by an outgoing connection of a test running
//! beside this one before the validator binds it. None is handed out twice in one process.

#![allow(dead_code)]

use std::{collections::BTreeSet, net::TcpListener, sync::Mutex};

/// Ports this process has handed out.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A port `p` such that `p .. p + count` are free on 127.0.0.1 (checked by binding them).
pub(crate) fn free_ports(count: u16) -> u16 {
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    for _ in 0..1000 {
        let first = rand::random::<u16>() % 10_000 + 20_000;
        let ports = first..first + count;
        if ports
            .clone()
            .all(|p| !handed.contains(&p) && TcpListener::bind(("127.0.0.1", p)).is_ok())
        {
            handed.extend(ports);
            return first;
        }
    }
    panic!("no {count} consecutive free ports on 127.0.0.1 between 20000 and 30000 in 1000 tries");
}
