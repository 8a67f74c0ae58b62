//! The Vultr provider against the fake Vultr API (`fake_vultr`): pagination, pending ->
//! running, retries, the 401 explanation, pre-flight failures that create nothing, the SSH
//! key, firewall group and instance bodies sent on creation, locked instances, creates with
//! unclear answers, firewall rules written back differently, an unreachable endpoint, the
//! clean-up of the network resources, and a soak under injected faults.

mod common;
mod fake_vultr;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use base64::Engine;
use common::{
    fault_proxy::FaultProxy,
    faults::{Rates, Schedule},
};
use fake_vultr::FakeVultr;
use xtask::{
    commands::testbed::{wait, WaitOptions},
    testbed::{
        vultr::{client::Progress, locked::LockWait, resources, VultrProvider},
        Instance, InstanceState, Provider, RetryPolicy,
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

/// The ids of `instances`, sorted.
fn sorted_ids(instances: &[Instance]) -> Vec<String> {
    let mut ids: Vec<String> = instances.iter().map(|i| i.id.clone()).collect();
    ids.sort_unstable();
    ids
}

/// Retries that take milliseconds, not seconds.
fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 6,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
    }
}

/// A progress sink keeping the lines.
fn recorder() -> (Progress, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let progress = Progress::to(move |line| {
        sink.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line.to_string())
    });
    (progress, lines)
}

/// `vultr` with fast retries and its progress lines kept.
fn recorded(vultr: VultrProvider) -> (VultrProvider, Arc<Mutex<Vec<String>>>) {
    let (progress, said) = recorder();
    (vultr.with_retry(fast_retry()).with_progress(progress), said)
}

/// Asserts that one of the progress lines `said` contains every one of `parts`.
fn assert_a_line_says(said: &[String], parts: &[&str]) {
    assert!(
        said.iter().any(|l| parts.iter().all(|p| l.contains(p))),
        "no line says {parts:?}: {said:#?}"
    );
}

fn lines(lines: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
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
    let listed = sorted_ids(&vultr.list_instances().expect("list"));
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
    let created = common::create(&vultr, "ams", 2).expect("create");
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
    common::create(&vultr, "ewr", 2).expect("create ewr");
    common::create(&vultr, "fra", 1).expect("create fra");
    // A second provider (a later command) finds the key and the group instead of adding more.
    let again = provider(&fake, dir.path(), &["ewr", "fra"], "vhf-8c-32gb");
    common::create(&again, "ewr", 1).expect("create ewr again");

    let state = fake.state();
    assert_eq!(state.ssh_keys.len(), 1, "{:?}", state.ssh_keys);
    let public = std::fs::read_to_string(dir.path().join("id_ed25519.pub")).expect("pub");
    assert_eq!(state.ssh_keys[0].2, public.trim());
    assert_eq!(state.firewalls.len(), 1);
    let (group_id, description, rules) = &state.firewalls[0];
    assert!(description.contains("bench-v"), "{description}");
    let mut ports: Vec<&str> = rules.iter().filter_map(|r| r["port"].as_str()).collect();
    ports.sort_unstable();
    // Sent as "26000:26999", listed back spaced as Vultr does.
    assert_eq!(ports, ["22", "26000 - 26999", "27000 - 27999"]);
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
        // The testbed, the deadline, the deploy attempt and the create request that created it.
        assert_eq!(instance.tags.len(), 4, "{:?}", instance.tags);
        assert_eq!(instance.tags[0], "bench-v");
        assert!(
            instance.tags[1].starts_with("consensus-bench-deadline-")
                && instance.tags[2].starts_with("consensus-bench-attempt-")
                && instance.tags[3].starts_with("consensus-bench-create-"),
            "{:?}",
            instance.tags
        );
        assert_eq!(&instance.firewall_group_id, group_id);
        assert_eq!(instance.sshkey_id, [state.ssh_keys[0].0.clone()]);
        let script = base64::engine::general_purpose::STANDARD
            .decode(&instance.user_data)
            .expect("user_data is base64");
        let script = String::from_utf8(script).expect("utf-8");
        assert!(
            script.contains("systemctl enable --now consensus-bench-deadline.timer"),
            "{script}"
        );
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
    let created = common::create(&vultr, "ewr", 1).expect("create after 503 and 502");
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
    let err = common::create(&vultr, "ewr", 1).expect_err("401");
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

#[test]
fn locked_new_instances_are_halted_and_deleted_once_vultr_unlocks_them_all_at_once() {
    let fake = FakeVultr::start(TOKEN);
    {
        let mut state = fake.state();
        state.lock_duration = Duration::from_millis(300);
        // Locked until each has been refused once: only acting on all at once gets through.
        state.lock_until_all_refused = true;
        state.polls_until_active = u32::MAX;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let (vultr, said) = recorded(provider(&fake, dir.path(), &["ewr", "ams"], "vc2-1c-1gb"));
    let vultr = vultr.with_lock_wait(LockWait {
        limit: Duration::from_secs(5),
        first_pause: Duration::from_millis(20),
        max_pause: Duration::from_millis(100),
    });
    let halted = common::create(&vultr, "ewr", 2).expect("create");
    vultr
        .stop_instances(&halted)
        .unwrap_or_else(|e| panic!("halted once unlocked: {e:#}"));
    let mut doomed = common::create(&vultr, "ewr", 2).expect("create");
    doomed.extend(common::create(&vultr, "ams", 2).expect("create"));
    vultr
        .delete_instances(&doomed)
        .unwrap_or_else(|e| panic!("deleted once unlocked: {e:#}"));

    let state = fake.state();
    assert!(state.locked_refusals >= 6, "{}", state.locked_refusals);
    let left: Vec<&str> = state.instances.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(state.instances.iter().all(|i| i.power_status == "stopped"));
    drop(state);
    // A progress line per locked instance, naming it.
    let said = lines(&said);
    for instance in halted.iter().chain(&doomed) {
        assert!(
            said.iter()
                .any(|l| l.contains(&instance.id) && l.contains("locked")),
            "no line for {}: {said:#?}",
            instance.id
        );
    }
}

#[test]
fn an_instance_locked_for_too_long_fails_with_advice_and_the_others_are_deleted() {
    let fake = FakeVultr::start(TOKEN);
    fake.state().lock_duration = Duration::from_secs(3600);
    let dir = tempfile::tempdir().expect("tmp");
    let (vultr, _) = recorded(provider(&fake, dir.path(), &["ewr"], "vc2-1c-1gb"));
    let vultr = vultr.with_lock_wait(LockWait {
        limit: Duration::from_millis(200),
        first_pause: Duration::from_millis(20),
        max_pause: Duration::from_millis(50),
    });
    let locked = common::create(&vultr, "ewr", 1).expect("create");
    let old = fake.state().seed_instance("ewr", "old", &["bench-v"], true);
    let mut both = locked.clone();
    both.extend(
        vultr
            .list_instances()
            .expect("list")
            .into_iter()
            .filter(|i| i.id == old),
    );
    let err = format!(
        "{:#}",
        vultr.delete_instances(&both).expect_err("still locked")
    );
    assert!(
        err.contains(&locked[0].id) && err.contains("locked") && err.contains("again"),
        "{err}"
    );
    assert!(!err.contains(&old), "{err}");
    let left = fake.state().ids();
    assert_eq!(left, [locked[0].id.clone()]);
}

#[test]
fn a_create_with_an_unclear_answer_is_looked_up_never_sent_twice_blindly() {
    let fake = FakeVultr::start(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let (vultr, said) = recorded(provider(&fake, dir.path(), &["ewr"], "vc2-1c-1gb"));
    {
        let mut state = fake.state();
        // Vultr created the instance, then the gateway answered an error.
        state.inject_after_applying("POST", "/instances", 502, 1);
        // Refused before anything was done.
        state.inject("POST", "/instances", 503, 1);
        state.inject_after_applying("POST", "/instances", 504, 1);
        // The same for the SSH key and the firewall group.
        state.inject_after_applying("POST", "/ssh-keys", 500, 1);
        state.inject_after_applying("POST", "/firewalls", 503, 1);
    }
    let created = common::create(&vultr, "ewr", 3).expect("create");
    assert_eq!(created.len(), 3);
    let state = fake.state();
    let mut labels: Vec<&str> = state.creates.iter().map(|(_, l)| l.as_str()).collect();
    labels.sort_unstable();
    assert_eq!(labels, ["bench-v-ewr-0", "bench-v-ewr-1", "bench-v-ewr-2"]);
    assert_eq!(state.tagged("bench-v").len(), 3);
    assert_eq!(state.ssh_keys.len(), 1);
    assert_eq!(state.firewalls.len(), 1);
    assert_eq!(
        sorted_ids(&created),
        state.tagged_ids("bench-v"),
        "the instances found after an error are returned"
    );
    drop(state);
    let said = lines(&said);
    assert_a_line_says(&said, &["bench-v-ewr-0", "no clear answer"]);
    assert_a_line_says(&said, &["created after all"]);
}

#[test]
fn firewall_rules_listed_back_differently_are_not_added_again() {
    let fake = FakeVultr::start(TOKEN);
    // Room for the three rules and one more.
    fake.state().max_rules = 4;
    let dir = tempfile::tempdir().expect("tmp");
    for round in 0..3 {
        // A new provider per round: a later `testbed deploy` finds the group again.
        let vultr = provider(&fake, dir.path(), &["ewr"], "vc2-1c-1gb").with_retry(fast_retry());
        common::create(&vultr, "ewr", 1).unwrap_or_else(|e| panic!("deploy {round}: {e:#}"));
    }
    let state = fake.state();
    assert_eq!(state.firewalls.len(), 1);
    let mut ports: Vec<&str> = state.firewalls[0]
        .2
        .iter()
        .filter_map(|r| r["port"].as_str())
        .collect();
    ports.sort_unstable();
    // The fake writes ranges back spaced, as Vultr does.
    assert_eq!(ports, ["22", "26000 - 26999", "27000 - 27999"]);
}

#[test]
fn an_unreachable_endpoint_fails_within_a_few_tries_in_words_naming_it() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let endpoint = format!("http://127.0.0.1:{port}/v2");
    let dir = tempfile::tempdir().expect("tmp");
    let settings = fake_vultr::settings(
        dir.path(),
        &endpoint,
        TOKEN,
        "bench-v",
        &["ewr"],
        "vc2-1c-1gb",
    );
    let (progress, said) = recorder();
    let vultr = VultrProvider::new(&settings)
        .expect("provider")
        .with_retry(RetryPolicy {
            attempts: 6,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
        })
        .with_progress(progress);
    let err = vultr.list_instances().expect_err("nothing listens there");
    let text = format!("{err:#}");
    assert!(text.contains(&endpoint), "{text}");
    assert!(text.contains("`api_endpoint`"), "{text}");
    assert!(text.contains("connection failed"), "{text}");
    for debug in ["Transport {", "kind:", "ConnectorError", "Error {"] {
        assert!(!text.contains(debug), "debug output in: {text}");
    }
    assert!(!text.contains(TOKEN), "{text}");
    // Each retry is announced, saying what and why; a refused connection is tried 3 times,
    // not 6.
    let said = lines(&said);
    assert_eq!(said.len(), 2, "{said:#?}");
    assert!(
        said.iter().all(|l| l.contains("GET /instances")
            && l.contains("connection failed")
            && l.contains("retrying")),
        "{said:#?}"
    );
}

#[test]
fn server_errors_are_retried_with_a_line_saying_what_and_why() {
    let fake = FakeVultr::start(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let (vultr, said) = recorded(provider(&fake, dir.path(), &["ewr"], "vc2-1c-1gb"));
    fake.state().inject("GET", "/instances", 503, 1);
    fake.state().inject("GET", "/instances", 429, 1);
    vultr.list_instances().expect("list");
    let said = lines(&said);
    assert_eq!(said.len(), 2, "{said:#?}");
    assert!(
        said[0].contains("GET /instances") && said[0].contains("HTTP 503"),
        "{said:#?}"
    );
    assert!(
        said[1].contains("HTTP 429") && said[1].contains("rate limit"),
        "{said:#?}"
    );
}

#[test]
fn network_cleanup_waits_for_the_instances_then_removes_group_and_key_only_of_the_testbed() {
    let fake = FakeVultr::start(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let vultr = provider(&fake, dir.path(), &["ewr", "ams"], "vc2-1c-1gb")
        .with_retry(fast_retry())
        .with_lock_wait(fast_lock_wait());
    // Another testbed whose id starts with this one's.
    let other_dir = tempfile::tempdir().expect("tmp");
    let other = fake_vultr::settings(
        other_dir.path(),
        &fake.endpoint(),
        TOKEN,
        "bench-v-2",
        &["ewr"],
        "vc2-1c-1gb",
    );
    common::create(&VultrProvider::new(&other).expect("provider"), "ewr", 1)
        .expect("other testbed");
    let mut ours = common::create(&vultr, "ewr", 2).expect("create");
    ours.extend(common::create(&vultr, "ams", 1).expect("create"));
    assert_eq!(fake.state().ssh_keys.len(), 2);
    assert_eq!(fake.state().firewalls.len(), 2);

    let err = format!("{:#}", vultr.cleanup_network().expect_err("instances left"));
    assert!(
        err.contains("3 instance") && err.contains("testbed destroy"),
        "{err}"
    );
    assert_eq!(
        fake.state().firewalls.len(),
        2,
        "kept while instances are left"
    );

    vultr.delete_instances(&ours).expect("delete");
    let removed = vultr.cleanup_network().expect("cleanup");
    assert_eq!(removed.len(), 2, "{removed:?}");
    let ours_description = resources::firewall_description("bench-v");
    let state = fake.state();
    assert_eq!(
        state.network_left(&ours_description, "consensus-bench-bench-v-"),
        (0, 1)
    );
    assert!(state.ssh_keys[0]
        .1
        .starts_with("consensus-bench-bench-v-2-"));
    assert_eq!(state.firewalls.len(), 1);
    assert_eq!(
        state.firewalls[0].1,
        resources::firewall_description("bench-v-2")
    );
    assert_eq!(
        state.instances.len(),
        1,
        "the other testbed's instance stays"
    );
    drop(state);
    // Nothing left: nothing to do. A later deploy registers them again.
    assert!(vultr.cleanup_network().expect("again").is_empty());
    common::create(&vultr, "ewr", 1).expect("deploy again");
    assert_eq!(
        fake.state()
            .network_left(&ours_description, "consensus-bench-bench-v-"),
        (1, 2)
    );
}

fn fast_lock_wait() -> LockWait {
    LockWait {
        limit: Duration::from_secs(60),
        first_pause: Duration::from_millis(20),
        max_pause: Duration::from_millis(100),
    }
}

/// `SOAK_CYCLES` (default 4) deploy -> stop -> start -> destroy cycles of 2 instances in 3
/// regions through a proxy injecting faults drawn from `SOAK_SEED` (default 1); every third
/// cycle destroys right after creating, while the instances are locked. After each deploy every
/// region has exactly 2, no label was ever created twice, and after each destroy nothing of the
/// testbed is left (instances, firewall group, SSH key). Prints the faults injected.
#[test]
fn soak_cycles_under_injected_faults_leave_nothing_and_never_duplicate() {
    let (cycles, seed) = common::faults::soak_parameters(4);
    const PER_REGION: usize = 2;
    let regions = ["ewr", "ams", "fra"];
    let fake = FakeVultr::start(TOKEN);
    fake.state().lock_duration = Duration::from_millis(100);
    let proxy = FaultProxy::start(
        fake.address(),
        Schedule::new(seed, Rates::harsh(), 3),
        fake_vultr::VultrDialect,
    );
    let dir = tempfile::tempdir().expect("tmp");
    let endpoint = format!("{}/v2", proxy.url());
    let settings = fake_vultr::settings(
        dir.path(),
        &endpoint,
        TOKEN,
        "bench-s",
        &regions,
        "vc2-1c-1gb",
    );
    let (vultr, said) = recorded(VultrProvider::new(&settings).expect("provider"));
    let vultr = vultr.with_lock_wait(fast_lock_wait());
    let description = resources::firewall_description("bench-s");
    let wait = WaitOptions {
        timeout: Duration::from_secs(60),
        interval: Duration::from_millis(10),
    };
    for cycle in 0..cycles {
        let creates_before = fake.state().creates.len();
        let mut created = Vec::new();
        for region in regions {
            created.extend(
                common::create(&vultr, region, PER_REGION)
                    .unwrap_or_else(|e| panic!("cycle {cycle}: create in {region}: {e:#}")),
            );
        }
        {
            let state = fake.state();
            for region in regions {
                let n = state
                    .tagged("bench-s")
                    .iter()
                    .filter(|i| i.region == region)
                    .count();
                assert_eq!(n, PER_REGION, "cycle {cycle}: {region} has {n}");
            }
            let mut labels: Vec<&(String, String)> =
                state.creates[creates_before..].iter().collect();
            assert_eq!(
                labels.len(),
                PER_REGION * regions.len(),
                "cycle {cycle}: creates {labels:?}"
            );
            labels.sort();
            labels.dedup();
            assert_eq!(
                labels.len(),
                PER_REGION * regions.len(),
                "cycle {cycle}: a label was created twice"
            );
        }
        let created_ids = sorted_ids(&created);
        assert_eq!(
            created_ids,
            fake.state().tagged_ids("bench-s"),
            "cycle {cycle}: create returned other instances"
        );
        if cycle % 3 != 2 {
            let running = wait::until_running(&vultr, &created_ids, &wait)
                .unwrap_or_else(|e| panic!("cycle {cycle}: wait: {e:#}"));
            vultr
                .stop_instances(&running)
                .unwrap_or_else(|e| panic!("cycle {cycle}: stop: {e:#}"));
            assert!(fake
                .state()
                .tagged("bench-s")
                .iter()
                .all(|i| i.power_status == "stopped"));
            vultr
                .start_instances(&running)
                .unwrap_or_else(|e| panic!("cycle {cycle}: start: {e:#}"));
            wait::until_running(&vultr, &created_ids, &wait)
                .unwrap_or_else(|e| panic!("cycle {cycle}: wait after start: {e:#}"));
        }
        let all = vultr
            .list_instances()
            .unwrap_or_else(|e| panic!("cycle {cycle}: list: {e:#}"));
        vultr
            .delete_instances(&all)
            .unwrap_or_else(|e| panic!("cycle {cycle}: delete: {e:#}"));
        vultr
            .cleanup_network()
            .unwrap_or_else(|e| panic!("cycle {cycle}: cleanup: {e:#}"));
        let state = fake.state();
        assert!(
            state.tagged("bench-s").is_empty(),
            "cycle {cycle}: instances left"
        );
        assert_eq!(
            state.network_left(&description, "consensus-bench-bench-s-"),
            (0, 0),
            "cycle {cycle}: firewall group or SSH key left"
        );
    }
    let schedule = proxy.schedule();
    let injected = schedule.injected();
    let on_creates = schedule.injected_on("POST /v2/instances");
    let state = fake.state();
    println!(
        "soak: seed {seed}, {cycles} cycles, {} requests, faults injected {injected:?}, on \
         instance creates {on_creates:?}, locked refusals {}, instances created {}, duplicates \
         0, orphans 0, progress lines {}",
        schedule.requests(),
        state.locked_refusals,
        state.creates.len(),
        lines(&said).len()
    );
    schedule.assert_injected(&[
        "throttle",
        "5xx",
        "5xx after acting",
        "connection reset",
        "answer lost after acting",
        "delay",
    ]);
}

#[test]
fn the_deadline_is_recorded_as_a_tag_and_rewritten_when_re_armed() {
    use chrono::{TimeZone, Utc};
    let fake = FakeVultr::start(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let vultr = provider(&fake, dir.path(), &["ewr"], "vc2-1c-1gb").with_retry(fast_retry());
    let first = Utc
        .with_ymd_and_hms(2030, 1, 2, 3, 4, 5)
        .single()
        .expect("time");
    let created = vultr
        .create_instances(&xtask::testbed::CreateRequest {
            region: "ewr",
            count: 2,
            deadline: first,
            attempt: "a1",
        })
        .expect("create");
    assert!(
        created.iter().all(|i| i.deadline == Some(first)),
        "{created:?}"
    );
    let listed = vultr.list_instances().expect("list");
    assert_eq!(listed.len(), 2);
    assert!(
        listed.iter().all(|i| i.deadline == Some(first)),
        "{listed:?}"
    );

    let later = first + chrono::Duration::hours(5);
    vultr.record_deadline(&listed[..1], later).expect("record");
    let mut deadlines: Vec<_> = vultr
        .list_instances()
        .expect("still the testbed's")
        .into_iter()
        .map(|i| i.deadline)
        .collect();
    deadlines.sort();
    assert_eq!(deadlines, [Some(first), Some(later)]);
    assert!(fake.state().tagged("bench-v").iter().all(|i| i
        .tags
        .iter()
        .filter(|t| t.starts_with("consensus-bench-deadline-"))
        .count()
        == 1));
}

#[test]
fn a_create_whose_answer_never_comes_is_looked_up_not_sent_again() {
    let fake = FakeVultr::start(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let (vultr, said) = recorded(provider(&fake, dir.path(), &["ewr"], "vc2-1c-1gb"));
    let vultr = vultr.with_request_timeout(Duration::from_millis(300));
    // Vultr creates the instance but its answer comes after the client stopped waiting.
    fake.state()
        .inject_stall("POST", "/instances", Duration::from_millis(1200), 1);
    let created = common::create(&vultr, "ewr", 2).expect("create");
    assert_eq!(created.len(), 2);
    let state = fake.state();
    let labels: Vec<&str> = state.creates.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(labels, ["bench-v-ewr-0", "bench-v-ewr-1"]);
    assert_eq!(state.tagged("bench-v").len(), 2);
    drop(state);
    let said = lines(&said);
    assert_a_line_says(&said, &["bench-v-ewr-0", "no clear answer"]);
}
