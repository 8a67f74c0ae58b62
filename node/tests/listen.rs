//! Where a validator listens: its committee addresses, or every interface with `bind_all`.

mod common;

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

use common::*;
use node::validator::Validator;

/// Whether `GET /metrics` at `address` answers with the node's metrics.
fn serves_metrics(address: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&address, Duration::from_secs(2)) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    if s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut text = String::new();
    s.read_to_string(&mut text).is_ok() && text.contains("node_committed_transactions_total")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_all_serves_on_every_interface_at_the_committee_ports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut configs = configs(4, dir.path(), test_parameters());
    let committee_metrics = configs[0]
        .committee
        .authority(0)
        .expect("a0")
        .metrics_address;
    // The committee says 127.0.0.1; another loopback address of this machine stands for an
    // address that is on the interface but not in the committee.
    let other = SocketAddr::new([127, 0, 0, 3].into(), committee_metrics.port());

    configs[0].serve_metrics = true;
    let validator = Validator::start(configs[0].clone()).await.expect("start");
    let (on_committee, on_other) = tokio::task::spawn_blocking(move || {
        (serves_metrics(committee_metrics), serves_metrics(other))
    })
    .await
    .expect("join");
    assert!(on_committee, "metrics not served at {committee_metrics}");
    assert!(
        !on_other,
        "without bind_all only the committee address listens"
    );
    validator.shutdown().await.expect("shutdown");

    configs[0].bind_all = true;
    let validator = Validator::start(configs[0].clone()).await.expect("restart");
    let (on_committee, on_other) = tokio::task::spawn_blocking(move || {
        (serves_metrics(committee_metrics), serves_metrics(other))
    })
    .await
    .expect("join");
    assert!(on_committee, "metrics not served at {committee_metrics}");
    assert!(on_other, "bind_all must listen on {other} too");
    validator.shutdown().await.expect("shutdown");
}
