//! Who writes a WAL: replaying another validator's log, or one from another committee,
//! would let this validator sign rounds it never signed or forget the ones it did.

use std::fmt;

use ed25519_dalek::VerifyingKey;

use crate::{
    committee::{AuthorityIndex, Committee},
    crypto::Digest,
};

/// The validator and committee a WAL belongs to (recorded at the start of every segment).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Owner {
    /// [`Committee::digest`] of the committee.
    pub committee: Digest,
    /// Index of the validator in it.
    pub authority: AuthorityIndex,
    /// The validator's public key.
    pub public_key: [u8; 32],
}

impl Owner {
    /// Validator `authority` of `committee`, signing with `key`.
    pub fn new(committee: &Committee, authority: AuthorityIndex, key: &VerifyingKey) -> Self {
        Self {
            committee: committee.digest(),
            authority,
            public_key: key.to_bytes(),
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "validator {} (key {}...) of committee {}...",
            self.authority,
            hex::encode(&self.public_key[..8]),
            hex::encode(&self.committee[..8])
        )
    }
}
