//! The emulated network on real validators over loopback: a profile's delays, jitter and
//! asymmetry reach real messages, an egress cap limits what a validator sends, and a
//! scheduled partition stops messages between its sides and heals on time, safely; and a
//! link sends each message at its own release, not held for the next one's.

mod common;
mod member;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64},
        Arc,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use common::{assert_prefix, configs, shutdown_all, start_all, test_parameters, wait_until};
use node::{
    committee::{AuthorityConfig, Committee, CommitteeConfig},
    metrics::Metrics,
    network::{
        profile::{Fault, FaultSchedule, Outbound, Profile},
        run_peer, Emulation, EmulationConfig, Message, Outgoing, PeerLink,
    },
    validator::{Validator, ValidatorConfig},
};
use prometheus::core::Metric;
use tokio::{net::TcpListener, sync::mpsc, time::Instant};

/// Regions a (validators 0, 1) and b (2, 3): a -> b 40 ms plus a half-normal jitter of sd
/// 100 ms (median 67 ms), b -> a 80 ms without jitter.
const TWO_REGIONS: &str = r#"{
  "description": "test: asymmetric, with jitter one way",
  "regions": ["a", "b"],
  "links": [
    { "from": "a", "to": "a", "delay_ms": 0 },
    { "from": "a", "to": "b", "delay_ms": 40, "jitter": { "distribution": "normal", "sd_ms": 100, "max_ms": 300 } },
    { "from": "b", "to": "a", "delay_ms": 80 },
    { "from": "b", "to": "b", "delay_ms": 0 }
  ]
}"#;

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// The configs with the committee's validators placed on `regions`.
fn in_regions(mut configs: Vec<ValidatorConfig>, regions: &[&str]) -> Vec<ValidatorConfig> {
    let committee = &configs[0].committee;
    let config = CommitteeConfig {
        authorities: committee
            .authorities()
            .map(|(i, a)| AuthorityConfig {
                public_key: hex::encode(a.public_key.as_bytes()),
                stake: a.stake,
                address: a.address,
                metrics_address: a.metrics_address,
                region: Some(regions[i as usize].to_string()),
            })
            .collect(),
    };
    let committee = Arc::new(Committee::from_config(&config, "test").expect("committee"));
    for c in &mut configs {
        c.committee = committee.clone();
    }
    configs
}

/// The block delay histogram of `validator` for blocks from `author`: (upper bound in
/// seconds, cumulative count) per bucket, and the total count.
fn block_delays(validator: &Validator, author: u32) -> (Vec<(f64, u64)>, u64) {
    let h = validator
        .metrics()
        .block_delay
        .with_label_values(&[&author.to_string()]);
    let m = h.metric();
    let histogram = m.get_histogram();
    let buckets = histogram
        .get_bucket()
        .iter()
        .map(|b| (b.get_upper_bound(), b.get_cumulative_count()))
        .collect();
    (buckets, histogram.get_sample_count())
}

/// How many of the delays were at most `seconds` (a bucket bound).
fn at_most(buckets: &[(f64, u64)], seconds: f64) -> u64 {
    buckets
        .iter()
        .find(|(bound, _)| (bound - seconds).abs() < 1e-9)
        .map(|(_, count)| *count)
        .unwrap_or_else(|| panic!("no bucket at {seconds} s"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_delays_jitter_and_asymmetry_reach_real_messages() {
    let dir = tempfile::tempdir().expect("temp dir");
    let profile = Profile::parse(TWO_REGIONS, "two-regions.json").expect("profile");
    let configs = in_regions(
        configs(4, dir.path(), test_parameters()),
        &["a", "a", "b", "b"],
    );
    let configs: Vec<ValidatorConfig> = configs
        .into_iter()
        .map(|mut c| {
            let outbound = profile
                .outbound(&c.committee, c.authority, None, FaultSchedule::default())
                .expect("every region is in the profile");
            c.network = Some(EmulationConfig {
                outbound,
                epoch_unix_ms: None,
            });
            c
        })
        .collect();
    let validators = start_all(configs).await;
    let refs: Vec<&Validator> = validators.iter().collect();
    wait_until(
        &refs,
        Duration::from_secs(60),
        "every validator commits 30 leaders",
        |logs| logs.iter().all(|l| l.len() >= 30),
    )
    .await;

    // a -> b: validator 2 sees validator 0's blocks at least 40 ms after they were made,
    // and the jitter puts most of them well above that.
    let (ab, ab_count) = block_delays(&validators[2], 0);
    assert!(ab_count >= 30, "validator 2 got {ab_count} blocks from 0");
    assert_eq!(
        at_most(&ab, 0.035),
        0,
        "no block a -> b under the base delay: {ab:?}"
    );
    // Without jitter they arrive within 40-80 ms here (proposing, the WAL's fsync and a
    // debug build under load add to the base delay); the jitter puts most above 90 ms.
    assert!(
        at_most(&ab, 0.09) * 2 < ab_count,
        "the jitter (median 67 ms) puts most a -> b blocks above 90 ms: {ab:?}"
    );
    // b -> a: at least 80 ms, the other direction's delay.
    let (ba, ba_count) = block_delays(&validators[0], 2);
    assert!(ba_count >= 30, "validator 0 got {ba_count} blocks from 2");
    assert_eq!(
        at_most(&ba, 0.075),
        0,
        "no block b -> a under its 80 ms: {ba:?}"
    );
    // Within a region: no delay added, and blocks still arrive.
    let (_, aa_count) = block_delays(&validators[1], 0);
    assert!(aa_count >= 30);

    let logs: Vec<_> = validators.iter().map(|v| v.commits()).collect();
    for l in &logs[1..] {
        assert_prefix(&logs[0], l);
    }
    shutdown_all(validators).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_egress_cap_limits_what_a_validator_sends() {
    // 40 kB/s out of validator 0; its generator offers 1,000 tx/s of 128 B, about 390 kB/s
    // of blocks to its three peers before framing.
    const CAP: u64 = 40_000;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut configs = configs(4, dir.path(), test_parameters());
    configs[0].load = 1_000;
    configs[0].network = Some(EmulationConfig {
        outbound: Outbound::ideal(0, 4, Some(CAP), FaultSchedule::default()),
        epoch_unix_ms: None,
    });
    let started = Instant::now();
    let validators = start_all(configs).await;
    let refs: Vec<&Validator> = validators.iter().collect();
    wait_until(
        &refs,
        Duration::from_secs(60),
        "every validator commits 20 leaders",
        |logs| logs.iter().all(|l| l.len() >= 20),
    )
    .await;
    // Bytes leave at most at the cap, counted from before the start.
    let mut checked = 0;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let sent = validators[0].metrics().sent_bytes.get();
        let elapsed = started.elapsed().as_secs_f64();
        let allowed = (CAP as f64 * elapsed) as u64;
        assert!(
            sent <= allowed,
            "validator 0 sent {sent} B in {elapsed:.1} s, over its cap ({allowed} B)"
        );
        assert!(sent > 0, "validator 0 sent something");
        checked += 1;
    }
    assert_eq!(checked, 10);
    // The others are not capped: each sends more than validator 0 could.
    let elapsed = started.elapsed().as_secs_f64();
    let uncapped = validators[1].metrics().sent_bytes.get();
    assert!(
        uncapped as f64 > CAP as f64 * elapsed,
        "validator 1 (no cap) sent {uncapped} B in {elapsed:.1} s: the load is above the cap"
    );
    let logs: Vec<_> = validators.iter().map(|v| v.commits()).collect();
    for l in &logs[1..] {
        assert_prefix(&logs[0], l);
    }
    shutdown_all(validators).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_partition_isolates_a_validator_and_heals_on_time() {
    // Validator 3 is cut off from 0, 1 and 2 from 3 s to 7 s after the epoch.
    let dir = tempfile::tempdir().expect("temp dir");
    let epoch = unix_ms();
    let faults = FaultSchedule::new(vec![Fault::parse_partition("3/0,1,2@3s+4s").expect("spec")]);
    let configs: Vec<ValidatorConfig> = configs(4, dir.path(), test_parameters())
        .into_iter()
        .map(|mut c| {
            c.network = Some(EmulationConfig {
                outbound: Outbound::ideal(c.authority, 4, None, faults.clone()),
                epoch_unix_ms: Some(epoch),
            });
            c
        })
        .collect();
    let validators = start_all(configs).await;
    let refs: Vec<&Validator> = validators.iter().collect();
    let sleep_to = |ms: u64| {
        tokio::time::sleep(Duration::from_millis(
            (epoch + ms).saturating_sub(unix_ms()),
        ))
    };

    // Well inside the partition (1.5 s after it began, to let anything sent before it
    // be handled), then again just before it heals.
    sleep_to(4_500).await;
    let isolated_before = validators[3].commits().len();
    let received_before = validators[3].metrics().blocks_received.get();
    let others_before = validators[0].commits().len();
    sleep_to(6_700).await;
    let isolated_after = validators[3].commits().len();
    let received_after = validators[3].metrics().blocks_received.get();
    let others_after = validators[0].commits().len();
    let now = unix_ms();
    assert!(
        now < epoch + 7_000,
        "the test sampled {} ms after the heal: the machine is too loaded for this test",
        now - epoch - 7_000
    );
    assert_eq!(
        (isolated_after, received_after),
        (isolated_before, received_before),
        "the isolated validator neither received blocks nor committed during the partition"
    );
    assert!(
        others_after > others_before,
        "the three others kept committing ({others_before} -> {others_after})"
    );
    // The others' new blocks to 3 were held (3 itself may have nothing new to send).
    for v in &validators[..3] {
        assert!(v.metrics().fault_held_messages.get() > 0);
    }

    // After the heal the isolated validator catches up and commits what the others did.
    let target = validators[0].commits().len() + 5;
    let logs = wait_until(
        &refs,
        Duration::from_secs(90),
        "validator 3 catches up after the heal",
        |logs| logs[3].len() >= target,
    )
    .await;
    for a in &logs {
        for b in &logs {
            assert_prefix(a, b);
        }
    }
    shutdown_all(validators).await;
}

/// Regions a and b, 200 ms apart each way, no jitter.
const SLOW_LINK: &str = r#"{
  "description": "test: 200 ms between a and b",
  "regions": ["a", "b"],
  "links": [
    { "from": "a", "to": "a", "delay_ms": 0 },
    { "from": "a", "to": "b", "delay_ms": 200 },
    { "from": "b", "to": "a", "delay_ms": 200 },
    { "from": "b", "to": "b", "delay_ms": 0 }
  ]
}"#;

/// Validator 0's link to validator 1 over a 200 ms emulated link: a message queued at 0 is
/// due at 200 ms, one queued at 150 ms at 350 ms. The first must not wait in the link's
/// write buffer until the second is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_message_leaves_at_its_own_release_not_the_next_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let configs = in_regions(
        configs(4, dir.path(), test_parameters()),
        &["a", "b", "a", "b"],
    );
    let committee = configs[0].committee.clone();
    let outbound = Profile::parse(SLOW_LINK, "slow-link.json")
        .expect("profile")
        .outbound(&committee, 0, None, FaultSchedule::default())
        .expect("outbound");
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (queue, queue_rx) = mpsc::channel(16);
    let (_catch_up, catch_up_rx) = mpsc::channel(16);
    let link = PeerLink {
        identity: Arc::new(member::identity(&committee, 0, &configs[0].key)),
        peer: 1,
        address: listener.local_addr().expect("address"),
        queue: queue_rx,
        catch_up: catch_up_rx,
        emulation: Some(Arc::new(Emulation::start(outbound, None, metrics.clone()))),
        subscribe_from: Arc::new((0..4).map(|_| AtomicU64::new(0)).collect()),
        connected: Arc::new((0..4).map(|_| AtomicBool::new(false)).collect()),
        handshake_timeout: Duration::from_secs(5),
        keepalive_interval: Duration::from_secs(60),
        metrics,
    };
    let task = tokio::spawn(run_peer(link));
    let me = member::identity(&committee, 1, &configs[1].key);
    let (_, mut peer) = member::accept(&listener, &me).await;
    assert!(
        matches!(peer.next().await, Some(Message::Subscribe(_))),
        "the link subscribes first"
    );

    let queued = Instant::now();
    queue
        .send(Outgoing::new(Message::SyncRequest))
        .await
        .expect("queue");
    tokio::time::sleep(Duration::from_millis(150)).await;
    queue
        .send(Outgoing::new(Message::Request(Vec::new())))
        .await
        .expect("queue");
    let first = peer.next().await;
    let arrived = queued.elapsed();
    assert!(
        matches!(first, Some(Message::SyncRequest)),
        "first {first:?}"
    );
    assert!(
        arrived >= Duration::from_millis(195),
        "the link's delay applies: {arrived:?}"
    );
    assert!(
        arrived < Duration::from_millis(300),
        "the first message waited for the second's release at 350 ms: {arrived:?}"
    );
    assert!(matches!(peer.next().await, Some(Message::Request(_))));
    drop(queue);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the link stops when its queue closes")
        .expect("the link's task");
}
