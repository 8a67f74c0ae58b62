//! The provider-agnostic `testbed` commands on a Vultr testbed served by the fake Vultr API:
//! idempotent deploys, destroy after an interrupted deploy, status, start and stop, bad input
//! caught by the pre-flight with nothing created. And the host set-up against real sshd hosts.

mod common;
mod fake_vultr;

use std::{net::TcpListener, path::Path, time::Duration};

use clap::Parser;
use fake_vultr::FakeVultr;
use xtask::{
    cli::Cli,
    commands::testbed::{
        deploy::{deploy, DeployOptions},
        lifecycle, status, Console, WaitOptions,
    },
    settings::LoadedSettings,
    ssh::{SshClient, SshOptions},
    testbed::{
        self,
        host_setup::{self, ClockSync, SetupOptions, Tool},
        Instance, InstanceState, Provider,
    },
};

const TOKEN: &str = "VULTR-CMD-KEY-81d0e7";

fn fast_wait() -> WaitOptions {
    WaitOptions {
        timeout: Duration::from_secs(20),
        interval: Duration::from_millis(20),
    }
}

fn later() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() + chrono::Duration::hours(2)
}

fn options(instances: usize) -> DeployOptions {
    fake_vultr::deploy_options(instances, fast_wait())
}

fn testbed(fake: &FakeVultr, dir: &Path, regions: &[&str]) -> (LoadedSettings, Box<dyn Provider>) {
    let mut settings = fake_vultr::settings(
        dir,
        &fake.endpoint(),
        TOKEN,
        "bench-c",
        regions,
        "vc2-1c-1gb",
    );
    // The public key only: nothing here may log into the fake's (unroutable) addresses.
    settings
        .testbed
        .cloud_mut()
        .expect("cloud")
        .ssh_private_key_file = None;
    let provider = testbed::provider(&settings).expect("provider");
    (settings, provider)
}

fn per_region(fake: &FakeVultr, region: &str) -> usize {
    fake.state()
        .tagged("bench-c")
        .iter()
        .filter(|i| i.region == region)
        .count()
}

#[test]
fn deploy_counts_existing_instances_toward_n() {
    let fake = FakeVultr::start(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let (settings, provider) = testbed(&fake, dir.path(), &["ewr", "ams"]);

    let first =
        deploy(provider.as_ref(), &settings, &options(2), Console::batch()).expect("deploy 2");
    assert_eq!(first.created.len(), 4);
    assert_eq!(first.ready.len(), 4);
    assert!(first.ready.iter().all(Instance::is_running));
    assert!(first.setup.is_none(), "set-up skipped");
    assert_eq!((per_region(&fake, "ewr"), per_region(&fake, "ams")), (2, 2));

    fake.clear_log();
    let second = deploy(provider.as_ref(), &settings, &options(2), Console::batch())
        .expect("deploy 2 again");
    assert!(second.created.is_empty());
    assert_eq!(fake.count("POST", "/instances"), 0);
    assert_eq!((per_region(&fake, "ewr"), per_region(&fake, "ams")), (2, 2));

    let third =
        deploy(provider.as_ref(), &settings, &options(3), Console::batch()).expect("deploy 3");
    assert_eq!(third.created.len(), 2, "one more per region");
    assert_eq!((per_region(&fake, "ewr"), per_region(&fake, "ams")), (3, 3));
    let ewr = third
        .needs
        .iter()
        .find(|p| p.region == "ewr")
        .expect("ewr needs");
    assert_eq!((ewr.existing, ewr.to_create), (2, 1));
    assert!((ewr.price_per_hour.expect("price") - 5.0 / 672.0).abs() < 1e-9);

    let mut only_ewr = options(4);
    only_ewr.region = Some("ewr".into());
    let fourth =
        deploy(provider.as_ref(), &settings, &only_ewr, Console::batch()).expect("deploy ewr");
    assert_eq!(fourth.created.len(), 1);
    assert_eq!((per_region(&fake, "ewr"), per_region(&fake, "ams")), (4, 3));

    // Stopped instances still belong to the testbed: they count too.
    provider
        .stop_instances(&provider.list_instances().expect("list"))
        .expect("stop");
    let fifth =
        deploy(provider.as_ref(), &settings, &options(3), Console::batch()).expect("deploy 3");
    assert!(fifth.created.is_empty());
}

#[test]
fn deploy_asks_first_and_refuses_without_a_terminal() {
    let fake = FakeVultr::start(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let (settings, provider) = testbed(&fake, dir.path(), &["ewr"]);
    let mut no_yes = options(2);
    no_yes.yes = false;
    let err = format!(
        "{:#}",
        deploy(provider.as_ref(), &settings, &no_yes, Console::batch()).expect_err("refused")
    );
    assert!(
        err.contains("--yes") && err.contains("not a terminal"),
        "{err}"
    );
    assert!(fake.mutations().is_empty(), "{:#?}", fake.mutations());
}

#[test]
fn destroy_finds_the_pending_instances_of_an_interrupted_deploy_and_nothing_else() {
    let fake = FakeVultr::start(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let (settings, provider) = testbed(&fake, dir.path(), &["ewr", "ams"]);
    let others = {
        let mut state = fake.state();
        state.polls_until_active = u32::MAX;
        vec![
            state.seed_instance("ewr", "bench-c-ewr-0", &["bench-c-old"], true),
            state.seed_instance("ams", "bench-c-ams-0", &[], true),
            state.seed_instance("ams", "mine", &["personal", "web"], false),
        ]
    };
    // The instances never come up: the deploy gives up waiting and leaves them pending.
    let mut impatient = options(2);
    impatient.wait.timeout = Duration::from_millis(200);
    let err = format!(
        "{:#}",
        deploy(provider.as_ref(), &settings, &impatient, Console::batch()).expect_err("times out")
    );
    assert!(
        err.contains("still not running") && err.contains("testbed destroy"),
        "{err}"
    );
    let pending = fake.state().tagged("bench-c");
    assert_eq!(pending.len(), 4);
    assert!(pending.iter().all(|i| i.status == "pending"));

    // Without --yes and without a terminal, nothing is deleted.
    assert!(lifecycle::destroy(
        provider.as_ref(),
        lifecycle::DestroyOptions::default(),
        Console::batch()
    )
    .is_err());
    assert_eq!(fake.state().tagged("bench-c").len(), 4);

    let deleted = common::destroy(provider.as_ref()).expect("destroy");
    assert_eq!(deleted.len(), 4);
    assert!(deleted.iter().all(|i| i.state == InstanceState::Pending));
    assert!(fake.state().tagged("bench-c").is_empty());
    let left = fake.state().ids();
    assert_eq!(left, others, "instances of others are untouched");

    // Safe to re-run: nothing left, nothing deleted.
    fake.clear_log();
    let again = common::destroy(provider.as_ref()).expect("destroy again");
    assert!(again.is_empty());
    assert!(fake.mutations().is_empty());
}

#[test]
fn deploy_resumes_an_interrupted_deploy() {
    let fake = FakeVultr::start(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let (settings, provider) = testbed(&fake, dir.path(), &["fra"]);
    fake.state().polls_until_active = u32::MAX;
    let mut impatient = options(2);
    impatient.wait.timeout = Duration::from_millis(100);
    deploy(provider.as_ref(), &settings, &impatient, Console::batch()).expect_err("times out");
    // The instances come up later; the next deploy creates nothing and waits for them.
    fake.state().polls_until_active = 2;
    for instance in fake.state().instances.iter_mut() {
        instance.polls = 0;
    }
    let resumed =
        deploy(provider.as_ref(), &settings, &options(2), Console::batch()).expect("resume");
    assert!(resumed.created.is_empty());
    assert_eq!(resumed.ready.len(), 2);
    assert!(resumed.ready.iter().all(Instance::is_running));
    assert_eq!(fake.state().tagged("bench-c").len(), 2);
}

#[test]
fn status_shows_ids_addresses_states_and_counts_per_region() {
    let fake = FakeVultr::start(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let (settings, provider) = testbed(&fake, dir.path(), &["ewr", "ams", "nrt"]);
    let mut two = options(2);
    two.region = Some("ewr".into());
    deploy(provider.as_ref(), &settings, &two, Console::batch()).expect("ewr");
    let mut one = options(1);
    one.region = Some("ams".into());
    deploy(provider.as_ref(), &settings, &one, Console::batch()).expect("ams");
    let instances = provider.list_instances().expect("list");
    let ewr: Vec<&Instance> = instances.iter().filter(|i| i.region == "ewr").collect();
    provider
        .stop_instances(&[ewr[0].clone()])
        .expect("stop one");

    let instances = provider.list_instances().expect("list");
    let text = status::render(
        &instances,
        settings.testbed.regions(),
        chrono::Utc::now(),
        false,
    );
    for instance in &instances {
        assert!(
            text.contains(&instance.id),
            "{} missing:\n{text}",
            instance.id
        );
        let ip = instance.public_ip.as_deref().expect("address");
        assert!(text.contains(ip), "{ip} missing:\n{text}");
    }
    assert!(text.contains("ewr: 1 running, 1 stopped"), "{text}");
    assert!(text.contains("ams: 1 running\n"), "{text}");
    assert!(text.contains("nrt: no instances"), "{text}");
    assert!(
        text.contains("stopped") && text.contains("running"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "no colour asked:\n{text}");
    let coloured = status::render(
        &instances,
        settings.testbed.regions(),
        chrono::Utc::now(),
        true,
    );
    assert!(coloured.contains("\u{1b}[32m1 running"), "{coloured}");
    assert!(coloured.contains("\u{1b}[31m1 stopped"), "{coloured}");
}

#[test]
fn stop_then_start_some_or_all() {
    let fake = FakeVultr::start(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let (settings, provider) = testbed(&fake, dir.path(), &["ewr", "ams"]);
    deploy(provider.as_ref(), &settings, &options(2), Console::batch()).expect("deploy");
    assert_eq!(lifecycle::stop(provider.as_ref()).expect("stop").len(), 4);
    let running = |p: &dyn Provider| {
        p.list_instances()
            .expect("list")
            .iter()
            .filter(|i| i.is_running())
            .count()
    };
    assert_eq!(running(provider.as_ref()), 0);
    let started = lifecycle::start(provider.as_ref(), &settings, Some(1), later(), &fast_wait())
        .expect("start 1 per region");
    assert_eq!(started.len(), 2);
    let mut regions: Vec<&str> = started.iter().map(|i| i.region.as_str()).collect();
    regions.sort_unstable();
    assert_eq!(regions, ["ams", "ewr"]);
    assert_eq!(running(provider.as_ref()), 2);
    assert_eq!(
        lifecycle::start(provider.as_ref(), &settings, None, later(), &fast_wait())
            .expect("start all")
            .len(),
        2
    );
    assert_eq!(running(provider.as_ref()), 4);
}

/// Runs `cargo xtask --settings FILE testbed deploy ...` through the command dispatcher.
fn cli_deploy(settings_file: &Path, extra: &[&str]) -> anyhow::Result<()> {
    let mut argv = vec!["xtask", "--settings"];
    argv.push(settings_file.to_str().expect("utf-8"));
    argv.extend([
        "testbed",
        "deploy",
        "--instances",
        "2",
        "--yes",
        "--skip-setup",
    ]);
    argv.extend_from_slice(extra);
    xtask::commands::run(Cli::try_parse_from(argv).expect("arguments"))
}

#[test]
fn bad_input_fails_before_anything_is_created() {
    let fake = FakeVultr::start(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    // Key pair and token file for the cases.
    fake_vultr::settings(
        dir.path(),
        &fake.endpoint(),
        TOKEN,
        "bench-c",
        &["ewr"],
        "vc2-1c-1gb",
    );
    let token_file = dir.path().join("vultr-token");
    let wrong_token = dir.path().join("wrong-token");
    std::fs::write(&wrong_token, "NOT-THE-KEY-3c3c\n").expect("write");
    let missing_token = dir.path().join("no-such-token");
    let write = |name: &str, regions: &[&str], specs: &str, token: &Path| {
        let settings = fake_vultr::settings_json(
            dir.path(),
            &fake.endpoint(),
            "bench-c",
            regions,
            specs,
            token,
        );
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_string(&settings).expect("json")).expect("write");
        path
    };
    let cases: Vec<(&str, std::path::PathBuf, Vec<&str>, Vec<&str>)> = vec![
        (
            "unknown region",
            write("a.json", &["ewr", "atlantis"], "vc2-1c-1gb", &token_file),
            vec![],
            vec!["atlantis", "pre-flight"],
        ),
        (
            "bad plan",
            write("b.json", &["ewr"], "vc2-99c-1tb", &token_file),
            vec![],
            vec!["vc2-99c-1tb", "specs"],
        ),
        (
            "missing token file",
            write("c.json", &["ewr"], "vc2-1c-1gb", &missing_token),
            vec![],
            vec!["token_file", "no-such-token"],
        ),
        (
            "region not in the settings",
            write("d.json", &["ewr"], "vc2-1c-1gb", &token_file),
            vec!["--region", "ams"],
            vec!["--region ams", "regions"],
        ),
        (
            "refused key",
            write("e.json", &["ewr"], "vc2-1c-1gb", &wrong_token),
            vec![],
            vec!["401", "allow-list"],
        ),
    ];
    for (name, path, extra, expected) in cases {
        fake.clear_log();
        let err = cli_deploy(&path, &extra).expect_err(name);
        let text = format!("{err:#}");
        for part in expected {
            assert!(text.contains(part), "{name}: {part:?} not in: {text}");
        }
        for secret in [TOKEN, "NOT-THE-KEY-3c3c"] {
            assert!(
                !text.contains(secret) && !format!("{err:?}").contains(secret),
                "{name}: key leaked: {text}"
            );
        }
        assert!(
            fake.mutations().is_empty(),
            "{name}: {:#?}",
            fake.mutations()
        );
        if name == "missing token file" || name == "region not in the settings" {
            assert!(fake.requests().is_empty(), "{name}: the API was contacted");
        }
    }
    assert!(fake.state().instances.is_empty());
    assert!(fake.state().ssh_keys.is_empty());
    assert!(fake.state().firewalls.is_empty());
}

fn ssh_client(name: &str) -> (tempfile::TempDir, SshClient) {
    let state = tempfile::tempdir().expect("tmp");
    let mut options = SshOptions::new(Some(common::client_key()), state.path(), name);
    options.connect_timeout = Duration::from_secs(3);
    options.connect_attempts = 2;
    (state, SshClient::new(options).expect("ssh client"))
}

/// A loopback address and port where nothing listens.
fn dead_host() -> Instance {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let mut host = common::instance(&common::hosts()[0]);
    host.id = "dead-host".into();
    host.public_ip = Some("127.0.0.1".into());
    host.ssh_port = port;
    host
}

#[test]
fn setup_configures_every_reachable_host_and_names_the_others() {
    let hosts: Vec<Instance> = common::hosts().iter().map(common::instance).collect();
    let (_state, ssh) = ssh_client("setup-hosts");
    let remote = tempfile::tempdir().expect("tmp");
    let mut options = SetupOptions::new(vec![(26000, 26999), (27000, 27999)]);
    options.state_dir = remote.path().join("state").display().to_string();
    let mut targets = hosts.clone();
    let dead = dead_host();
    targets.push(dead.clone());

    let results = host_setup::run(&ssh, &targets, &options);
    assert_eq!(results.len(), targets.len());
    for (host, result) in &results[..hosts.len()] {
        let report = result
            .as_ref()
            .unwrap_or_else(|e| panic!("{}: {e:#}", host.id));
        // Every tool is on these hosts: nothing may be installed.
        assert!(
            report.installed.is_empty(),
            "{}: {:?}",
            host.id,
            report.installed
        );
        assert!(
            report.open_files >= 1024,
            "{}: {}",
            host.id,
            report.open_files
        );
        // The validators' shell gets that limit by sourcing the session file.
        let session = format!("{}/{}", options.state_dir, host_setup::SESSION_FILE);
        let limit = ssh
            .run(host, &format!(". {session} && ulimit -n"))
            .expect("source the session file");
        assert_eq!(
            limit.stdout.trim(),
            report.open_files.to_string(),
            "{}",
            host.id
        );
    }
    let (_, failed) = &results[hosts.len()];
    let err = format!("{:#}", failed.as_ref().expect_err("nothing listens there"));
    assert!(
        err.contains(&format!("127.0.0.1:{}", dead.ssh_port)),
        "{err}"
    );

    let summary = host_setup::summarize(&results);
    assert_eq!(summary.lines.len(), hosts.len());
    assert_eq!(summary.failures.len(), 1);
    assert!(
        summary.failures[0].contains("dead-host"),
        "{:?}",
        summary.failures
    );
    // A host whose clock is not known to be synchronised is warned about, by name.
    for (host, result) in &results[..hosts.len()] {
        let clock = &result.as_ref().expect("report").clock;
        let warned = summary
            .warnings
            .iter()
            .any(|w| w.contains(&host.id) && w.contains("clock"));
        assert_eq!(
            warned,
            *clock != ClockSync::Synchronized,
            "{}: {:?}",
            host.id,
            summary.warnings
        );
    }
    ssh.disconnect_all(&hosts);
}

#[test]
fn setup_names_missing_tools_and_installs_nothing_when_told_not_to() {
    let hosts: Vec<Instance> = common::hosts().iter().map(common::instance).collect();
    let (_state, ssh) = ssh_client("setup-missing");
    let remote = tempfile::tempdir().expect("tmp");
    let mut options = SetupOptions::new(vec![]);
    options.state_dir = remote.path().display().to_string();
    options.install_missing = false;
    options.tools.push(Tool::new(
        "consensus-bench-absent-tool",
        "consensus-bench-absent-package",
    ));
    for (host, result) in host_setup::run(&ssh, &hosts, &options) {
        let err = format!("{:#}", result.expect_err("a tool is missing"));
        assert!(err.contains("consensus-bench-absent-package"), "{err}");
        assert!(
            err.contains(&format!(
                "{}:{}",
                host.public_ip.as_deref().unwrap_or_default(),
                host.ssh_port
            )),
            "{err}"
        );
        assert!(
            !err.contains("coreutils"),
            "present tools are not reported missing: {err}"
        );
    }
    ssh.disconnect_all(&hosts);
}
