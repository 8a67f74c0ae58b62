//! Ctrl-C during `testbed deploy` on a Vultr testbed served by the fake Vultr API: what was
//! created stays in the testbed, the message says so, and the next deploy picks it up. In a
//! file of its own: an interrupt is seen by every command of the process.

mod common;
mod fake_vultr;

use std::{path::Path, sync::Mutex, time::Duration};

use fake_vultr::FakeVultr;
use xtask::{
    commands::testbed::{
        deploy::{deploy, DeployOptions},
        Console, WaitOptions,
    },
    settings::LoadedSettings,
    testbed::{self, Instance, Provider},
};

const TOKEN: &str = "VULTR-INT-KEY-5c21aa";

/// One test at a time: the interrupt is process-wide.
static SERIAL: Mutex<()> = Mutex::new(());

fn options(instances: usize) -> DeployOptions {
    let wait = WaitOptions {
        timeout: Duration::from_secs(30),
        interval: Duration::from_millis(20),
    };
    fake_vultr::deploy_options(instances, wait)
}

/// Testbed `id` in regions ewr and ams of the fake, with its settings in `dir`.
fn vultr_testbed(fake: &FakeVultr, dir: &Path, id: &str) -> (LoadedSettings, Box<dyn Provider>) {
    let settings = fake_vultr::settings(
        dir,
        &fake.endpoint(),
        TOKEN,
        id,
        &["ewr", "ams"],
        "vc2-1c-1gb",
    );
    let provider = testbed::provider(&settings).expect("provider");
    (settings, provider)
}

#[test]
fn a_deploy_interrupted_while_waiting_leaves_its_instances_for_the_next_one() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let fake = FakeVultr::start(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let (settings, provider) = vultr_testbed(&fake, dir.path(), "bench-i");
    fake.state().polls_until_active = u32::MAX;
    // Ctrl-C once all four instances exist and the deploy is waiting for them to run.
    let waiting = || {
        let listed_after_create = fake
            .requests()
            .iter()
            .skip_while(|r| !(r.method == "POST" && r.path == "/instances"))
            .any(|r| r.method == "GET" && r.path.starts_with("/instances"));
        fake.state().tagged("bench-i").len() == 4 && listed_after_create
    };
    let result = common::interrupt_when(Duration::from_secs(60), waiting, || {
        deploy(provider.as_ref(), &settings, &options(2), Console::batch())
    });
    let err = format!("{:#}", result.expect_err("interrupted"));
    assert!(err.contains("interrupted while waiting for"), "{err}");
    assert!(
        err.contains("they stay in the testbed") && err.contains("`testbed deploy` picks them up"),
        "{err}"
    );
    let pending = fake.state().tagged("bench-i");
    assert_eq!(
        pending.len(),
        4,
        "the instances created stay in the testbed"
    );
    assert!(pending.iter().all(|i| i.status == "pending"));

    // They come up later: the next deploy creates nothing and waits for them.
    fake.state().polls_until_active = 2;
    for instance in fake.state().instances.iter_mut() {
        instance.polls = 0;
    }
    fake.clear_log();
    let resumed =
        deploy(provider.as_ref(), &settings, &options(2), Console::batch()).expect("resume");
    assert!(resumed.created.is_empty());
    assert_eq!(fake.count("POST", "/instances"), 0);
    assert_eq!(resumed.ready.len(), 4);
    assert!(resumed.ready.iter().all(Instance::is_running));
}

#[test]
fn a_deploy_interrupted_before_creating_creates_nothing_and_names_each_region() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let fake = FakeVultr::start(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let (settings, provider) = vultr_testbed(&fake, dir.path(), "bench-j");
    // Ctrl-C before the first region is created.
    let result = common::interrupted_from_the_start(|| {
        deploy(provider.as_ref(), &settings, &options(2), Console::batch())
    });
    let err = format!("{:#}", result.expect_err("interrupted"));
    assert!(err.contains("ewr: not deployed (interrupted)"), "{err}");
    assert!(err.contains("ams: not deployed (interrupted)"), "{err}");
    assert!(err.contains("re-run `testbed deploy`"), "{err}");
    assert_eq!(fake.count("POST", "/instances"), 0);
    assert!(fake.state().tagged("bench-j").is_empty());
}
