//! The account-wide resources a testbed needs before its instances: the user's SSH key and a
//! firewall group opening SSH and the benchmark ports. Both are found before being created, so
//! every deploy reuses them, and `testbed destroy` removes them once no instance is left.

use anyhow::{Context, Result};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{
    client::Client,
    create::create_checked,
    types::{FirewallGroup, FirewallGroupEnvelope, FirewallRule, SshKey, SshKeyEnvelope},
};

/// What every key name of a testbed starts with; a digest of the key follows.
fn ssh_key_prefix(testbed_id: &str) -> String {
    format!("consensus-bench-{testbed_id}-")
}

/// Hex digits of the key digest in a key name.
const KEY_DIGEST_HEX: usize = 8;

/// What new instances are created with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resources {
    pub ssh_key_id: String,
    pub firewall_group_id: String,
}

/// The name the testbed's key is registered under: it carries a digest of the key, so a
/// changed key file registers the new key instead of reusing the old one.
pub fn ssh_key_name(testbed_id: &str, public_key: &str) -> String {
    let material = public_key
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let digest = hex::encode(&Sha256::digest(material.as_bytes())[..KEY_DIGEST_HEX / 2]);
    format!("{}{digest}", ssh_key_prefix(testbed_id))
}

/// Whether `name` is a key name [`ssh_key_name`] gives for this testbed (whatever the key):
/// the prefix, then exactly the digest, so testbed `a` never claims the keys of testbed `a-b`.
pub fn is_testbed_key_name(testbed_id: &str, name: &str) -> bool {
    name.strip_prefix(&ssh_key_prefix(testbed_id))
        .is_some_and(|d| d.len() == KEY_DIGEST_HEX && d.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The description that marks the testbed's firewall group.
pub fn firewall_description(testbed_id: &str) -> String {
    format!("consensus-bench testbed {testbed_id}")
}

/// The id of the key named `name`, registering `public_key` under that name if absent.
pub fn ensure_ssh_key(client: &Client, name: &str, public_key: &str) -> Result<String> {
    let find = || -> Result<Option<String>> {
        let keys: Vec<SshKey> = client
            .list("/ssh-keys", &[], "ssh_keys")
            .context("cannot list the account's SSH keys")?;
        Ok(keys.into_iter().find(|k| k.name == name).map(|k| k.id))
    };
    if let Some(id) = find()? {
        return Ok(id);
    }
    create_checked(
        client.progress(),
        &format!("SSH key {name}"),
        || {
            client
                .create::<SshKeyEnvelope>(
                    "/ssh-keys",
                    &json!({ "name": name, "ssh_key": public_key }),
                )
                .map(|created| created.ssh_key.id)
        },
        find,
    )
    .with_context(|| format!("cannot register the SSH key {name}"))
}

/// The id of the firewall group described as `description`, created if absent, with every
/// rule of `rules` present (missing ones added).
pub fn ensure_firewall(
    client: &Client,
    description: &str,
    rules: &[FirewallRule],
) -> Result<String> {
    let find = || -> Result<Option<String>> {
        Ok(testbed_firewalls(client, description)?
            .into_iter()
            .next()
            .map(|g| g.id))
    };
    let id = match find()? {
        Some(id) => id,
        None => create_checked(
            client.progress(),
            &format!("firewall group \"{description}\""),
            || {
                client
                    .create::<FirewallGroupEnvelope>(
                        "/firewalls",
                        &json!({ "description": description }),
                    )
                    .map(|created| created.firewall_group.id)
            },
            find,
        )
        .with_context(|| format!("cannot create the firewall group \"{description}\""))?,
    };
    let path = format!("/firewalls/{id}/rules");
    let listed = || -> Result<Vec<FirewallRule>> {
        client
            .list(&path, &[], "firewall_rules")
            .with_context(|| format!("cannot list the rules of firewall group {id}"))
    };
    let existing = listed()?;
    for rule in rules {
        if existing.iter().any(|e| e.same_as(rule)) {
            continue;
        }
        create_checked(
            client.progress(),
            &format!("rule for TCP port {} in firewall group {id}", rule.port),
            || client.create_no_content(&path, rule),
            || Ok(listed()?.iter().any(|e| e.same_as(rule)).then_some(())),
        )
        .with_context(|| format!("cannot open TCP port {} in firewall group {id}", rule.port))?;
    }
    Ok(id)
}

/// The firewall groups described as `description`.
fn testbed_firewalls(client: &Client, description: &str) -> Result<Vec<FirewallGroup>> {
    let groups: Vec<FirewallGroup> = client
        .list("/firewalls", &[], "firewall_groups")
        .context("cannot list the account's firewall groups")?;
    Ok(groups
        .into_iter()
        .filter(|g| g.description == description)
        .collect())
}

/// Deletes the testbed's firewall group(s) and every SSH key registered under its names; what
/// was deleted, in words. Already gone is fine. The caller makes sure no instance is left.
pub fn remove(client: &Client, testbed_id: &str) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    let gone = |result: Result<(), super::client::ApiError>| match result {
        Err(e) if e.status() == Some(404) => Ok(()),
        other => other,
    };
    let description = firewall_description(testbed_id);
    for group in testbed_firewalls(client, &description)? {
        gone(client.delete(&format!("/firewalls/{}", group.id)))
            .with_context(|| format!("cannot delete firewall group {}", group.id))?;
        removed.push(format!("firewall group {} (\"{description}\")", group.id));
    }
    let keys: Vec<SshKey> = client
        .list("/ssh-keys", &[], "ssh_keys")
        .context("cannot list the account's SSH keys")?;
    for key in keys
        .into_iter()
        .filter(|k| is_testbed_key_name(testbed_id, &k.name))
    {
        gone(client.delete(&format!("/ssh-keys/{}", key.id)))
            .with_context(|| format!("cannot delete SSH key {} ({})", key.name, key.id))?;
        removed.push(format!("SSH key {} ({})", key.name, key.id));
    }
    Ok(removed)
}

/// The firewall rules of a testbed: SSH and the benchmark port ranges.
pub fn firewall_rules(port_ranges: &[(u16, u16)]) -> Vec<FirewallRule> {
    std::iter::once("22".to_string())
        .chain(
            port_ranges
                .iter()
                .map(|(first, last)| format!("{first}:{last}")),
        )
        .map(FirewallRule::tcp_from_anywhere)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_name_follows_the_key_material_not_its_comment() {
        let a = ssh_key_name("bench", "ssh-ed25519 AAAAC3Nz alice@laptop\n");
        let b = ssh_key_name("bench", "ssh-ed25519 AAAAC3Nz other-comment");
        let c = ssh_key_name("bench", "ssh-ed25519 AAAAC3Nx alice@laptop");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.starts_with("consensus-bench-bench-"), "{a}");
    }

    #[test]
    fn key_names_of_a_testbed_are_recognised_and_no_others() {
        let name = ssh_key_name("bench", "ssh-ed25519 AAAAC3Nz alice@laptop");
        assert!(is_testbed_key_name("bench", &name));
        let longer = ssh_key_name("bench-v", "ssh-ed25519 AAAAC3Nz alice@laptop");
        assert!(!is_testbed_key_name("bench", &longer), "{longer}");
        assert!(is_testbed_key_name("bench-v", &longer));
        assert!(!is_testbed_key_name(
            "bench",
            "consensus-bench-bench-laptop"
        ));
        assert!(!is_testbed_key_name("bench", "my-own-key"));
    }

    #[test]
    fn rules_open_ssh_and_the_port_ranges() {
        let rules = firewall_rules(&[(26000, 26999), (27000, 27999)]);
        let ports: Vec<_> = rules.iter().map(|r| r.port.as_str()).collect();
        assert_eq!(ports, ["22", "26000:26999", "27000:27999"]);
        assert!(rules
            .iter()
            .all(|r| r.protocol == "tcp" && r.subnet_size == 0));
    }
}
