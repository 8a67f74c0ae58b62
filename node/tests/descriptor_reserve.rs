//! When file descriptors run short, connections anyone may open are refused before they
//! take the reserve: metrics connections first, then the peer port's, while a member still
//! authenticates in between. This test binary lowers its own open-files limit.

mod common;
mod member;

use std::{os::fd::AsRawFd, time::Duration};

use common::*;
use member::*;
use node::{descriptors, metrics::Metrics, network::max_inbound, validator::Validator};

/// This process's soft open-files limit during the test.
const OPEN_FILES: u64 = 400;

fn set_soft_limit(soft: u64) {
    let hard = descriptors::limit().expect("limit").hard;
    let limit = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard.map_or(libc::RLIM_INFINITY, |h| h as libc::rlim_t),
    };
    // SAFETY: setrlimit only reads the struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
}

/// Opens /dev/null until the next descriptor is at least `at`.
fn fill_until(files: &mut Vec<std::fs::File>, at: u64) {
    loop {
        let file = std::fs::File::open("/dev/null").expect("open /dev/null");
        let next = file.as_raw_fd() as u64 + 1;
        files.push(file);
        if next >= at {
            return;
        }
    }
}

/// Connects strangers to `address` with every descriptor below `at` taken until `refusals`
/// counts one more, at most three times: another task of this process (a failed dial, a
/// read of `/proc`) may free a low descriptor between the filling and the accept, and a
/// connection that gets it is served, as it should be, until the port's timeout closes it.
async fn refused_stranger(
    files: &mut Vec<std::fs::File>,
    at: u64,
    address: std::net::SocketAddr,
    refusals: impl Fn() -> u64,
) -> bool {
    for _ in 0..3 {
        fill_until(files, at);
        let before = refusals();
        let mut stranger = raw(address).await;
        assert!(stranger.closed().await, "a stranger's connection was kept");
        if refusals() > before {
            return true;
        }
    }
    false
}

fn closed(m: &Metrics, reason: &str) -> u64 {
    m.metrics_connections_closed
        .with_label_values(&[reason])
        .get()
}

fn refused(m: &Metrics, reason: &str) -> u64 {
    m.connections_refused.with_label_values(&[reason]).get()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_from_anyone_are_refused_before_they_take_the_reserve() {
    set_soft_limit(OPEN_FILES);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut configs = configs(4, dir.path(), test_parameters());
    configs[0].serve_metrics = true;
    configs[0].load = 0;
    let committee = configs[0].committee.clone();
    let me = committee.authority(0).expect("a0");
    let validator = Validator::start(configs[0].clone()).await.expect("start");
    let metrics = validator.metrics().clone();
    let peer_ceiling = OPEN_FILES - descriptors::reserve(4);
    let metrics_ceiling = peer_ceiling - max_inbound(4) as u64;

    // Between the two ceilings: metrics connections are refused, members get in.
    let mut files = Vec::new();
    assert!(
        refused_stranger(&mut files, metrics_ceiling + 10, me.metrics_address, || {
            closed(&metrics, "descriptors")
        })
        .await,
        "no metrics connection was refused for lack of descriptors"
    );
    assert!(metrics.descriptor_shortages.get() >= 1);
    let member = identity(&committee, 1, &configs[1].key);
    let _authenticated = dial(&member, 0, me.address)
        .await
        .expect("a member authenticates while metrics connections are refused");

    // Above the peer port's ceiling, its strangers are refused too.
    assert!(
        refused_stranger(&mut files, peer_ceiling + 10, me.address, || {
            refused(&metrics, "descriptors")
        })
        .await,
        "no peer-port connection was refused for lack of descriptors"
    );

    // Descriptors back: metrics are served again.
    drop(files);
    let answer = tokio::task::spawn_blocking({
        let address = me.metrics_address;
        move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(address).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").expect("send");
            let mut text = String::new();
            let _ = s.read_to_string(&mut text);
            text
        }
    })
    .await
    .expect("join");
    let line = format!(
        "node_metrics_connections_closed_total{{reason=\"descriptors\"}} {}",
        closed(&metrics, "descriptors")
    );
    assert!(answer.contains(&line), "{line} not in {answer:.300}");
    validator.shutdown().await.expect("clean shutdown");
}
