//! The AWS provider against a real EC2 emulator (moto) on loopback, started by `scripts/test`
//! (which exports `MOTO_ENDPOINT` and seeds Ubuntu images from `scripts/moto-amis.json`).
//! Tests run in parallel against one emulator: each uses its own testbed id.

mod common;

use std::{collections::BTreeMap, path::Path, time::Duration};

use aws_sdk_ec2::{
    config::{BehaviorVersion, Credentials, Region},
    types::{Filter, InstanceAttributeName},
    Client,
};
use base64::Engine;
use tempfile::TempDir;
use xtask::{
    commands::testbed::{
        deploy::{deploy, DeployOptions, DeployReport},
        lifecycle, status, Console, WaitOptions,
    },
    settings::{LoadedSettings, SettingsFile},
    testbed::{self, aws::AwsProvider, Instance, InstanceState, Provider},
};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const PUBLIC_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKl6nYbVq2v1nHbuwJ1VvQxv3RPt0vBB9zOk9o/S7n8z bench@test";
const TESTBED_TAG: &str = "consensus-bench:testbed";

/// What a pre-flight of `regions` says when it fails as it must (`why`), with its causes.
fn preflight_error(provider: &AwsProvider, regions: &[&str], why: &str) -> String {
    let regions: Vec<String> = regions.iter().map(|r| r.to_string()).collect();
    let err = provider.preflight(&regions).expect_err(why);
    format!("{err:#}")
}

/// Asserts that `text` contains every one of `parts`.
fn assert_says(text: &str, parts: &[&str]) {
    assert!(parts.iter().all(|p| text.contains(p)), "{text}");
}

/// The emulator. Outside `scripts/test` the test fails: it has not run against EC2.
fn moto() -> String {
    std::env::var("MOTO_ENDPOINT").expect(
        "MOTO_ENDPOINT is not set: run the tests with scripts/test, which starts the EC2 emulator",
    )
}

fn credentials_file() -> String {
    format!(
        "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = {SECRET}\n"
    )
}

/// A testbed of its own: settings in a temporary directory.
struct Bed {
    _dir: TempDir,
    settings: LoadedSettings,
}

impl Bed {
    fn new(regions: &[&str], specs: &str) -> Self {
        Self::with_credentials(regions, specs, &credentials_file())
    }

    fn with_credentials(regions: &[&str], specs: &str, credentials: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = settings_in(dir.path(), regions, specs, credentials)
            .validate()
            .expect("valid settings");
        Self {
            _dir: dir,
            settings,
        }
    }

    /// The same testbed with other `regions` and API endpoint (`None`: moto itself).
    fn variant(&self, regions: &[&str], endpoint: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = settings_in(
            dir.path(),
            regions,
            self.settings
                .testbed
                .cloud()
                .map_or("t3.micro", |c| c.specs.as_str()),
            &credentials_file(),
        );
        settings.testbed_id = self.id().to_string();
        settings.api_endpoint = Some(endpoint.map_or_else(moto, str::to_string));
        Self {
            _dir: dir,
            settings: settings.validate().expect("valid settings"),
        }
    }

    /// The provider, retrying with millisecond pauses (tests under injected faults).
    fn fast_provider(&self) -> AwsProvider {
        AwsProvider::with_retry(
            &self.settings,
            testbed::RetryPolicy {
                attempts: 6,
                initial_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_millis(20),
            },
        )
        .expect("provider")
    }

    fn id(&self) -> &str {
        &self.settings.common.testbed_id
    }

    fn provider(&self) -> AwsProvider {
        AwsProvider::new(&self.settings).expect("provider")
    }
}

fn settings_in(dir: &Path, regions: &[&str], specs: &str, credentials: &str) -> SettingsFile {
    let token = dir.join("credentials");
    std::fs::write(&token, credentials).expect("write credentials");
    // The public key only: nothing here may log into moto's (unreachable) addresses, and
    // status, stop, start and destroy need no private key.
    let key = dir.join("id_ed25519.pub");
    std::fs::write(&key, format!("{PUBLIC_KEY}\n")).expect("write key");
    let json = serde_json::json!({
        "testbed_id": common::unique_testbed("aws"),
        "cloud_provider": "aws",
        "token_file": token,
        "ssh_public_key_file": key,
        "regions": regions,
        "specs": specs,
        "disk_size_gb": 24,
        "ttl_hours": 3,
        "api_endpoint": moto(),
    });
    SettingsFile::parse(&json.to_string(), Path::new("settings.json")).expect("settings parse")
}

/// A client of the emulator, independent of the provider, to check what it did.
fn ec2(region: &str) -> Client {
    Client::from_conf(
        aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .endpoint_url(moto())
            .credentials_provider(Credentials::new("AKIATEST", "test", None, None, "test"))
            .build(),
    )
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

fn fast_wait() -> WaitOptions {
    WaitOptions {
        timeout: Duration::from_secs(60),
        interval: Duration::from_millis(50),
    }
}

/// `testbed deploy --instances n --yes --skip-setup` on `regions` of the settings; returns
/// how many instances it created.
fn deploy_n(provider: &dyn Provider, settings: &LoadedSettings, n: usize) -> usize {
    let report = try_deploy(provider, settings, n).expect("deploy");
    assert!(
        report.ready.iter().all(Instance::is_running),
        "{:?}",
        report.ready
    );
    report.created.len()
}

fn try_deploy(
    provider: &dyn Provider,
    settings: &LoadedSettings,
    n: usize,
) -> anyhow::Result<DeployReport> {
    let options = DeployOptions {
        instances: n,
        region: None,
        ttl_hours: None,
        yes: true,
        skip_setup: true,
        wait: fast_wait(),
    };
    deploy(provider, settings, &options, Console::batch())
}

fn per_region(instances: &[Instance]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for i in instances {
        *counts.entry(i.region.clone()).or_default() += 1;
    }
    counts
}

#[test]
fn preflight_finds_the_newest_ubuntu_2404_image_of_the_architecture() {
    let bed = Bed::new(&["us-east-1", "eu-west-3"], "t3.micro");
    let provider = bed.provider();
    provider
        .preflight(&["us-east-1".into(), "eu-west-3".into()])
        .expect("preflight");
    for region in ["us-east-1", "eu-west-3"] {
        // Seeded: older 24.04 builds (one with a higher serial in its name), a newer 22.04, a
        // newer image of another owner, a newer Pro image and newer arm64 ones.
        let image = provider.machine_image(region).expect("image");
        assert_eq!(image.id, "ami-0a2404a000000002", "{region}: {image:?}");
        assert_eq!(
            image.name,
            "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250115"
        );
    }
    let arm = Bed::new(&["eu-west-3"], "t4g.micro");
    let image = arm
        .provider()
        .machine_image("eu-west-3")
        .expect("arm image");
    assert_eq!(image.id, "ami-0a2404b000000001", "{image:?}");
}

#[test]
fn preflight_refuses_unknown_and_disabled_regions() {
    let bed = Bed::new(&["us-east-1", "xx-nowhere-1", "ap-east-1"], "t3.micro");
    let provider = bed.provider();
    let text = preflight_error(&provider, &["us-east-1", "xx-nowhere-1"], "unknown region");
    assert_says(&text, &["\"xx-nowhere-1\"", "does not exist"]);
    assert!(
        text.contains("eu-west-3"),
        "the known regions are listed: {text}"
    );
    // moto reports ap-east-1 as an opt-in region this account has not enabled.
    let text = preflight_error(&provider, &["ap-east-1"], "disabled region");
    assert_says(&text, &["\"ap-east-1\"", "not enabled"]);
}

#[test]
fn preflight_refuses_unknown_or_unoffered_instance_types() {
    let bed = Bed::new(&["us-east-1"], "zz.huge");
    let text = preflight_error(&bed.provider(), &["us-east-1"], "unknown type");
    assert_says(&text, &["\"zz.huge\"", "does not exist"]);
    // a1.large is offered in us-east-1, not in eu-west-3.
    let bed = Bed::new(&["us-east-1", "eu-west-3"], "a1.large");
    let regions = ["us-east-1", "eu-west-3"];
    let text = preflight_error(&bed.provider(), &regions, "not offered everywhere");
    assert_says(
        &text,
        &["\"a1.large\"", "not offered in AWS region eu-west-3"],
    );
    assert!(!text.contains("region us-east-1"), "{text}");
    // Through `testbed deploy`: nothing is created when the pre-flight fails.
    let provider = bed.provider();
    let err = try_deploy(&provider, &bed.settings, 1)
        .map(drop)
        .expect_err("pre-flight fails");
    assert!(
        format!("{err:#}").contains("nothing was created"),
        "{err:#}"
    );
    assert!(provider.list_instances().expect("list").is_empty());
    // A disk smaller than the image's root volume (moto's images have 15 GB).
    let small = Bed::new(&["us-east-1"], "t3.micro");
    let mut settings = small.settings.clone();
    settings.testbed.cloud_mut().expect("cloud").disk_size_gb = 10;
    let provider = AwsProvider::new(&settings).expect("provider");
    let text = preflight_error(&provider, &["us-east-1"], "disk too small");
    assert_says(&text, &["`disk_size_gb` = 10", "(15 GB)"]);
}

#[test]
fn credentials_with_a_region_or_missing_are_refused() {
    let with_region = format!("{}region = us-east-1\n", credentials_file());
    let bed = Bed::with_credentials(&["us-east-1"], "t3.micro", &with_region);
    let err = AwsProvider::new(&bed.settings)
        .map(|_| ())
        .expect_err("region in the credentials");
    let text = format!("{err:#}");
    let path = bed
        .settings
        .testbed
        .cloud()
        .expect("cloud")
        .token_file
        .clone();
    assert!(
        text.contains(&format!("{}, line 4", path.display())),
        "{text}"
    );
    assert!(!text.contains(SECRET), "{text}");
    let err = testbed::provider(&bed.settings)
        .map(|_| ())
        .expect_err("through the provider factory");
    assert!(format!("{err:#}").contains("line 4"));

    let bed = Bed::with_credentials(
        &["us-east-1"],
        "t3.micro",
        "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n",
    );
    let err = AwsProvider::new(&bed.settings)
        .map(|_| ())
        .expect_err("missing secret key");
    assert!(format!("{err:#}").contains("aws_secret_access_key"));

    // A missing token file is refused by the settings, naming the field and the path.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = settings_in(dir.path(), &["us-east-1"], "t3.micro", "");
    settings.token_file = Some(dir.path().join("absent"));
    let err = settings
        .validate()
        .map(|_| ())
        .expect_err("missing token file");
    let text = err.to_string();
    assert!(
        text.contains("token_file") && text.contains("absent"),
        "{text}"
    );
    // The provider alone also names it (the file may vanish after validation).
    let bed = Bed::new(&["us-east-1"], "t3.micro");
    let mut settings = bed.settings.clone();
    settings.testbed.cloud_mut().expect("cloud").token_file = dir.path().join("gone");
    let err = AwsProvider::new(&settings)
        .map(|_| ())
        .expect_err("missing token file");
    assert!(format!("{err:#}").contains("gone"));
}

#[test]
fn instances_in_two_regions_are_listed_with_tags_addresses_and_state() {
    let regions = ["us-east-1", "eu-west-3"];
    let bed = Bed::new(&regions, "t3.micro");
    let provider = testbed::provider(&bed.settings).expect("provider");
    assert_eq!(provider.name(), "aws");
    assert_eq!(deploy_n(provider.as_ref(), &bed.settings, 2), 4);
    // Another testbed in the same region is not listed.
    let other = Bed::new(&["us-east-1"], "t3.micro");
    assert_eq!(deploy_n(&other.provider(), &other.settings, 1), 1);

    let listed = provider.list_instances().expect("list");
    assert_eq!(
        per_region(&listed),
        BTreeMap::from([("eu-west-3".to_string(), 2), ("us-east-1".to_string(), 2)])
    );
    for instance in &listed {
        assert_eq!(instance.state, InstanceState::Running, "{instance:?}");
        assert!(instance.is_running(), "{instance:?}");
        assert!(instance.public_ip.is_some() && instance.private_ip.is_some());
        assert_ne!(instance.public_ip, instance.private_ip);
        assert_eq!(instance.specs, "t3.micro");
        assert_eq!(
            (instance.ssh_user.as_str(), instance.ssh_port),
            ("ubuntu", 22)
        );
    }
    // Prices are per region: eu-west-3 has no row in the table, so it is unpriced, not
    // priced like us-east-1.
    assert_eq!(provider.price_per_hour("eu-west-3").expect("price"), None);
    assert_eq!(
        provider.price_per_hour("us-east-1").expect("price"),
        Some(0.0104)
    );
    assert!(provider.price_source().contains("2024-06-01"));
    let shown = status::render(
        &listed,
        bed.settings.testbed.regions(),
        chrono::Utc::now(),
        false,
    );
    assert!(shown.contains("us-east-1: 2 running"), "{shown}");
    assert!(shown.contains("eu-west-3: 2 running"), "{shown}");
    for instance in &listed {
        assert!(shown.contains(&instance.id), "{shown}");
        assert!(shown.contains(instance.public_ip.as_deref().unwrap_or("?")));
    }

    // What EC2 holds, seen by an independent client.
    for region in regions {
        let client = ec2(region);
        let answer = block_on(
            client
                .describe_instances()
                .filters(of_testbed(bed.id()))
                .send(),
        )
        .expect("describe");
        let found: Vec<_> = answer
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .collect();
        assert_eq!(found.len(), 2, "{region}");
        for instance in found {
            let tags: BTreeMap<_, _> = instance
                .tags()
                .iter()
                .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
                .collect();
            assert_eq!(tags.get(TESTBED_TAG), Some(&bed.id()), "{tags:?}");
            assert_eq!(tags.get("consensus-bench:role"), Some(&"node"), "{tags:?}");
            assert_eq!(
                tags.get("Name").copied(),
                Some(format!("consensus-bench-{}", bed.id()).as_str())
            );
            assert_eq!(instance.image_id(), Some("ami-0a2404a000000002"));
            let key_name = bed.provider().key_pair_name().expect("key name");
            assert_eq!(instance.key_name(), Some(key_name.as_str()));
            let groups: Vec<_> = instance
                .security_groups()
                .iter()
                .filter_map(|g| g.group_name())
                .collect();
            assert_eq!(groups, [format!("consensus-bench-{}", bed.id())]);
            let id = instance.instance_id().expect("id");
            let shutdown = block_on(
                client
                    .describe_instance_attribute()
                    .instance_id(id)
                    .attribute(InstanceAttributeName::InstanceInitiatedShutdownBehavior)
                    .send(),
            )
            .expect("shutdown behaviour");
            assert_eq!(
                shutdown
                    .instance_initiated_shutdown_behavior()
                    .and_then(|v| v.value()),
                Some("terminate")
            );
            let user_data = block_on(
                client
                    .describe_instance_attribute()
                    .instance_id(id)
                    .attribute(InstanceAttributeName::UserData)
                    .send(),
            )
            .expect("user data");
            let encoded = user_data
                .user_data()
                .and_then(|v| v.value())
                .expect("user data set");
            let script = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .expect("base64 user data");
            let script = String::from_utf8(script).expect("utf-8 script");
            // The dead-man switch: a deadline and a timer that checks it at every boot.
            let deadline = listed
                .iter()
                .find(|i| i.id == id)
                .and_then(|i| i.deadline)
                .expect("deadline tag");
            let left = deadline - chrono::Utc::now();
            assert!(
                left > chrono::Duration::minutes(170) && left <= chrono::Duration::hours(3),
                "{deadline}"
            );
            assert!(
                script.contains(&format!("echo {} >", deadline.timestamp())),
                "{script}"
            );
            assert!(
                script.contains("systemctl enable --now consensus-bench-deadline.timer"),
                "{script}"
            );
            assert!(script.contains("ufw allow 26000:26999/tcp"), "{script}");
            // The root volume: gp3 of disk_size_gb, deleted with the instance.
            let root = instance
                .block_device_mappings()
                .iter()
                .find(|m| m.device_name() == Some("/dev/sda1"))
                .and_then(|m| m.ebs())
                .expect("root volume");
            assert_eq!(root.delete_on_termination(), Some(true));
            let volume_id = root.volume_id().expect("volume id");
            let volumes =
                block_on(client.describe_volumes().volume_ids(volume_id).send()).expect("volumes");
            let volume = volumes.volumes().first().expect("volume");
            assert_eq!(volume.size(), Some(24));
            assert_eq!(volume.volume_type().map(|t| t.as_str()), Some("gp3"));
            assert!(
                volume
                    .tags()
                    .iter()
                    .any(|t| t.key() == Some(TESTBED_TAG) && t.value() == Some(bed.id())),
                "{volume:?}"
            );
        }
        // The security group opens SSH and both benchmark ranges.
        let groups = block_on(
            client
                .describe_security_groups()
                .group_names(format!("consensus-bench-{}", bed.id()))
                .send(),
        )
        .expect("security group");
        let group = groups.security_groups().first().expect("group");
        let mut ports: Vec<_> = group
            .ip_permissions()
            .iter()
            .map(|p| (p.from_port().unwrap_or(-1), p.to_port().unwrap_or(-1)))
            .collect();
        ports.sort();
        assert_eq!(ports, [(22, 22), (26000, 26999), (27000, 27999)]);
    }
    let destroyed = common::destroy(provider.as_ref()).expect("destroy");
    assert_eq!(destroyed.len(), 4);
    assert!(provider.list_instances().expect("list").is_empty());
    let destroyed = common::destroy(&other.provider()).expect("destroy");
    assert_eq!(destroyed.len(), 1);
}

#[test]
fn deploy_is_idempotent_and_tolerates_existing_key_pair_and_security_group() {
    let regions = ["us-east-2", "eu-north-1"];
    let bed = Bed::new(&regions, "t3.micro");
    let provider = bed.provider();
    assert_eq!(deploy_n(&provider, &bed.settings, 2), 4);
    // Run again: the instances already there count toward N.
    assert_eq!(deploy_n(&provider, &bed.settings, 2), 0);
    assert_eq!(
        per_region(&provider.list_instances().expect("list")),
        BTreeMap::from([("eu-north-1".to_string(), 2), ("us-east-2".to_string(), 2)])
    );
    // More instances reuse the key pair and security group already there.
    assert_eq!(deploy_n(&provider, &bed.settings, 3), 2);
    let fresh = bed.provider();
    let more = common::create(&fresh, "us-east-2", 1).expect("create");
    assert_eq!(more.len(), 1);
    let listed = fresh.list_instances().expect("list");
    assert_eq!(
        per_region(&listed),
        BTreeMap::from([("eu-north-1".to_string(), 3), ("us-east-2".to_string(), 4)])
    );
    let client = ec2("us-east-2");
    let key_name = provider.key_pair_name().expect("key name");
    let keys = block_on(client.describe_key_pairs().key_names(&key_name).send()).expect("keys");
    assert_eq!(keys.key_pairs().len(), 1);
    let groups = block_on(
        client
            .describe_security_groups()
            .filters(
                Filter::builder()
                    .name("group-name")
                    .values(format!("consensus-bench-{}", bed.id()))
                    .build(),
            )
            .send(),
    )
    .expect("groups");
    assert_eq!(groups.security_groups().len(), 1);
    let destroyed = common::destroy(&provider).expect("destroy");
    assert_eq!(destroyed.len(), listed.len());
    assert!(provider.list_instances().expect("list").is_empty());
}

#[test]
fn stop_and_start() {
    let bed = Bed::new(&["ca-central-1"], "t3.micro");
    let provider = bed.provider();
    assert_eq!(deploy_n(&provider, &bed.settings, 2), 2);
    assert_eq!(lifecycle::stop(&provider).expect("stop").len(), 2);
    let states: Vec<_> = provider
        .list_instances()
        .expect("list")
        .into_iter()
        .map(|i| i.state)
        .collect();
    assert_eq!(states, [InstanceState::Stopped, InstanceState::Stopped]);
    let deadline = chrono::Utc::now() + chrono::Duration::hours(2);
    let started =
        lifecycle::start(&provider, &bed.settings, None, deadline, &fast_wait()).expect("start");
    assert_eq!(started.len(), 2);
    let after = provider.list_instances().expect("list");
    assert_eq!(after.len(), 2);
    assert!(after.iter().all(Instance::is_running), "{after:?}");
    common::destroy(&provider).expect("destroy");
}

/// Deploy over a stopped testbed starts its instances (as many as asked) before creating any.
#[test]
fn deploy_starts_stopped_instances_before_creating() {
    let bed = Bed::new(&["ca-central-1"], "t3.micro");
    let provider = bed.provider();
    assert_eq!(deploy_n(&provider, &bed.settings, 3), 3);
    assert_eq!(lifecycle::stop(&provider).expect("stop").len(), 3);
    let report = try_deploy(&provider, &bed.settings, 1).expect("deploy 1");
    assert_eq!((report.created.len(), report.started.len()), (0, 1));
    let running = |p: &AwsProvider| {
        p.list_instances()
            .expect("list")
            .iter()
            .filter(|i| i.is_running())
            .count()
    };
    assert_eq!(running(&provider), 1);
    let report = try_deploy(&provider, &bed.settings, 4).expect("deploy 4");
    assert_eq!((report.created.len(), report.started.len()), (1, 2));
    assert_eq!(running(&provider), 4);
    assert_eq!(provider.list_instances().expect("list").len(), 4);
    common::destroy(&provider).expect("destroy");
}

#[test]
fn destroy_finds_a_partial_deploy_and_is_safe_to_rerun() {
    let regions = ["eu-west-2", "ap-south-1"];
    let bed = Bed::new(&regions, "t3.micro");
    let provider = bed.provider();
    // An interrupted deploy: instances in the first region only, and in the second one an
    // instance whose RunInstances went through but nothing after it (no key pair, no group).
    provider
        .preflight(&regions.map(String::from))
        .expect("preflight");
    assert_eq!(
        common::create(&provider, "eu-west-2", 2)
            .expect("create")
            .len(),
        2
    );
    let stray = block_on(
        ec2("ap-south-1")
            .run_instances()
            .image_id("ami-0a2404a000000002")
            .instance_type("t3.micro".into())
            .min_count(1)
            .max_count(1)
            .tag_specifications(
                aws_sdk_ec2::types::TagSpecification::builder()
                    .resource_type(aws_sdk_ec2::types::ResourceType::Instance)
                    .tags(
                        aws_sdk_ec2::types::Tag::builder()
                            .key(TESTBED_TAG)
                            .value(bed.id())
                            .build(),
                    )
                    .build(),
            )
            .send(),
    )
    .expect("stray instance");
    assert_eq!(stray.instances().len(), 1);

    let found = provider.list_instances().expect("list");
    assert_eq!(
        per_region(&found),
        BTreeMap::from([("ap-south-1".to_string(), 1), ("eu-west-2".to_string(), 2)])
    );
    let destroyed = common::destroy(&provider).expect("destroy");
    assert_eq!(destroyed.len(), 3);
    assert!(provider.list_instances().expect("list").is_empty());
    let destroyed = common::destroy(&provider).expect("re-run");
    assert!(destroyed.is_empty());
    // Again, with the same (now terminated) instances and one EC2 never knew.
    let mut again = found.clone();
    let mut unknown = found[0].clone();
    unknown.id = "i-0000000000000dead".into();
    again.push(unknown);
    provider.delete_instances(&again).expect("destroy re-run");
    assert!(provider.list_instances().expect("list").is_empty());
    // Terminated instances stay visible to EC2 for a while; the testbed no longer counts them.
    assert_eq!(deploy_n(&provider, &bed.settings, 1), 2);
    assert_eq!(common::destroy(&provider).expect("destroy").len(), 2);
}

/// An EC2 filter for the resources tagged as testbed `testbed_id`'s.
fn of_testbed(testbed_id: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{TESTBED_TAG}"))
        .values(testbed_id)
        .build()
}

/// What EC2 holds of a testbed in `region`, seen by an independent client: live instances,
/// key pairs and security groups.
fn leftovers(region: &str, testbed_id: &str) -> (usize, usize, usize) {
    let client = ec2(region);
    let instances = block_on(
        client
            .describe_instances()
            .filters(of_testbed(testbed_id))
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .values("pending")
                    .values("running")
                    .values("stopping")
                    .values("stopped")
                    .build(),
            )
            .send(),
    )
    .expect("describe instances")
    .reservations()
    .iter()
    .map(|r| r.instances().len())
    .sum();
    let prefix = format!("consensus-bench-{testbed_id}-");
    let pairs = block_on(client.describe_key_pairs().send())
        .expect("describe key pairs")
        .key_pairs()
        .iter()
        .filter(|k| {
            k.key_name()
                .and_then(|n| n.strip_prefix(&prefix))
                .is_some_and(|rest| rest.len() == 8)
        })
        .count();
    let group = format!("consensus-bench-{testbed_id}");
    let groups = block_on(client.describe_security_groups().send())
        .expect("describe security groups")
        .security_groups()
        .iter()
        .filter(|g| g.group_name() == Some(group.as_str()))
        .count();
    (instances, pairs, groups)
}

/// Instances in a region removed from the settings are still found: status shows them (marked
/// as outside the settings) and destroy deletes them, with the key pairs and security groups
/// of every region.
#[test]
fn status_and_destroy_find_regions_removed_from_the_settings() {
    let regions = ["eu-north-1", "sa-east-1", "ap-northeast-3"];
    let bed = Bed::new(&regions, "t3.micro");
    assert_eq!(deploy_n(&bed.provider(), &bed.settings, 1), 3);
    for region in regions {
        assert_eq!(leftovers(region, bed.id()), (1, 1, 1), "{region}");
    }
    let narrowed = bed.variant(&regions[..2], None);
    let provider = narrowed.provider();
    let listing = provider.sweep();
    assert!(listing.failures.is_empty(), "{:?}", listing.failures);
    assert_eq!(
        per_region(&listing.instances),
        BTreeMap::from([
            ("ap-northeast-3".to_string(), 1),
            ("eu-north-1".to_string(), 1),
            ("sa-east-1".to_string(), 1)
        ])
    );
    let shown = status::render(
        &listing.instances,
        narrowed.settings.testbed.regions(),
        chrono::Utc::now(),
        false,
    );
    assert!(
        shown.contains("ap-northeast-3: 1 running (not in the settings' `regions`"),
        "{shown}"
    );
    assert_eq!(common::destroy(&provider).expect("destroy").len(), 3);
    for region in regions {
        assert_eq!(leftovers(region, bed.id()), (0, 0, 0), "{region}");
    }
}

/// A region that refuses every call is named with EC2's answer, the other regions are
/// destroyed anyway (instances, key pair, group), the exit is an error, and a re-run once
/// the region answers finishes the job.
#[test]
fn a_failing_region_is_named_and_the_others_are_still_destroyed() {
    let regions = ["eu-central-1", "ap-northeast-1"];
    let bed = Bed::new(&regions, "t3.micro");
    assert_eq!(deploy_n(&bed.provider(), &bed.settings, 1), 2);
    let dialect = common::ec2_dialect::Ec2Dialect::default();
    dialect.state().failing_region = Some("ap-northeast-1".into());
    let proxy = common::fault_proxy::FaultProxy::start(
        moto_address(),
        common::faults::Schedule::new(1, no_faults(), 0),
        dialect.clone(),
    );
    let behind = bed.variant(&regions, Some(&proxy.url()));
    let provider = behind.fast_provider();
    let err = format!(
        "{:#}",
        common::destroy(&provider).expect_err("a region fails")
    );
    assert!(
        err.contains("ap-northeast-1") && err.contains("UnauthorizedOperation"),
        "{err}"
    );
    assert!(
        err.contains("run `cargo xtask testbed destroy` again"),
        "{err}"
    );
    assert!(dialect.state().refused > 0);
    assert_eq!(leftovers("eu-central-1", bed.id()), (0, 0, 0));
    assert_eq!(leftovers("ap-northeast-1", bed.id()), (1, 1, 1));
    let status = status::show(&provider, &behind.settings, Console::batch());
    assert!(format!("{:#}", status.expect_err("incomplete")).contains("ap-northeast-1"));

    dialect.state().failing_region = None;
    assert_eq!(common::destroy(&provider).expect("re-run").len(), 1);
    assert_eq!(leftovers("ap-northeast-1", bed.id()), (0, 0, 0));
}

fn moto_address() -> std::net::SocketAddr {
    moto()
        .trim_start_matches("http://")
        .parse()
        .expect("MOTO_ENDPOINT is http://127.0.0.1:PORT")
}

fn no_faults() -> common::faults::Rates {
    common::faults::Rates {
        delay: 0.0,
        throttle: 0.0,
        server_error: 0.0,
        server_error_after: 0.0,
        reset: 0.0,
        lost_answer: 0.0,
    }
}

/// AWS keeps a client token bound to its first RunInstances for a day, also after its
/// instances ended: deploy/destroy cycles of one testbed, behind a proxy that gives moto that
/// idempotency, each get new tokens and create exactly what they ask for.
#[test]
fn repeated_deploy_destroy_cycles_get_fresh_client_tokens() {
    let bed = Bed::new(&["us-east-2"], "t3.micro");
    let dialect = common::ec2_dialect::Ec2Dialect::default();
    let proxy = common::fault_proxy::FaultProxy::start(
        moto_address(),
        common::faults::Schedule::new(1, no_faults(), 0),
        dialect.clone(),
    );
    let behind = bed.variant(&["us-east-2"], Some(&proxy.url()));
    let provider = behind.fast_provider();
    for cycle in 0..7 {
        let report = try_deploy(&provider, &behind.settings, 1)
            .unwrap_or_else(|e| panic!("cycle {cycle}: {e:#}"));
        assert_eq!(report.created.len(), 1, "cycle {cycle}");
        assert_eq!(leftovers("us-east-2", bed.id()).0, 1, "cycle {cycle}");
        common::destroy(&provider).unwrap_or_else(|e| panic!("cycle {cycle}: {e:#}"));
    }
    assert_eq!(dialect.state().instances_created, 7);
}

/// `SOAK_CYCLES` (default 2) deploy -> stop -> start -> destroy cycles of 2 instances in 3
/// regions through a proxy in front of moto injecting faults drawn from `SOAK_SEED` (default
/// 1): throttling, 5xx before and after EC2 acted, resets, delays, answers lost after EC2
/// created. After each deploy every region has exactly 2 instances and no instance was ever
/// created twice; after each destroy nothing of the testbed is left.
#[test]
fn soak_cycles_under_injected_faults_leave_nothing_and_never_duplicate() {
    let (cycles, seed) = common::faults::soak_parameters(2);
    const PER_REGION: usize = 2;
    let regions = ["us-west-1", "eu-west-3", "ap-southeast-2"];
    let bed = Bed::new(&regions, "t3.micro");
    let dialect = common::ec2_dialect::Ec2Dialect::default();
    let proxy = common::fault_proxy::FaultProxy::start(
        moto_address(),
        common::faults::Schedule::new(seed, common::faults::Rates::harsh(), 3),
        dialect.clone(),
    );
    let behind = bed.variant(&regions, Some(&proxy.url()));
    let provider = behind.fast_provider();
    let deadline = chrono::Utc::now() + chrono::Duration::hours(2);
    // A command that fails says to run it again: so does the test, a few times at most.
    let mut reruns = 0;
    let mut until_ok = |what: &str, cycle: u64, f: &mut dyn FnMut() -> anyhow::Result<()>| {
        for attempt in 0..5 {
            match f() {
                Ok(()) => return,
                Err(e) if attempt < 4 => {
                    reruns += 1;
                    println!("cycle {cycle}: {what} failed, running it again: {e:#}");
                }
                Err(e) => panic!("cycle {cycle}: {what}: {e:#}"),
            }
        }
    };
    for cycle in 0..cycles {
        let before = dialect.state().instances_created;
        until_ok("deploy", cycle, &mut || {
            try_deploy(&provider, &behind.settings, PER_REGION).map(drop)
        });
        for region in regions {
            assert_eq!(
                leftovers(region, bed.id()).0,
                PER_REGION,
                "cycle {cycle}: {region}"
            );
        }
        assert_eq!(
            dialect.state().instances_created - before,
            (PER_REGION * regions.len()) as u64,
            "cycle {cycle}: an instance was created twice"
        );
        until_ok("stop", cycle, &mut || lifecycle::stop(&provider).map(drop));
        until_ok("start", cycle, &mut || {
            lifecycle::start(&provider, &behind.settings, None, deadline, &fast_wait()).map(drop)
        });
        let running = provider
            .list_instances()
            .map(|l| l.iter().filter(|i| i.is_running()).count());
        assert_eq!(
            running.ok(),
            Some(PER_REGION * regions.len()),
            "cycle {cycle}: not all running"
        );
        until_ok("destroy", cycle, &mut || {
            common::destroy(&provider).map(drop)
        });
        for region in regions {
            assert_eq!(
                leftovers(region, bed.id()),
                (0, 0, 0),
                "cycle {cycle}: {region}"
            );
        }
    }
    let schedule = proxy.schedule();
    let injected = schedule.injected();
    let state = dialect.state();
    println!(
        "aws soak: seed {seed}, {cycles} cycles, {} requests, faults injected {injected:?}, \
         token replays {}, instances created {}, commands run again {reruns}, duplicates 0, \
         orphans 0",
        schedule.requests(),
        state.replays,
        state.instances_created
    );
    schedule.assert_injected(&[
        "throttle",
        "5xx",
        "connection reset",
        "answer lost after acting",
    ]);
}

/// An endpoint nobody answers on ends, after a few retries, in a sentence naming the region
/// and what to check, never a Debug dump of the SDK's error.
#[test]
fn an_unreachable_endpoint_is_said_in_words() {
    let bed = Bed::new(&["eu-west-1"], "t3.micro");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", closed.local_addr().expect("address"));
    drop(closed);
    let provider = bed.variant(&["eu-west-1"], Some(&endpoint)).fast_provider();
    let err = format!(
        "{:#}",
        provider.list_instances().expect_err("nobody answers")
    );
    assert!(err.contains("cannot reach EC2"), "{err}");
    assert!(
        err.contains("api_endpoint") && err.contains("eu-west-1"),
        "{err}"
    );
    assert!(
        !err.contains("ConnectorError") && !err.contains(" { "),
        "a Debug dump: {err}"
    );
}

/// A testbed whose `testbed_id` was renamed: `status` of the new name lists it among the other
/// testbeds of the account, stopped, at the EBS price of its region, with the command that
/// destroys it, and that destroy by id ends it.
#[test]
fn a_renamed_testbed_is_found_in_the_account_with_what_it_still_costs_and_destroyed_by_id() {
    let old = Bed::new(&["us-west-2"], "t3.micro");
    let provider = old.provider();
    assert_eq!(deploy_n(&provider, &old.settings, 1), 1);
    lifecycle::stop(&provider).expect("stop");
    let renamed = Bed::new(&["us-west-2"], "t3.micro");
    let current = renamed.provider();
    assert!(current.list_instances().expect("list").is_empty());
    let text = status::others(
        &current,
        renamed.id(),
        &current.sweep_account(),
        chrono::Utc::now(),
    )
    .expect("others");
    assert!(
        text.contains(old.id()) && text.contains("1 stopped"),
        "{text}"
    );
    // The root volume, gp3 at $0.08 per GB-month in us-west-2, over 730 hours.
    let disk = old.settings.testbed.cloud().expect("cloud").disk_size_gb;
    let stopped = format!("${:.4} per hour", 0.08 * f64::from(disk) / 730.0);
    assert!(text.contains(&stopped), "{stopped} not in {text}");
    assert!(
        text.contains(&format!(
            "cargo xtask testbed destroy --testbed-id {}",
            old.id()
        )),
        "{text}"
    );
    let by_id = renamed.settings.for_testbed(old.id()).expect("valid id");
    let old_provider = AwsProvider::new(&by_id).expect("provider");
    assert_eq!(common::destroy(&old_provider).expect("destroy").len(), 1);
    assert!(provider.list_instances().expect("list").is_empty());
}
