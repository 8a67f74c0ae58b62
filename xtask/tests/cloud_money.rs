//! What a testbed still costs and who ends it, against the fake Vultr API: stop's halted-and-
//! billed wording, a renamed testbed found and destroyed by id, two deploys of one testbed at
//! once leaving exactly N per region, a killed lock holder taken over, destroy then deploy with a
//! new TTL, and a passed deadline ending in deleted (not halted) instances through the destroy
//! scheduled on this machine; and a soak of concurrent deploys and renames through a proxy
//! injecting faults.

mod common;
mod fake_vultr;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use clap::Parser;
use common::{
    fault_proxy::FaultProxy,
    faults::{Rates, Schedule},
};
use fake_vultr::FakeVultr;
use rand::{Rng, SeedableRng};
use xtask::{
    cli::Cli,
    commands::testbed::{deploy::deploy, expiry, lifecycle, status, Console, WaitOptions},
    settings::LoadedSettings,
    state_lock::{TestbedLock, Waiting},
    testbed::{
        self,
        vultr::{locked::LockWait, types::deadline_tag, VultrProvider},
        Provider, RetryPolicy,
    },
    workspace::testbed_state_dir,
};

const TOKEN: &str = "VULTR-MONEY-KEY-0c41d2";

fn fast_wait() -> WaitOptions {
    WaitOptions {
        timeout: Duration::from_secs(30),
        interval: Duration::from_millis(20),
    }
}

/// Settings of testbed `id` on the fake, as loaded and as a file (for command lines).
fn testbed_on(
    fake: &FakeVultr,
    dir: &Path,
    id: &str,
    regions: &[&str],
) -> (LoadedSettings, PathBuf) {
    let settings = fake_vultr::settings(dir, &fake.endpoint(), TOKEN, id, regions, "vc2-1c-1gb");
    let file = dir.join(format!("settings-{id}.json"));
    let json = fake_vultr::settings_json(
        dir,
        &fake.endpoint(),
        id,
        regions,
        "vc2-1c-1gb",
        &dir.join("vultr-token"),
    );
    std::fs::write(&file, serde_json::to_string(&json).expect("json")).expect("write settings");
    (settings, file)
}

/// Runs `cargo xtask --settings FILE ARGS...` in this process.
fn cli(settings_file: &Path, args: &[&str]) -> anyhow::Result<()> {
    let mut argv = vec![
        "xtask",
        "--settings",
        settings_file.to_str().expect("utf-8"),
    ];
    argv.extend_from_slice(args);
    xtask::commands::run(Cli::try_parse_from(argv).expect("arguments"))
}

fn count_in(fake: &FakeVultr, id: &str, region: &str) -> usize {
    fake.state()
        .tagged(id)
        .iter()
        .filter(|i| i.region == region)
        .count()
}

#[test]
fn stopping_on_vultr_asks_and_says_the_halted_instances_are_still_billed() {
    let fake = FakeVultr::start(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let id = common::unique_testbed("money-stop");
    let (settings, _) = testbed_on(&fake, dir.path(), &id, &["ewr", "ams"]);
    let provider = testbed::provider(&settings).expect("provider");
    deploy(
        provider.as_ref(),
        &settings,
        &fake_vultr::deploy_options(1, fast_wait()),
        Console::batch(),
    )
    .expect("deploy");
    // Without --yes and without a terminal, the question is the refusal.
    let err = format!(
        "{:#}",
        lifecycle::confirm_stop(provider.as_ref(), &id, false, Console::batch())
            .expect_err("asked")
    );
    assert!(
        err.contains("billed the whole plan price")
            && err.contains(&format!("testbed destroy --testbed-id {id}")),
        "{err}"
    );
    lifecycle::confirm_stop(provider.as_ref(), &id, true, Console::batch()).expect("--yes");
    assert_eq!(lifecycle::stop(provider.as_ref()).expect("stop").len(), 2);
    let instances = provider.list_instances().expect("list");
    let text =
        status::money(provider.as_ref(), &id, &instances, chrono::Utc::now()).expect("status");
    // Two halted vc2-1c-1gb at $5/month: 2 x 5 / 672 per hour, the whole plan price.
    assert!(text.contains("cost now: $0.0149 per hour"), "{text}");
    assert!(
        text.contains("2 stopped instance(s) still cost $0.0149 per hour: a halted Vultr")
            && text.contains("only `testbed destroy` ends the charges"),
        "{text}"
    );
    assert!(text.contains("NOTHING ends the charges"), "{text}");
    common::destroy(provider.as_ref()).expect("destroy");
}

#[test]
fn a_renamed_testbed_is_listed_with_its_destroy_command_and_destroyed_by_id() {
    let fake = FakeVultr::start(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let old = common::unique_testbed("money-old");
    let new = common::unique_testbed("money-new");
    let (old_settings, _) = testbed_on(&fake, dir.path(), &old, &["ewr", "fra"]);
    let old_provider = testbed::provider(&old_settings).expect("provider");
    deploy(
        old_provider.as_ref(),
        &old_settings,
        &fake_vultr::deploy_options(1, fast_wait()),
        Console::batch(),
    )
    .expect("deploy the old name");
    let foreign = {
        let mut state = fake.state();
        vec![
            state.seed_instance("ewr", "web", &[], true),
            // The user's own tag equal to nothing of ours, and no deadline tag: not the tool's.
            state.seed_instance("ams", "db", &["money-db"], true),
        ]
    };
    // `testbed_id` renamed in the settings: the old instances are not this testbed's any more.
    let (new_settings, new_file) = testbed_on(&fake, dir.path(), &new, &["ewr"]);
    let provider = testbed::provider(&new_settings).expect("provider");
    assert!(provider.list_instances().expect("list").is_empty());
    let text = status::others(
        provider.as_ref(),
        &new,
        &provider.sweep_account(),
        chrono::Utc::now(),
    )
    .expect("others");
    assert!(text.contains(&old), "{text}");
    assert!(text.contains("2 running"), "{text}");
    assert!(
        text.contains(&format!("cargo xtask testbed destroy --testbed-id {old}")),
        "{text}"
    );
    assert!(
        !text.contains("money-db") && !text.contains("web"),
        "{text}"
    );
    cli(
        &new_file,
        &["testbed", "destroy", "--testbed-id", &old, "--yes"],
    )
    .expect("destroy by id");
    assert!(fake.state().tagged(&old).is_empty());
    let mut left = fake.state().ids();
    left.sort();
    let mut expected = foreign;
    expected.sort();
    assert_eq!(left, expected, "untagged instances are never touched");
}

/// Runs `deploy` twice at once, from two threads started at a barrier, the second after
/// `pause`; panics naming `cycle` if either fails.
fn twice_at_once(cycle: u64, pause: Duration, deploy: impl Fn() -> anyhow::Result<()> + Sync) {
    let start = std::sync::Barrier::new(2);
    std::thread::scope(|scope| {
        let runs: Vec<_> = [Duration::ZERO, pause]
            .into_iter()
            .map(|pause| {
                let (start, deploy) = (&start, &deploy);
                scope.spawn(move || {
                    start.wait();
                    std::thread::sleep(pause);
                    deploy()
                })
            })
            .collect();
        for run in runs {
            run.join()
                .expect("thread")
                .unwrap_or_else(|e| panic!("cycle {cycle}: deploy: {e:#}"));
        }
    });
}

/// Two deploys of one testbed from two machines (no shared lock) at once, `SOAK_CYCLES`
/// times (default 3) with the second started after a delay drawn from `SOAK_SEED` (0 to 2
/// ms): each region ends with exactly the N asked for, although both created (the race
/// happened: more instances were created than asked for).
#[test]
fn two_concurrent_deploys_leave_exactly_n_per_region() {
    let (cycles, seed) = common::faults::soak_parameters(3);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let regions = ["ewr", "ams", "fra"];
    const PER_REGION: usize = 2;
    let fake = FakeVultr::start(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let id = common::unique_testbed("money-race");
    let (settings, _) = testbed_on(&fake, dir.path(), &id, &regions);
    let mut surplus_created = 0;
    for cycle in 0..cycles {
        let pause = Duration::from_micros(rng.gen_range(0..2000));
        let creates_before = fake.state().creates.len();
        twice_at_once(cycle, pause, || {
            let provider = testbed::provider(&settings).expect("provider");
            deploy(
                provider.as_ref(),
                &settings,
                &fake_vultr::deploy_options(PER_REGION, fast_wait()),
                Console::batch(),
            )
            .map(drop)
        });
        for region in regions {
            assert_eq!(
                count_in(&fake, &id, region),
                PER_REGION,
                "cycle {cycle}: {region}"
            );
        }
        surplus_created += fake.state().creates.len() - creates_before - PER_REGION * 3;
        let provider = testbed::provider(&settings).expect("provider");
        common::destroy(provider.as_ref()).expect("destroy");
    }
    assert!(
        surplus_created > 0,
        "the two deploys never raced: the test showed nothing"
    );
    println!(
        "concurrent deploys: seed {seed}, {cycles} cycles, {surplus_created} instances created \
         in surplus and removed, 0 left over"
    );
}

/// A deploy killed while it holds the testbed's lock: a second command is refused with
/// `--no-wait` (naming the holder) while it lives, and takes the lock over once it is gone.
#[test]
fn a_killed_lock_holder_is_taken_over() {
    let fake = FakeVultr::start(TOKEN);
    // The deploy never sees its instance come up: it waits, holding the lock.
    fake.state().polls_until_active = u32::MAX;
    let dir = tempfile::tempdir().expect("tmp");
    let id = common::unique_testbed("money-lock");
    let (_, file) = testbed_on(&fake, dir.path(), &id, &["ewr"]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--settings")
        .arg(&file)
        .args([
            "testbed",
            "deploy",
            "--instances",
            "1",
            "--yes",
            "--skip-setup",
            "--wait-timeout",
            "5",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start xtask");
    let pid = child.id();
    let lock_file = testbed_state_dir(&id).join("lock");
    // It holds the lock once its create went out (bounded: 60 s).
    let held = (0..600).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        fake.count("POST", "/instances") > 0
            && std::fs::read_to_string(&lock_file).is_ok_and(|t| t.contains(&format!("pid={pid}")))
    });
    assert!(held, "the deploy never took the lock and created");
    let err = format!(
        "{:#}",
        cli(&file, &["testbed", "destroy", "--yes", "--no-wait"]).expect_err("locked")
    );
    assert!(
        err.contains(&format!("pid {pid}")) && err.contains("`cargo xtask testbed deploy`"),
        "{err}"
    );
    child.kill().expect("kill");
    child.wait().expect("reaped");
    let lock = TestbedLock::acquire_in(
        &testbed_state_dir(&id),
        &id,
        "testbed destroy",
        Waiting::Refuse,
        &|_| {},
    )
    .expect("a killed holder's lock is free");
    let previous = lock.taken_over.clone().expect("the killed holder is named");
    assert!(
        previous.contains(&format!("pid {pid}")) && previous.contains("testbed deploy"),
        "{previous}"
    );
    drop(lock);
    // The killed deploy had scheduled the destroy at its deadline: destroy cancels it.
    fake.state().polls_until_active = 2;
    cli(&file, &["testbed", "destroy", "--yes"]).expect("destroy");
    assert!(fake.state().tagged(&id).is_empty());
    assert!(
        expiry::scheduled(&id).is_none(),
        "the scheduled destroy is cancelled"
    );
}

/// A failed `deploy --ttl 48`, a destroy, then `deploy --ttl 1`: the new deploy's instances
/// power off in an hour, not at the failed attempt's deadline.
#[test]
fn destroy_then_deploy_takes_the_new_ttl() {
    let fake = FakeVultr::start(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let id = common::unique_testbed("money-ttl");
    let (_, file) = testbed_on(&fake, dir.path(), &id, &["ewr", "ams"]);
    // ewr's create is refused; ams gets its instance.
    fake.state().inject("POST", "/instances", 400, 1);
    let deploy_args = |ttl: &'static str| {
        [
            "testbed",
            "deploy",
            "--instances",
            "1",
            "--yes",
            "--skip-setup",
            "--ttl",
            ttl,
        ]
    };
    cli(&file, &deploy_args("48")).expect_err("a create was refused");
    assert!(testbed_state_dir(&id).join("deploy-attempt").exists());
    cli(&file, &["testbed", "destroy", "--yes"]).expect("destroy");
    assert!(
        !testbed_state_dir(&id).join("deploy-attempt").exists(),
        "destroy left nothing to resume"
    );
    assert!(expiry::scheduled(&id).is_none());
    cli(&file, &deploy_args("1")).expect("deploy --ttl 1");
    let expected = chrono::Utc::now() + chrono::Duration::hours(1);
    let instances = fake.state().tagged(&id);
    assert_eq!(instances.len(), 2);
    for instance in &instances {
        let deadline = instance
            .tags
            .iter()
            .find_map(|t| testbed::vultr::types::parse_deadline_tag(t))
            .expect("deadline tag");
        assert!(
            (deadline - expected).num_minutes().abs() <= 5,
            "{deadline} is not an hour from now"
        );
    }
    cli(&file, &["testbed", "destroy", "--yes"]).expect("destroy");
}

/// The destroy scheduled at the deadline, fired for real (a background process running the
/// orchestrator binary with a deadline already passed): the instances past their deadline are
/// deleted, not halted; one re-armed to a later deadline is kept, and the destroy is scheduled
/// again for it.
#[test]
fn a_passed_deadline_ends_in_deleted_instances_not_halted_ones() {
    let fake = FakeVultr::start(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let id = common::unique_testbed("money-ttl-end");
    let (_, file) = testbed_on(&fake, dir.path(), &id, &["ewr"]);
    let now = chrono::Utc::now();
    let passed = deadline_tag(now - chrono::Duration::minutes(5));
    let later_time = now + chrono::Duration::hours(3);
    let later = deadline_tag(later_time);
    let (expired, kept) = {
        let mut state = fake.state();
        (
            vec![
                state.seed_instance("ewr", "a", &[&id, &passed], true),
                state.seed_instance("ams", "b", &[&id, &passed], true),
            ],
            state.seed_instance("ewr", "c", &[&id, &later], true),
        )
    };
    expiry::schedule_with(
        Path::new(env!("CARGO_BIN_EXE_xtask")),
        &file,
        &id,
        now - chrono::Duration::minutes(5),
        expiry::Mechanism::Process,
    )
    .expect("schedule");
    // Bounded: 120 s for the process to start and delete.
    let done = (0..1200).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        let ids = fake.state().ids();
        expired.iter().all(|e| !ids.contains(e))
            && expiry::scheduled(&id)
                .is_some_and(|(s, _)| s.deadline.timestamp() == later_time.timestamp())
    });
    let log = std::fs::read_to_string(testbed_state_dir(&id).join("scheduled-destroy.log"))
        .unwrap_or_default();
    assert!(done, "the scheduled destroy did not run: {log}");
    assert_eq!(fake.state().ids(), [kept], "{log}");
    assert!(
        fake.requests().iter().all(|r| !r.path.ends_with("/halt")),
        "an instance was halted"
    );
    assert_eq!(
        expired
            .iter()
            .filter(|e| fake.count("DELETE", &format!("/instances/{e}")) > 0)
            .count(),
        2
    );
    expiry::cancel(&id).expect("cancel");
}

/// A provider of `settings` that retries and waits for Vultr's lock in milliseconds.
fn fast_provider(settings: &LoadedSettings) -> VultrProvider {
    VultrProvider::new(settings)
        .expect("provider")
        .with_retry(RetryPolicy {
            attempts: 6,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
        })
        .with_lock_wait(LockWait {
            limit: Duration::from_secs(60),
            first_pause: Duration::from_millis(20),
            max_pause: Duration::from_millis(100),
        })
}

/// `SOAK_CYCLES` (default 2) cycles through a proxy injecting faults drawn from `SOAK_SEED`
/// (at most 1 in a row on one request: the two deploys share the proxy's count, so one of them
/// may meet two in a row, which its retries absorb): two deploys of one testbed from two machines at once
/// (2 instances in each of 3 regions), then `testbed_id` renamed and the new one deployed, the
/// old one found among the account's testbeds and destroyed by id, then the new one destroyed.
/// After the deploys every region holds exactly 2 (no duplicate), and after the destroys
/// nothing of either testbed is left (no orphan: instances, firewall groups, SSH keys).
#[test]
fn concurrent_deploys_and_renames_under_injected_faults_never_overshoot_or_orphan() {
    let (cycles, seed) = common::faults::soak_parameters(2);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let regions = ["ewr", "ams", "fra"];
    const PER_REGION: usize = 2;
    let fake = FakeVultr::start(TOKEN);
    fake.state().lock_duration = Duration::from_millis(100);
    let proxy = FaultProxy::start(
        fake.address(),
        Schedule::new(seed, Rates::harsh(), 1),
        fake_vultr::VultrDialect,
    );
    let endpoint = format!("{}/v2", proxy.url());
    let dir = tempfile::tempdir().expect("tmp");
    let on_proxy = |id: &str, regions: &[&str]| {
        fake_vultr::settings(dir.path(), &endpoint, TOKEN, id, regions, "vc2-1c-1gb")
    };
    let (mut surplus, mut duplicates, mut orphans) = (0, 0, 0);
    for cycle in 0..cycles {
        let old = common::unique_testbed("soak-old");
        let new = common::unique_testbed("soak-new");
        let old_settings = on_proxy(&old, &regions);
        let creates_before = fake.state().creates.len();
        let pause = Duration::from_micros(rng.gen_range(0..2000));
        twice_at_once(cycle, pause, || {
            deploy(
                &fast_provider(&old_settings),
                &old_settings,
                &fake_vultr::deploy_options(PER_REGION, fast_wait()),
                Console::batch(),
            )
            .map(drop)
        });
        for region in regions {
            let n = count_in(&fake, &old, region);
            duplicates += n.saturating_sub(PER_REGION);
            assert_eq!(n, PER_REGION, "cycle {cycle}: {region} holds {n}");
        }
        surplus += fake.state().creates.len() - creates_before - PER_REGION * regions.len();

        // `testbed_id` renamed: the new testbed deploys, and finds the old one in the account.
        let new_settings = on_proxy(&new, &["ewr"]);
        let provider = fast_provider(&new_settings);
        deploy(
            &provider,
            &new_settings,
            &fake_vultr::deploy_options(1, fast_wait()),
            Console::batch(),
        )
        .unwrap_or_else(|e| panic!("cycle {cycle}: deploy the new name: {e:#}"));
        let text = status::others(
            &provider,
            &new,
            &provider.sweep_account(),
            chrono::Utc::now(),
        )
        .unwrap_or_else(|e| panic!("cycle {cycle}: others: {e:#}"));
        assert!(
            text.contains(&old) && text.contains(&format!("--testbed-id {old}")),
            "cycle {cycle}: the old testbed is not listed: {text}"
        );
        // What `testbed destroy --testbed-id OLD` runs: the old id's provider, every region.
        let destroy = |settings: &LoadedSettings| {
            lifecycle::destroy(
                &fast_provider(settings),
                lifecycle::DestroyOptions {
                    yes: true,
                    ..Default::default()
                },
                Console::batch(),
            )
            .map(drop)
        };
        destroy(&old_settings).unwrap_or_else(|e| panic!("cycle {cycle}: destroy old: {e:#}"));
        destroy(&new_settings).unwrap_or_else(|e| panic!("cycle {cycle}: destroy new: {e:#}"));
        let state = fake.state();
        for id in [&old, &new] {
            let left = state.tagged(id).len();
            let network = state.network_left(
                &testbed::vultr::resources::firewall_description(id),
                &format!("consensus-bench-{id}-"),
            );
            orphans += left + network.0 + network.1;
            assert_eq!(
                (left, network),
                (0, (0, 0)),
                "cycle {cycle}: {id} left instances, firewall groups or SSH keys"
            );
        }
    }
    assert!(
        surplus > 0,
        "the two deploys never raced: the test showed nothing"
    );
    let schedule = proxy.schedule();
    println!(
        "concurrent deploys and renames: seed {seed}, {cycles} cycles, {} requests, faults \
         injected {:?}, {surplus} instances created in surplus and removed, duplicates \
         {duplicates}, orphans {orphans}",
        schedule.requests(),
        schedule.injected(),
    );
    schedule.assert_injected(&[
        "throttle",
        "5xx",
        "5xx after acting",
        "connection reset",
        "answer lost after acting",
    ]);
}
