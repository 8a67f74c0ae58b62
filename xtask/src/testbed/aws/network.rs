//! What a region needs before instances can be created there: the user's SSH public key
//! imported as a key pair, and a security group opening SSH and the benchmark ports. Both are
//! created once and found again on later deploys.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use aws_sdk_ec2::{
    error::ProvideErrorMetadata,
    primitives::Blob,
    types::{Filter, IpPermission, IpRange, ResourceType},
    Client,
};
use sha2::{Digest, Sha256};

use super::{errors::api_error, tags};

/// The key pair name of a testbed and public key: a changed key gets a new key pair rather
/// than reusing one that no longer matches the private key.
pub fn key_pair_name(testbed_id: &str, public_key: &str) -> String {
    // Key type and data only: editing the comment does not change the key.
    let material: Vec<&str> = public_key.split_whitespace().take(2).collect();
    let digest = Sha256::digest(material.join(" ").as_bytes());
    format!("consensus-bench-{testbed_id}-{}", &hex::encode(digest)[..8])
}

/// Imports `public_key` (OpenSSH format) as key pair `name`; an existing one is kept.
pub async fn import_key_pair(
    client: &Client,
    region: &str,
    testbed_id: &str,
    name: &str,
    public_key: &str,
) -> Result<()> {
    let answer = client
        .import_key_pair()
        .key_name(name)
        .public_key_material(Blob::new(public_key.trim().as_bytes()))
        .tag_specifications(tags::specification(
            ResourceType::KeyPair,
            &[tags::testbed(testbed_id)],
        ))
        .send()
        .await;
    match answer {
        Ok(_) => Ok(()),
        Err(err) if err.code() == Some("InvalidKeyPair.Duplicate") => Ok(()),
        Err(err) => Err(api_error(
            err,
            region,
            &format!("importing SSH key pair {name}"),
        )),
    }
}

/// The security group name of a testbed.
pub fn security_group_name(testbed_id: &str) -> String {
    format!("consensus-bench-{testbed_id}")
}

/// The id of the testbed's security group in `region` (in the default VPC), created if
/// needed, opening TCP 22 and `port_ranges` (inclusive) to every address.
pub async fn ensure_security_group(
    client: &Client,
    region: &str,
    testbed_id: &str,
    port_ranges: &[(u16, u16)],
) -> Result<String> {
    let name = security_group_name(testbed_id);
    let created = client
        .create_security_group()
        .group_name(&name)
        .description(format!(
            "consensus-bench testbed {testbed_id}: SSH and benchmark ports"
        ))
        .tag_specifications(tags::specification(
            ResourceType::SecurityGroup,
            &[tags::testbed(testbed_id)],
        ))
        .send()
        .await;
    let group_id = match created {
        Ok(answer) => answer.group_id().map(str::to_string),
        Err(err) if err.code() == Some("InvalidGroup.Duplicate") => {
            find_security_group(client, region, &name).await?
        }
        Err(err) => {
            return Err(api_error(
                err,
                region,
                &format!("creating security group {name}"),
            ))
        }
    };
    let group_id =
        group_id.ok_or_else(|| anyhow!("AWS region {region}: security group {name} has no id"))?;
    let mut ranges = vec![(22, 22)];
    ranges.extend_from_slice(port_ranges);
    // One rule per call: a call with a rule that already exists adds none of its rules.
    for (from, to) in ranges {
        let rule = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(i32::from(from))
            .to_port(i32::from(to))
            .ip_ranges(
                IpRange::builder()
                    .cidr_ip("0.0.0.0/0")
                    .description("consensus-bench")
                    .build(),
            )
            .build();
        let answer = client
            .authorize_security_group_ingress()
            .group_id(&group_id)
            .ip_permissions(rule)
            .send()
            .await;
        match answer {
            Ok(_) => {}
            Err(err) if err.code() == Some("InvalidPermission.Duplicate") => {}
            Err(err) => {
                return Err(api_error(
                    err,
                    region,
                    &format!("opening TCP ports {from}-{to} in security group {name}"),
                ))
            }
        }
    }
    Ok(group_id)
}

async fn find_security_group(client: &Client, region: &str, name: &str) -> Result<Option<String>> {
    let answer = client
        .describe_security_groups()
        .filters(Filter::builder().name("group-name").values(name).build())
        .send()
        .await
        .map_err(|err| api_error(err, region, &format!("finding security group {name}")))?;
    Ok(answer
        .security_groups()
        .iter()
        .find_map(|g| g.group_id().map(str::to_string)))
}

/// Whether `name` is a key pair name [`key_pair_name`] gives `testbed_id` (for some key).
fn is_testbed_key_pair(name: &str, testbed_id: &str) -> bool {
    name.strip_prefix(&format!("consensus-bench-{testbed_id}-"))
        .is_some_and(|rest| rest.len() == 8 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// How long a security group is retried while instances that are still shutting down hold it.
const GROUP_RELEASE_TIMEOUT: Duration = Duration::from_secs(300);
const GROUP_RELEASE_INTERVAL: Duration = Duration::from_secs(5);

/// Deletes the testbed's key pairs and security group in `region` (which must hold none of
/// its instances any more); returns one line per resource deleted. A group still held by
/// instances that are shutting down is retried for a few minutes, saying so.
pub async fn delete(client: &Client, region: &str, testbed_id: &str) -> Result<Vec<String>> {
    let mut deleted = Vec::new();
    let pairs = client
        .describe_key_pairs()
        .send()
        .await
        .map_err(|err| api_error(err, region, "listing the key pairs"))?;
    for name in pairs
        .key_pairs()
        .iter()
        .filter_map(|k| k.key_name())
        .filter(|n| is_testbed_key_pair(n, testbed_id))
    {
        client
            .delete_key_pair()
            .key_name(name)
            .send()
            .await
            .map_err(|err| api_error(err, region, &format!("deleting key pair {name}")))?;
        deleted.push(format!("key pair {name} in {region}"));
    }
    let name = security_group_name(testbed_id);
    let Some(group_id) = find_security_group(client, region, &name).await? else {
        return Ok(deleted);
    };
    let started = Instant::now();
    loop {
        match client
            .delete_security_group()
            .group_id(&group_id)
            .send()
            .await
        {
            Ok(_) => break,
            Err(err) if err.code() == Some("InvalidGroup.NotFound") => break,
            Err(err)
                if err.code() == Some("DependencyViolation")
                    && started.elapsed() < GROUP_RELEASE_TIMEOUT =>
            {
                println!(
                    "{region}: security group {name} is still held by instances shutting \
                     down; retrying in {} s",
                    GROUP_RELEASE_INTERVAL.as_secs()
                );
                tokio::time::sleep(GROUP_RELEASE_INTERVAL).await;
            }
            Err(err) => {
                return Err(api_error(
                    err,
                    region,
                    &format!("deleting security group {name} ({group_id})"),
                )
                .context("run `cargo xtask testbed destroy` again in a few minutes"))
            }
        }
    }
    deleted.push(format!("security group {name} ({group_id}) in {region}"));
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_testbeds_own_key_pairs_are_matched() {
        let name = key_pair_name("tb", "ssh-ed25519 AAAAC3Nza a@b");
        assert!(is_testbed_key_pair(&name, "tb"));
        assert!(!is_testbed_key_pair(&name, "t"));
        let other = key_pair_name("tb-2", "ssh-ed25519 AAAAC3Nza a@b");
        assert!(!is_testbed_key_pair(&other, "tb"), "{other}");
        assert!(!is_testbed_key_pair("consensus-bench-tb-notahexx", "tb"));
    }

    use super::*;

    #[test]
    fn key_pair_name_follows_the_key_not_its_comment() {
        let a = key_pair_name("tb", "ssh-ed25519 AAAAC3Nza alice@laptop\n");
        let b = key_pair_name("tb", "ssh-ed25519 AAAAC3Nza bob@desk");
        let c = key_pair_name("tb", "ssh-ed25519 AAAAC3Nzb alice@laptop");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.starts_with("consensus-bench-tb-") && a.len() == "consensus-bench-tb-".len() + 8);
    }
}
