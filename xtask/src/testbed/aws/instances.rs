//! EC2 instances of a testbed: created with RunInstances (with a client token, so a retried
//! request does not create twice), found by tag, started, stopped and terminated.

use anyhow::{bail, Result};
use aws_sdk_ec2::{
    error::ProvideErrorMetadata,
    types::{
        BlockDeviceMapping, EbsBlockDevice, Filter, InstanceStateName, InstanceType, ResourceType,
        ShutdownBehavior, VolumeType,
    },
    Client,
};
use base64::Engine;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{
    errors::{api_error, Ec2Error},
    tags,
};
use crate::testbed::{Instance, InstanceState};

/// Most pages of DescribeInstances read for one region (a bound, far above any testbed).
const MAX_PAGES: usize = 1000;
/// Most instance ids per Start/Stop/TerminateInstances call.
const IDS_PER_CALL: usize = 100;
/// Client tokens tried before giving up (see [`launch`]).
const TOKEN_GENERATIONS: u32 = 5;

/// What every instance of a launch gets.
#[derive(Clone, Debug)]
pub struct LaunchSpec<'a> {
    /// The settings' `testbed_id` (tags, token).
    pub testbed_id: &'a str,
    /// Instance type (settings `specs`).
    pub instance_type: &'a str,
    /// AMI id.
    pub image_id: &'a str,
    /// Device name of the AMI's root volume (`/dev/sda1` on Ubuntu).
    pub root_device_name: &'a str,
    /// Key pair name.
    pub key_name: &'a str,
    /// Security group id.
    pub security_group_id: &'a str,
    /// Root volume size in GB (gp3).
    pub disk_size_gb: u32,
    /// The boot script (plain text; encoded here).
    pub user_data: &'a str,
    /// SSH login user of the image.
    pub ssh_user: &'a str,
    /// The deploy attempt this launch belongs to (client tokens).
    pub attempt: &'a str,
    /// When the dead-man switch powers the instances off (a tag, for `testbed status`).
    pub deadline: DateTime<Utc>,
}

/// The RunInstances client token for the `generation`-th try at creating `count` instances
/// in `region` where `existing` already run, within deploy `attempt`: a request retried (by the
/// SDK, or by a re-run of a deploy that crashed before it finished, which keeps its attempt)
/// carries the same token and creates nothing twice; a new deploy gets new tokens (AWS keeps a
/// token bound to its first request for at least a day, even after its instances ended).
pub fn client_token(
    testbed_id: &str,
    attempt: &str,
    region: &str,
    existing: usize,
    count: usize,
    generation: u32,
) -> String {
    let digest = Sha256::digest(
        format!("consensus-bench/{testbed_id}/{attempt}/{region}/{existing}/{count}/{generation}")
            .as_bytes(),
    );
    // At most 64 ASCII characters are accepted.
    format!("cb-{}", &hex::encode(digest)[..40])
}

/// Creates `count` instances in `region`, where `existing` instances of the testbed are
/// already running. A token whose earlier request's instances are all gone (AWS remembers
/// tokens for a while after termination) or that was used with other parameters is replaced
/// by the next generation's.
pub async fn launch(
    client: &Client,
    region: &str,
    spec: &LaunchSpec<'_>,
    existing: usize,
    count: usize,
) -> Result<Vec<Instance>> {
    let action = format!(
        "creating {count} instance(s) of type {}",
        spec.instance_type
    );
    let Ok(amount) = i32::try_from(count) else {
        bail!("{action} in AWS region {region}: too many instances for one request");
    };
    let user_data = base64::engine::general_purpose::STANDARD.encode(spec.user_data);
    let name = format!("consensus-bench-{}", spec.testbed_id);
    let instance_tags = [
        tags::testbed(spec.testbed_id),
        tags::tag(tags::ROLE, tags::ROLE_NODE),
        tags::tag("Name", &name),
        tags::deadline(spec.deadline),
    ];
    let volume_tags = [tags::testbed(spec.testbed_id), tags::tag("Name", &name)];
    let root_volume = BlockDeviceMapping::builder()
        .device_name(spec.root_device_name)
        .ebs(
            EbsBlockDevice::builder()
                .volume_type(VolumeType::Gp3)
                .volume_size(i32::try_from(spec.disk_size_gb).unwrap_or(i32::MAX))
                .delete_on_termination(true)
                .build(),
        )
        .build();
    for generation in 0..TOKEN_GENERATIONS {
        let token = client_token(
            spec.testbed_id,
            spec.attempt,
            region,
            existing,
            count,
            generation,
        );
        let answer = client
            .run_instances()
            .image_id(spec.image_id)
            .instance_type(InstanceType::from(spec.instance_type))
            .min_count(amount)
            .max_count(amount)
            .key_name(spec.key_name)
            .security_group_ids(spec.security_group_id)
            .block_device_mappings(root_volume.clone())
            .tag_specifications(tags::specification(ResourceType::Instance, &instance_tags))
            .tag_specifications(tags::specification(ResourceType::Volume, &volume_tags))
            .user_data(&user_data)
            .instance_initiated_shutdown_behavior(ShutdownBehavior::Terminate)
            .client_token(token)
            .send()
            .await;
        match answer {
            Ok(output) => {
                let instances: Vec<Instance> = output
                    .instances()
                    .iter()
                    .map(|i| to_instance(i, region, spec.ssh_user))
                    .collect();
                let replayed = !instances.is_empty()
                    && instances
                        .iter()
                        .all(|i| i.state == InstanceState::Terminated);
                if !replayed {
                    return Ok(instances);
                }
            }
            Err(err) if err.code() == Some("IdempotentParameterMismatch") => {}
            Err(err) => return Err(api_error(err, region, &action)),
        }
    }
    bail!(
        "{action} in AWS region {region}: AWS answered every client token tried with an \
         earlier request's instances"
    )
}

/// The testbed's instances in `region`, except terminated (and terminating) ones.
pub async fn list(
    client: &Client,
    region: &str,
    testbed_id: &str,
    ssh_user: &str,
) -> Result<Vec<Instance>> {
    let testbed = Filter::builder()
        .name(format!("tag:{}", tags::TESTBED))
        .values(testbed_id)
        .build();
    let what = format!("listing the instances of testbed {testbed_id}");
    Ok(describe(client, region, testbed, ssh_user, &what)
        .await?
        .into_iter()
        .map(|(_, instance)| instance)
        .collect())
}

/// The instances of every testbed of this tool in `region` (those carrying the testbed tag),
/// with their testbed id, except terminated ones.
pub async fn list_all_testbeds(
    client: &Client,
    region: &str,
    ssh_user: &str,
) -> Result<Vec<(String, Instance)>> {
    let tagged = Filter::builder()
        .name("tag-key")
        .values(tags::TESTBED)
        .build();
    describe(
        client,
        region,
        tagged,
        ssh_user,
        "listing the instances of every testbed",
    )
    .await
}

/// The live instances of `region` that `filter` selects, with their testbed tag's value.
async fn describe(
    client: &Client,
    region: &str,
    filter: Filter,
    ssh_user: &str,
    what: &str,
) -> Result<Vec<(String, Instance)>> {
    let live = ["pending", "running", "stopping", "stopped"];
    let mut pages = client
        .describe_instances()
        .filters(filter)
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .set_values(Some(live.iter().map(|s| s.to_string()).collect()))
                .build(),
        )
        .into_paginator()
        .send();
    let mut found = Vec::new();
    let mut read = 0;
    while let Some(page) = pages.next().await {
        let page = page.map_err(|err| api_error(err, region, what))?;
        found.extend(
            page.reservations()
                .iter()
                .flat_map(|r| r.instances())
                .map(|i| {
                    let testbed = i
                        .tags()
                        .iter()
                        .find(|t| t.key() == Some(tags::TESTBED))
                        .and_then(|t| t.value())
                        .unwrap_or_default()
                        .to_string();
                    (testbed, to_instance(i, region, ssh_user))
                })
                .filter(|(_, i)| i.state != InstanceState::Terminated),
        );
        read += 1;
        if read >= MAX_PAGES {
            bail!("{what} in AWS region {region}: more than {MAX_PAGES} pages");
        }
    }
    found.sort_by(|a, b| a.1.id.cmp(&b.1.id));
    Ok(found)
}

/// An EC2 instance as a testbed [`Instance`].
pub fn to_instance(
    instance: &aws_sdk_ec2::types::Instance,
    region: &str,
    ssh_user: &str,
) -> Instance {
    Instance {
        id: instance.instance_id().unwrap_or_default().to_string(),
        region: region.to_string(),
        public_ip: instance.public_ip_address().map(str::to_string),
        private_ip: instance.private_ip_address().map(str::to_string),
        specs: instance
            .instance_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        state: instance
            .state()
            .and_then(|s| s.name())
            .map(state)
            .unwrap_or_else(|| InstanceState::Other("unknown".into())),
        ssh_port: 22,
        ssh_user: ssh_user.to_string(),
        deadline: instance
            .tags()
            .iter()
            .find(|t| t.key() == Some(tags::DEADLINE))
            .and_then(|t| tags::parse_deadline(t.value()?)),
        created: instance
            .launch_time()
            .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
    }
}

/// EC2's instance state, normalised. `shutting-down` counts as terminated: it cannot come back.
pub fn state(name: &InstanceStateName) -> InstanceState {
    match name {
        InstanceStateName::Pending => InstanceState::Pending,
        InstanceStateName::Running => InstanceState::Running,
        InstanceStateName::Stopping => InstanceState::Stopping,
        InstanceStateName::Stopped => InstanceState::Stopped,
        InstanceStateName::ShuttingDown | InstanceStateName::Terminated => {
            InstanceState::Terminated
        }
        other => InstanceState::Other(other.as_str().to_string()),
    }
}

/// What to do to instances.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// StartInstances.
    Start,
    /// StopInstances.
    Stop,
    /// TerminateInstances; ids that no longer exist are not an error.
    Terminate,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Self::Start => "starting",
            Self::Stop => "stopping",
            Self::Terminate => "terminating",
        }
    }
}

/// Applies `action` to the instances `ids` of `region`.
pub async fn apply(client: &Client, region: &str, action: Action, ids: &[String]) -> Result<()> {
    for chunk in ids.chunks(IDS_PER_CALL) {
        match call(client, region, action, chunk).await {
            Ok(()) => {}
            // One unknown id fails the whole call: terminate the others one by one.
            Err(err) if action == Action::Terminate && is_not_found(&err) && chunk.len() > 1 => {
                for id in chunk {
                    match call(client, region, action, std::slice::from_ref(id)).await {
                        Err(err) if !is_not_found(&err) => return Err(err),
                        _ => {}
                    }
                }
            }
            Err(err) if action == Action::Terminate && is_not_found(&err) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

fn is_not_found(err: &anyhow::Error) -> bool {
    err.downcast_ref::<Ec2Error>()
        .is_some_and(|e| e.code == "InvalidInstanceID.NotFound")
}

async fn call(client: &Client, region: &str, action: Action, ids: &[String]) -> Result<()> {
    let what = format!("{} instance(s) {}", action.verb(), ids.join(", "));
    let ids = Some(ids.to_vec());
    match action {
        Action::Start => client
            .start_instances()
            .set_instance_ids(ids)
            .send()
            .await
            .map(drop)
            .map_err(|err| api_error(err, region, &what)),
        Action::Stop => client
            .stop_instances()
            .set_instance_ids(ids)
            .send()
            .await
            .map(drop)
            .map_err(|err| api_error(err, region, &what)),
        Action::Terminate => client
            .terminate_instances()
            .set_instance_ids(ids)
            .send()
            .await
            .map(drop)
            .map_err(|err| api_error(err, region, &what)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_tokens_are_stable_and_distinct() {
        let token = client_token("tb", "a1", "us-east-1", 0, 2, 0);
        assert_eq!(token, client_token("tb", "a1", "us-east-1", 0, 2, 0));
        assert!(token.len() <= 64 && token.is_ascii(), "{token}");
        for other in [
            client_token("tb2", "a1", "us-east-1", 0, 2, 0),
            client_token("tb", "a2", "us-east-1", 0, 2, 0),
            client_token("tb", "a1", "us-east-2", 0, 2, 0),
            client_token("tb", "a1", "us-east-1", 1, 2, 0),
            client_token("tb", "a1", "us-east-1", 0, 3, 0),
            client_token("tb", "a1", "us-east-1", 0, 2, 1),
        ] {
            assert_ne!(token, other);
        }
    }

    fn instance_xml(id: &str, state: (u8, &str), public_ip: &str) -> String {
        format!(
            "<item><instanceId>{id}</instanceId><instanceType>m5.large</instanceType>\
             <instanceState><code>{}</code><name>{}</name></instanceState>\
             <ipAddress>{public_ip}</ipAddress><privateIpAddress>10.0.0.9</privateIpAddress></item>",
            state.0, state.1
        )
    }

    fn page(instances: &[String], next: Option<&str>) -> String {
        format!(
            "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <requestId>req</requestId><reservationSet><item><reservationId>r-1</reservationId>\
             <ownerId>1</ownerId><instancesSet>{}</instancesSet></item></reservationSet>{}\
             </DescribeInstancesResponse>",
            instances.concat(),
            next.map(|t| format!("<nextToken>{t}</nextToken>"))
                .unwrap_or_default()
        )
    }

    #[test]
    fn listing_reads_every_page_and_leaves_out_terminating_instances() {
        use aws_smithy_http_client::test_util::StaticReplayClient;

        use super::super::replay::{self, REGION};

        let replay = StaticReplayClient::new(vec![
            replay::answer(
                200,
                page(
                    &[instance_xml("i-2", (16, "running"), "198.51.100.2")],
                    Some("page-2"),
                ),
            ),
            replay::answer(
                200,
                page(
                    &[
                        instance_xml("i-1", (80, "stopped"), "198.51.100.1"),
                        instance_xml("i-3", (32, "shutting-down"), "198.51.100.3"),
                    ],
                    None,
                ),
            ),
        ]);
        let clients = replay::clients(&replay, 1);
        let client = &clients.region(REGION);
        let listed = replay::block_on(list(client, REGION, "tb", "ubuntu")).expect("list");
        let summary: Vec<_> = listed
            .iter()
            .map(|i| (i.id.as_str(), i.state.clone(), i.public_ip.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [
                ("i-1", InstanceState::Stopped, Some("198.51.100.1")),
                ("i-2", InstanceState::Running, Some("198.51.100.2")),
            ]
        );
        assert_eq!(listed[0].private_ip.as_deref(), Some("10.0.0.9"));
        assert_eq!(listed[0].specs, "m5.large");
        let requests: Vec<_> = replay.actual_requests().collect();
        assert_eq!(requests.len(), 2);
        assert_eq!(
            replay::parameter(requests[0].body().bytes(), "NextToken"),
            None
        );
        assert_eq!(
            replay::parameter(requests[1].body().bytes(), "NextToken").as_deref(),
            Some("page-2")
        );
        let filter = replay::parameter(requests[0].body().bytes(), "Filter.1.Name");
        assert_eq!(filter.as_deref(), Some("tag%3Aconsensus-bench%3Atestbed"));
    }

    #[test]
    fn a_token_answered_with_gone_instances_or_other_parameters_is_replaced() {
        use aws_smithy_http_client::test_util::StaticReplayClient;

        use super::super::replay::{self, REGION};

        let launched = |id: &str, state: (u8, &str)| {
            replay::answer(
                200,
                format!(
                    "<RunInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
                     <requestId>req</requestId><reservationId>r-1</reservationId>\
                     <ownerId>1</ownerId><instancesSet>{}</instancesSet></RunInstancesResponse>",
                    instance_xml(id, state, "198.51.100.7")
                ),
            )
        };
        let replay = StaticReplayClient::new(vec![
            // The token of an earlier deploy whose instance has since been terminated.
            launched("i-old", (48, "terminated")),
            // A token once used with another instance type.
            replay::error(400, "IdempotentParameterMismatch", "token reused"),
            launched("i-new", (0, "pending")),
        ]);
        let clients = replay::clients(&replay, 1);
        let client = &clients.region(REGION);
        let spec = replay::launch_spec("m5.large", "ami-1");
        let created = replay::block_on(launch(client, REGION, &spec, 2, 1)).expect("launched anew");
        assert_eq!(created.len(), 1);
        assert_eq!(created[0].id, "i-new");
        let tokens: Vec<_> = replay
            .actual_requests()
            .map(|r| replay::parameter(r.body().bytes(), "ClientToken").expect("token"))
            .collect();
        assert_eq!(
            tokens,
            (0..3)
                .map(|g| client_token("tb", "a1", REGION, 2, 1, g))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn states_are_normalised() {
        assert_eq!(state(&InstanceStateName::Running), InstanceState::Running);
        assert_eq!(state(&InstanceStateName::Pending), InstanceState::Pending);
        assert_eq!(state(&InstanceStateName::Stopped), InstanceState::Stopped);
        assert_eq!(state(&InstanceStateName::Stopping), InstanceState::Stopping);
        assert_eq!(
            state(&InstanceStateName::ShuttingDown),
            InstanceState::Terminated
        );
        assert_eq!(
            state(&InstanceStateName::Terminated),
            InstanceState::Terminated
        );
    }
}
