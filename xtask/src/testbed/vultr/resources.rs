//! The account-wide resources a testbed needs before its instances: the user's SSH key and a
//! firewall group opening SSH and the benchmark ports. Both are found before being created, so
//! every deploy reuses them.

use anyhow::{Context, Result};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{
    client::Client,
    types::{FirewallGroup, FirewallGroupEnvelope, FirewallRule, SshKey, SshKeyEnvelope},
};

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
    let digest = hex::encode(&Sha256::digest(material.as_bytes())[..4]);
    format!("consensus-bench-{testbed_id}-{digest}")
}

/// The description that marks the testbed's firewall group.
pub fn firewall_description(testbed_id: &str) -> String {
    format!("consensus-bench testbed {testbed_id}")
}

/// The id of the key named `name`, registering `public_key` under that name if absent.
pub fn ensure_ssh_key(client: &Client, name: &str, public_key: &str) -> Result<String> {
    let keys: Vec<SshKey> = client
        .list("/ssh-keys", &[], "ssh_keys")
        .context("cannot list the account's SSH keys")?;
    if let Some(key) = keys.into_iter().find(|k| k.name == name) {
        return Ok(key.id);
    }
    let created: SshKeyEnvelope = client
        .post("/ssh-keys", &json!({ "name": name, "ssh_key": public_key }))
        .with_context(|| format!("cannot register the SSH key {name}"))?;
    Ok(created.ssh_key.id)
}

/// The id of the firewall group described as `description`, created if absent, with every
/// rule of `rules` present (missing ones added).
pub fn ensure_firewall(
    client: &Client,
    description: &str,
    rules: &[FirewallRule],
) -> Result<String> {
    let groups: Vec<FirewallGroup> = client
        .list("/firewalls", &[], "firewall_groups")
        .context("cannot list the account's firewall groups")?;
    let id = match groups.into_iter().find(|g| g.description == description) {
        Some(group) => group.id,
        None => {
            let created: FirewallGroupEnvelope = client
                .post("/firewalls", &json!({ "description": description }))
                .with_context(|| format!("cannot create the firewall group \"{description}\""))?;
            created.firewall_group.id
        }
    };
    let path = format!("/firewalls/{id}/rules");
    let existing: Vec<FirewallRule> = client
        .list(&path, &[], "firewall_rules")
        .with_context(|| format!("cannot list the rules of firewall group {id}"))?;
    for rule in rules {
        if !existing.contains(rule) {
            client.post_no_content(&path, rule).with_context(|| {
                format!("cannot open TCP port {} in firewall group {id}", rule.port)
            })?;
        }
    }
    Ok(id)
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
    fn rules_open_ssh_and_the_port_ranges() {
        let rules = firewall_rules(&[(26000, 26999), (27000, 27999)]);
        let ports: Vec<_> = rules.iter().map(|r| r.port.as_str()).collect();
        assert_eq!(ports, ["22", "26000:26999", "27000:27999"]);
        assert!(rules
            .iter()
            .all(|r| r.protocol == "tcp" && r.subnet_size == 0));
    }
}
