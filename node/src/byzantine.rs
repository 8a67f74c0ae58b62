//! Byzantine behaviours for benchmarks: a validator run with one of them attacks the
//! others in a fixed, bounded way, so a benchmark can measure what honest validators
//! still achieve. Never for production: `node run` refuses them without an explicit
//! acknowledgement.

use std::{fmt, str::FromStr, sync::Arc, time::Duration};

use bytes::Bytes;
use ed25519_dalek::SigningKey;

use crate::{
    block::{Block, BlockRef},
    committee::{AuthorityIndex, Committee},
    metrics::Metrics,
    network::{Message, Network},
};

/// How a Byzantine validator misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Signs a different block for every round to each peer.
    Equivocate,
    /// Never references the previous round's leaders (never votes) and sends its own
    /// blocks, and answers requests and subscriptions, to only f peers.
    Withhold,
    /// Besides behaving honestly, sends each peer a bounded rate of blocks with bad
    /// signatures, of forged blocks from far rounds whose parents never come, and of
    /// garbage frames.
    Spam,
    /// Proposes nothing in exactly the rounds it leads.
    SilentLeader,
    /// In the rounds it leads, in turn: proposes just before the others' leader timeout
    /// expires, proposes nothing, proposes in time (so that the others wait for it again).
    LateLeader,
    /// Every round, sends one version of its block to one half of its peers and another
    /// version (same includes and payload, another timestamp) to the other half.
    SplitVote,
}

impl Behaviour {
    /// Every behaviour.
    pub const ALL: [Self; 6] = [
        Self::Equivocate,
        Self::Withhold,
        Self::Spam,
        Self::SilentLeader,
        Self::LateLeader,
        Self::SplitVote,
    ];

    /// The name on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Self::Equivocate => "equivocate",
            Self::Withhold => "withhold",
            Self::Spam => "spam",
            Self::SilentLeader => "silent-leader",
            Self::LateLeader => "late-leader",
            Self::SplitVote => "split-vote",
        }
    }
}

impl fmt::Display for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Behaviour {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|b| b.name()).collect();
                format!(
                    "unknown Byzantine behaviour `{s}` (one of: {})",
                    names.join(", ")
                )
            })
    }
}

/// What a late leader does in a round it leads: the rounds it leads take turns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LatePhase {
    /// Proposes at [`LATE_FRACTION`] of the leader timeout after the round started.
    Late,
    /// Proposes nothing.
    Silent,
    /// Proposes in time: honest validators wait for it again afterwards.
    InTime,
}

impl LatePhase {
    /// The phase of `round` in a committee of `n`: consecutive rounds an authority leads
    /// under round robin are `n` apart, so they take the phases in turn.
    pub fn of(round: u64, n: usize) -> Self {
        match (round / n.max(1) as u64) % 3 {
            0 => Self::Late,
            1 => Self::Silent,
            _ => Self::InTime,
        }
    }
}

/// How far into its leader timeout a late leader proposes: just before the others give up
/// waiting (they start waiting a little after it started the round).
pub const LATE_FRACTION: f64 = 0.9;

/// The f peers a withholding validator still talks to: the next ones after it by index.
pub fn withhold_peers(me: AuthorityIndex, committee: &Committee) -> Vec<AuthorityIndex> {
    let n = committee.size() as AuthorityIndex;
    let f = (n.saturating_sub(1)) / 3;
    (1..=f).map(|i| (me + i) % n).collect()
}

/// Spam sent to each peer per tick of [`SPAM_INTERVAL`]: one block with a bad signature and
/// one forged block from a far round; a garbage frame every [`GARBAGE_EVERY`] ticks.
pub const SPAM_INTERVAL: Duration = Duration::from_millis(100);
/// Ticks between garbage frames (each makes the receiver close the connection).
pub const GARBAGE_EVERY: u64 = 20;
/// How far above the current round forged blocks claim to be.
const FORGED_ROUNDS_AHEAD: u64 = 100;

/// Sends the spam of [`Behaviour::Spam`] forever (bounded rate: see [`SPAM_INTERVAL`]).
pub async fn spam(
    me: AuthorityIndex,
    committee: Arc<Committee>,
    key: SigningKey,
    network: Network,
    metrics: Arc<Metrics>,
) {
    let stranger = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let mut ticker = tokio::time::interval(SPAM_INTERVAL);
    for tick in 0u64.. {
        ticker.tick().await;
        let round = metrics.current_round.get().max(1) as u64;
        for (peer, message) in spam_messages(me, &committee, &key, &stranger, round, tick) {
            network.send(peer, message);
        }
    }
}

/// The spam of one tick, per peer: a block signed by `stranger` (a bad signature), a block
/// of ours from [`FORGED_ROUNDS_AHEAD`] rounds above `current_round` whose parents do not
/// exist, and every [`GARBAGE_EVERY`] ticks a frame with an unknown tag.
pub fn spam_messages(
    me: AuthorityIndex,
    committee: &Committee,
    key: &SigningKey,
    stranger: &SigningKey,
    current_round: u64,
    tick: u64,
) -> Vec<(AuthorityIndex, Message)> {
    let round = current_round + FORGED_ROUNDS_AHEAD + tick;
    let parents: Vec<BlockRef> = committee
        .authorities()
        .map(|(a, _)| {
            let mut digest = [0u8; 32];
            for chunk in digest.chunks_mut(8) {
                chunk.copy_from_slice(&crate::world::random_u64().to_le_bytes());
            }
            BlockRef {
                round: round - 1,
                author: a,
                digest,
            }
        })
        .collect();
    let payload = Bytes::from(tick.to_le_bytes().to_vec());
    let forged = Block::new_signed(me, round, 0, parents.clone(), payload.clone(), key);
    let unsigned = Block::new_signed(me, round, 0, parents, payload, stranger);
    let mut out = Vec::new();
    for (peer, _) in committee.authorities().filter(|(a, _)| *a != me) {
        out.push((peer, Message::Block(unsigned.serialized().clone())));
        out.push((peer, Message::Block(forged.serialized().clone())));
        if tick % GARBAGE_EVERY == GARBAGE_EVERY - 1 {
            out.push((peer, Message::Garbage(Bytes::from_static(b"garbage"))));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_choices() {
        for b in Behaviour::ALL {
            assert_eq!(b.name().parse::<Behaviour>(), Ok(b));
        }
        let err = "lie".parse::<Behaviour>().unwrap_err();
        assert!(
            err.contains("silent-leader, late-leader, split-vote"),
            "{err}"
        );
    }

    #[test]
    fn a_withholder_talks_to_f_peers() {
        let (c, _) = crate::committee::tests::committee(7);
        assert_eq!(withhold_peers(6, &c), vec![0, 1]);
        let (c, _) = crate::committee::tests::committee(4);
        assert_eq!(withhold_peers(1, &c), vec![2]);
    }
}
