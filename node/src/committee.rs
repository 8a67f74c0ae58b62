//! The committee: who the validators are, their stake, keys and addresses.

use std::{net::SocketAddr, path::Path};

use anyhow::{bail, Context, Result};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

/// Index of a validator in the committee.
pub type AuthorityIndex = u32;

/// Voting power of a validator.
pub type Stake = u64;

/// One validator as written in `committee.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuthorityConfig {
    /// Ed25519 public key, hex encoded.
    pub public_key: String,
    /// Voting power.
    #[serde(default = "default_stake")]
    pub stake: Stake,
    /// Consensus (TCP) address.
    pub address: SocketAddr,
    /// Prometheus `/metrics` HTTP address.
    pub metrics_address: SocketAddr,
    /// Region used by latency emulation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

fn default_stake() -> Stake {
    1
}

/// The file format of `committee.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CommitteeConfig {
    /// Validators in index order.
    pub authorities: Vec<AuthorityConfig>,
}

/// A validated committee.
#[derive(Clone, Debug)]
pub struct Committee {
    authorities: Vec<Authority>,
    total_stake: Stake,
}

/// A validated committee member.
#[derive(Clone, Debug)]
pub struct Authority {
    /// Ed25519 verifying key.
    pub public_key: VerifyingKey,
    /// Voting power (> 0).
    pub stake: Stake,
    /// Consensus address.
    pub address: SocketAddr,
    /// Metrics address.
    pub metrics_address: SocketAddr,
    /// Region for latency emulation.
    pub region: Option<String>,
}

impl Committee {
    /// Validates a parsed committee file; `source` names it in errors.
    pub fn from_config(config: &CommitteeConfig, source: &str) -> Result<Self> {
        if config.authorities.is_empty() {
            bail!("{source}: field `authorities` is empty");
        }
        let mut authorities = Vec::with_capacity(config.authorities.len());
        for (i, a) in config.authorities.iter().enumerate() {
            let bytes = hex::decode(a.public_key.trim())
                .with_context(|| format!("{source}: authorities[{i}].public_key is not hex"))?;
            let array: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                anyhow::anyhow!("{source}: authorities[{i}].public_key must be 32 bytes")
            })?;
            let public_key = VerifyingKey::from_bytes(&array).with_context(|| {
                format!("{source}: authorities[{i}].public_key is not an ed25519 key")
            })?;
            if a.stake == 0 {
                bail!("{source}: authorities[{i}].stake must be > 0");
            }
            authorities.push(Authority {
                public_key,
                stake: a.stake,
                address: a.address,
                metrics_address: a.metrics_address,
                region: a.region.clone(),
            });
        }
        let total_stake = authorities.iter().map(|a| a.stake).sum();
        Ok(Self {
            authorities,
            total_stake,
        })
    }

    /// Reads and validates `committee.json`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read committee file {}", path.display()))?;
        let config: CommitteeConfig = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid committee file", path.display()))?;
        Self::from_config(&config, &path.display().to_string())
    }

    /// Number of validators.
    pub fn size(&self) -> usize {
        self.authorities.len()
    }

    /// Sum of all stake.
    pub fn total_stake(&self) -> Stake {
        self.total_stake
    }

    /// Stake needed for a quorum: floor(2S/3) + 1.
    pub fn quorum_threshold(&self) -> Stake {
        2 * self.total_stake / 3 + 1
    }

    /// Stake needed for validity: floor(S/3) + 1.
    pub fn validity_threshold(&self) -> Stake {
        self.total_stake / 3 + 1
    }

    /// The member at `index`, if any.
    pub fn authority(&self, index: AuthorityIndex) -> Option<&Authority> {
        self.authorities.get(index as usize)
    }

    /// Stake of `index` (0 if not a member).
    pub fn stake(&self, index: AuthorityIndex) -> Stake {
        self.authority(index).map_or(0, |a| a.stake)
    }

    /// All members with their index.
    pub fn authorities(&self) -> impl Iterator<Item = (AuthorityIndex, &Authority)> {
        self.authorities
            .iter()
            .enumerate()
            .map(|(i, a)| (i as AuthorityIndex, a))
    }

    /// Identifies the committee by its members' keys and stakes in index order (not by
    /// addresses: a validator may move to another host).
    pub fn digest(&self) -> crate::crypto::Digest {
        let mut bytes = Vec::with_capacity(self.authorities.len() * 40);
        for a in &self.authorities {
            bytes.extend_from_slice(a.public_key.as_bytes());
            bytes.extend_from_slice(&a.stake.to_le_bytes());
        }
        crate::crypto::digest(&bytes)
    }

    /// The `k`-th leader of `round` (round robin).
    pub fn leader(&self, round: u64, k: usize) -> AuthorityIndex {
        ((round + k as u64) % self.authorities.len() as u64) as AuthorityIndex
    }
}

/// Adds stake of distinct authorities.
#[derive(Default, Debug, Clone)]
pub struct StakeAggregator {
    seen: Vec<bool>,
    stake: Stake,
}

impl StakeAggregator {
    /// Counts `author` once; returns the total so far.
    pub fn add(&mut self, author: AuthorityIndex, committee: &Committee) -> Stake {
        let i = author as usize;
        if self.seen.len() <= i {
            self.seen.resize(i + 1, false);
        }
        if !self.seen[i] {
            self.seen[i] = true;
            self.stake += committee.stake(author);
        }
        self.stake
    }

    /// Stake counted so far.
    pub fn stake(&self) -> Stake {
        self.stake
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A committee of `n` equal-stake members with deterministic keys.
    pub(crate) fn committee(n: usize) -> (Committee, Vec<ed25519_dalek::SigningKey>) {
        let keys: Vec<_> = (0..n)
            .map(|i| ed25519_dalek::SigningKey::from_bytes(&[i as u8 + 1; 32]))
            .collect();
        let config = CommitteeConfig {
            authorities: keys
                .iter()
                .enumerate()
                .map(|(i, k)| AuthorityConfig {
                    public_key: hex::encode(k.verifying_key().as_bytes()),
                    stake: 1,
                    address: format!("127.0.0.1:{}", 1000 + i).parse().expect("addr"),
                    metrics_address: format!("127.0.0.1:{}", 2000 + i).parse().expect("addr"),
                    region: None,
                })
                .collect(),
        };
        (
            Committee::from_config(&config, "test").expect("committee"),
            keys,
        )
    }

    #[test]
    fn thresholds_follow_the_bft_bounds() {
        let (c, _) = committee(4);
        assert_eq!(c.quorum_threshold(), 3);
        assert_eq!(c.validity_threshold(), 2);
        let (c, _) = committee(7);
        assert_eq!(c.quorum_threshold(), 5);
        assert_eq!(c.validity_threshold(), 3);
    }

    #[test]
    fn rejects_bad_public_key_naming_the_field() {
        let config = CommitteeConfig {
            authorities: vec![AuthorityConfig {
                public_key: "zz".into(),
                stake: 1,
                address: "127.0.0.1:1".parse().expect("addr"),
                metrics_address: "127.0.0.1:2".parse().expect("addr"),
                region: None,
            }],
        };
        let err = Committee::from_config(&config, "committee.json").unwrap_err();
        assert!(format!("{err:#}").contains("authorities[0].public_key"));
    }
}
