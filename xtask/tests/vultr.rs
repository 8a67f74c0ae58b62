//! The Vultr provider against the fake Vultr API (`fake_vultr`): pagination, pending ->
//! running, retries, the 401 explanation, pre-flight failures that create nothing, and the
//! SSH key, firewall group and instance bodies sent on creation.

mod fake_vultr;

use std::time::Duration;

use base64::Engine;
use fake_vultr::FakeVultr;
use xtask::{
    commands::testbed::{wait, WaitOptions},
    testbed::{
        vultr::{client::RetryPolicy, VultrProvider},
        InstanceState, Provider,
    },
};

const TOKEN: &str = "VULTR-TEST-KEY-5f2a9c";

fn provider(
    fake: &FakeVultr,
    dir: &std::path::Path,
    regions: &[&str],
    specs: &str,
) -> VultrProvider {
    let settings = fake_vultr::settings(dir, &fake.endpoint(), TOKEN, "bench-v", regions, specs);
    VultrProvider::new(&settings).expect("provider")
}

fn fast_wait() -> WaitOptions {
    WaitOptions {
        timeout: Duration::from_secs(20),
        interval: Duration::from_millis(20),
    }
}

#[test]
fn listing_follows_cursors_across_pages_and_keeps_only_the_testbed() {
    let fake = FakeVultr::start(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let vultr = provider(&fake, dir.path(), &["ewr"], "vc2-1c-1gb");
    let mut ours = Vec::new();
    {
        let mut state = fake.state();
        for n in 0..7 {
            ours.push(state.seed_instance("ewr", &format!("bench-v-ewr-{n}"), &["bench-v"], true));
        }
        state.seed_instance("ewr", "other", &["bench-v-other"], true);
        state.seed_instance("ams", "untagged", &[], true);
    }
    let mut listed: Vec<String> = vultr
        .list_instances()
        .expect("list")
        .into_iter()
        .map(|i| i.id)
        .collect();
    listed.sort();
    ours.sort();
    assert_eq!(listed, ours);
    // Seven instances in pages of two: four requests, each after the first with a cursor.
    let pages: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == "/instances")
        .collect();
    assert_eq!(pages.len(), 4, "{pages:#?}");
    assert!(pages[1..]
        .iter()
        .all(|r| r.query.iter().any(|(k, _)| k == "cursor")));
    assert!(pages
        .iter()
        .all(|r| r.query.contains(&("tag".into(), "bench-v".into()))));
}

#[test]
fn new_instances_are_pending_then_running_with_an_address() {
    let fake = FakeVultr::start(TOKEN);
    fake.state().polls_until_active = 3;
    let dir = tempfile::tempdir().expect("tmp");
    let vultr = provider(&fake, dir.path(), &["ewr", "ams"], "vc2-1c-1gb");
    vultr
        .preflight(&["ewr".into(), "ams".into()])
        .expect("preflight");
    let created = vultr.create_instances("ams", 2, 3).expect("create");
    assert_eq!(created.len(), 2);
    for instance in &created {
        assert_eq!(instance.state, InstanceState::Pending);
        assert_eq!(instance.public_ip, None, "0.0.0.0 is no address");
        assert_eq!(instance.region, "ams");
        assert_eq!(instance.ssh_user, "root");
    }
    let ids: Vec<String> = created.iter().map(|i| i.id.clone()).collect();
    let ready = wait::until_running(&vultr, &ids, &fast_wait()).expect("running");
    assert_eq!(ready.len(), 2);
    for instance in &ready {
        assert!(instance.is_running(), "{instance:?}");
        assert!(instance
            .public_ip
            .as_deref()
            .is_some_and(|ip| ip.starts_with("192.0.2.")));
    }
    // It took several listings: pending was seen before running.
    assert!(fake.count("GET", "/instances") >= 3);
}

#[test]
fn creation_registers_one_key_and_one_firewall_group_and_sends_the_boot_script() {
    let fake = FakeVultr::start(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let vultr = provider(&fake, dir.path(), &["ewr", "fra"], "vhf-8c-32gb");
    vultr.create_instances("ewr", 2, 4).expect("create ewr");
    vultr.create_instances("fra", 1, 4).expect("create fra");
    // A second provider (a later command) finds the key and the group instead of adding more.
    let again = provider(&fake, dir.path(), &["ewr", "fra"], "vhf-8c-32gb");
    again
        .create_instances("ewr", 1, 4)
        .expect("create ewr again");

    let state = fake.state();
    assert_eq!(state.ssh_keys.len(), 1, "{:?}", state.ssh_keys);
    let public = std::fs::read_to_string(dir.path().join("id_ed25519.pub")).expect("pub");
    assert_eq!(state.ssh_keys[0].2, public.trim());
    assert_eq!(state.firewalls.len(), 1);
    let (group_id, description, rules) = &state.firewalls[0];
    assert!(description.contains("bench-v"), "{description}");
    let mut ports: Vec<&str> = rules.iter().filter_map(|r| r["port"].as_str()).collect();
    ports.sort_unstable();
    assert_eq!(ports, ["22", "26000:26999", "27000:27999"]);
    assert!(rules
        .iter()
        .all(|r| r["protocol"] == "tcp" && r["ip_type"] == "v4"));

    let instances = state.tagged("bench-v");
    assert_eq!(instances.len(), 4);
    let mut labels: Vec<&str> = instances.iter().map(|i| i.label.as_str()).collect();
    labels.sort_unstable();
    assert_eq!(
        labels,
        [
            "bench-v-ewr-0",
            "bench-v-ewr-1",
            "bench-v-ewr-2",
            "bench-v-fra-0"
        ]
    );
    for instance in &instances {
        assert_eq!(instance.os_id, 2284, "Ubuntu 24.04");
        assert_eq!(instance.plan, "vhf-8c-32gb");
        assert_eq!(instance.tags, ["bench-v"]);
        assert_eq!(&instance.firewall_group_id, group_id);
        assert_eq!(instance.sshkey_id, [state.ssh_keys[0].0.clone()]);
        let script = base64::engine::general_purpose::STANDARD
            .decode(&instance.user_data)
            .expect("user_data is base64");
        let script = String::from_utf8(script).expect("utf-8");
        assert!(script.contains("shutdown -h +240 "), "{script}");
        assert!(script.contains("ufw allow 26000:26999/tcp"), "{script}");
    }
    drop(state);
    let price = vultr.price_per_hour("ewr").expect("price").expect("known");
    assert!((price - 192.0 / 672.0).abs() < 1e-9, "{price}");
}

#[test]
fn throttling_and_server_errors_are_retried_then_succeed() {
    let fake = FakeVultr::start(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let vultr = provider(&fake, dir.path(), &["ewr"], "vc2-1c-1gb").with_retry(RetryPolicy {
        attempts: 4,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    });
    fake.state().seed_instance("ewr", "x", &["bench-v"], true);
    fake.state().inject("GET", "/instances", 429, 1);
    fake.state().inject("POST", "/instances", 503, 1);
    fake.state().inject("POST", "/instances", 502, 1);
    assert_eq!(vultr.list_instances().expect("list after a 429").len(), 1);
    assert_eq!(fake.count("GET", "/instances"), 2, "one 429, one success");
    let created = vultr
        .create_instances("ewr", 1, 1)
        .expect("create after 503 and 502");
    assert_eq!(created.len(), 1);
    assert_eq!(fake.count("POST", "/instances"), 3);
    assert_eq!(
        fake.state().tagged("bench-v").len(),
        2,
        "created exactly once"
    );

    // Retries are bounded: a lasting 429 ends in an error naming the request.
    fake.state().inject("GET", "/instances", 429, 100);
    let before = fake.count("GET", "/instances");
    let err = format!("{:#}", vultr.list_instances().expect_err("still throttled"));
    assert!(err.contains("429") && err.contains("/instances"), "{err}");
    assert_eq!(
        fake.count("GET", "/instances") - before,
        4,
        "attempts are bounded"
    );
}

#[test]
fn a_refused_key_is_explained_and_never_shown() {
    let fake = FakeVultr::start("THE-RIGHT-KEY");
    let dir = tempfile::tempdir().expect("tmp");
    let vultr = provider(&fake, dir.path(), &["ewr"], "vc2-1c-1gb");
    let debug = format!("{vultr:?}");
    assert!(!debug.contains(TOKEN), "{debug}");
    let err = vultr.preflight(&["ewr".into()]).expect_err("401");
    for text in [format!("{err:#}"), format!("{err:?}")] {
        assert!(text.contains("401"), "{text}");
        assert!(text.contains("allow-list"), "{text}");
        assert!(text.contains("token_file"), "{text}");
        assert!(!text.contains(TOKEN), "the key leaked: {text}");
    }
    let err = vultr.create_instances("ewr", 1, 1).expect_err("401");
    let text = format!("{err:#} {err:?}");
    assert!(!text.contains(TOKEN), "the key leaked: {text}");
    // The key was sent, as a Bearer token, and nothing was created.
    assert!(fake
        .requests()
        .iter()
        .all(|r| r.authorization.as_deref() == Some(&format!("Bearer {TOKEN}"))));
    assert!(fake.state().instances.is_empty());
}

#[test]
fn preflight_rejects_bad_regions_and_plans_without_creating_anything() {
    let fake = FakeVultr::start(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let cases: [(&[&str], &str, &[&str]); 4] = [
        (
            &["ewr", "mars"],
            "vc2-1c-1gb",
            &["\"mars\"", "settings `regions`", "ewr (New Jersey, US)"],
        ),
        (
            &["ewr"],
            "vc2-3c-9gb",
            &["\"vc2-3c-9gb\"", "settings `specs`", "vc2-1c-1gb"],
        ),
        (
            &["ewr", "sgp"],
            "vhf-8c-32gb",
            &["not sold", "\"sgp\"", "ewr, fra"],
        ),
        (&["ewr", "nrt"], "vc2-4c-8gb", &["no capacity", "\"nrt\""]),
    ];
    for (regions, plan, expected) in cases {
        let sub = tempfile::tempdir_in(dir.path()).expect("tmp");
        let vultr = provider(&fake, sub.path(), regions, plan);
        let owned: Vec<String> = regions.iter().map(|r| r.to_string()).collect();
        let err = format!("{:#}", vultr.preflight(&owned).expect_err("bad input"));
        for part in expected {
            assert!(
                err.contains(part),
                "{regions:?} {plan}: {part:?} not in: {err}"
            );
        }
    }
    // A public key file that is gone fails before any request.
    let sub = tempfile::tempdir_in(dir.path()).expect("tmp");
    let vultr = provider(&fake, sub.path(), &["ewr"], "vc2-1c-1gb");
    std::fs::remove_file(sub.path().join("id_ed25519.pub")).expect("rm");
    fake.clear_log();
    let err = format!(
        "{:#}",
        vultr.preflight(&["ewr".into()]).expect_err("no key")
    );
    assert!(
        err.contains("ssh_public_key_file") && err.contains("id_ed25519.pub"),
        "{err}"
    );
    assert!(fake.requests().is_empty());
    // Pre-flight only reads.
    assert!(fake.mutations().is_empty(), "{:#?}", fake.mutations());
}

#[test]
fn start_halt_and_delete_act_on_the_instances_and_delete_twice_is_fine() {
    let fake = FakeVultr::start(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let vultr = provider(&fake, dir.path(), &["ewr"], "vc2-1c-1gb");
    fake.state().seed_instance("ewr", "a", &["bench-v"], true);
    fake.state().seed_instance("ewr", "b", &["bench-v"], true);
    let instances = vultr.list_instances().expect("list");
    vultr.stop_instances(&instances).expect("halt");
    assert!(vultr
        .list_instances()
        .expect("list")
        .iter()
        .all(|i| i.state == InstanceState::Stopped));
    vultr.start_instances(&instances[..1]).expect("start");
    let states: Vec<InstanceState> = vultr
        .list_instances()
        .expect("list")
        .into_iter()
        .map(|i| i.state)
        .collect();
    assert_eq!(
        states
            .iter()
            .filter(|s| **s == InstanceState::Running)
            .count(),
        1
    );
    vultr.delete_instances(&instances).expect("delete");
    assert!(vultr.list_instances().expect("list").is_empty());
    vultr
        .delete_instances(&instances)
        .expect("deleting again is fine");
    assert_eq!(
        fake.requests()
            .iter()
            .filter(|r| r.method == "DELETE")
            .count(),
        4
    );
}
