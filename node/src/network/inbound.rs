//! Inbound connections per committee member: at most one at a time (a newly authenticated
//! connection replaces the older one, which is closed), and a cool-down during which a member
//! cut off for invalid data may not reconnect.

use std::{sync::Mutex, time::Duration};

use tokio::{sync::watch, time::Instant};

use super::handshake::HandshakeError;
use crate::committee::AuthorityIndex;

struct Slot {
    /// Bumped by every newly authenticated connection of the member.
    generation: watch::Sender<u64>,
    cooling_until: Mutex<Option<Instant>>,
}

/// The inbound connection state of every member.
pub(super) struct InboundPeers {
    slots: Vec<Slot>,
}

/// The current connection of a member, until a newer one replaces it.
pub(super) struct Registration {
    generation: watch::Receiver<u64>,
    mine: u64,
}

impl Registration {
    /// Resolves when a newer connection of the same member authenticated.
    pub(super) async fn replaced(&mut self) {
        loop {
            if *self.generation.borrow_and_update() != self.mine {
                return;
            }
            if self.generation.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

impl InboundPeers {
    /// State for a committee of `n` members.
    pub(super) fn new(n: usize) -> Self {
        Self {
            slots: (0..n)
                .map(|_| Slot {
                    generation: watch::channel(0).0,
                    cooling_until: Mutex::new(None),
                })
                .collect(),
        }
    }

    /// Refuses a member that is cooling down.
    pub(super) fn admit(&self, member: AuthorityIndex) -> Result<(), HandshakeError> {
        let Some(slot) = self.slots.get(member as usize) else {
            return Err(HandshakeError::UnknownMember(member));
        };
        let until = slot.cooling_until.lock().unwrap_or_else(|p| p.into_inner());
        match *until {
            Some(t) if Instant::now() < t => Err(HandshakeError::CoolingDown(member)),
            _ => Ok(()),
        }
    }

    /// Makes a newly authenticated connection the member's only one.
    pub(super) fn register(&self, member: AuthorityIndex) -> Registration {
        let Some(slot) = self.slots.get(member as usize) else {
            // Unreachable after a handshake; a registration nothing replaces.
            return Registration {
                generation: watch::channel(0).1,
                mine: 0,
            };
        };
        let mut mine = 0;
        slot.generation.send_modify(|g| {
            *g += 1;
            mine = *g;
        });
        Registration {
            generation: slot.generation.subscribe(),
            mine,
        }
    }

    /// Refuses the member's handshakes for `duration`.
    pub(super) fn cool_down(&self, member: AuthorityIndex, duration: Duration) {
        if let Some(slot) = self.slots.get(member as usize) {
            *slot.cooling_until.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(Instant::now() + duration);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_new_connection_replaces_the_old_one() {
        let peers = InboundPeers::new(4);
        let mut first = peers.register(2);
        let mut other = peers.register(3);
        let _second = peers.register(2);
        tokio::time::timeout(Duration::from_secs(5), first.replaced())
            .await
            .expect("the first connection of member 2 is replaced");
        let still = tokio::time::timeout(Duration::from_millis(10), other.replaced()).await;
        assert!(still.is_err(), "member 3's connection was not replaced");
    }

    #[tokio::test]
    async fn a_cooling_member_is_refused_until_it_expires() {
        tokio::time::pause();
        let peers = InboundPeers::new(4);
        peers.cool_down(1, Duration::from_secs(10));
        assert!(matches!(
            peers.admit(1),
            Err(HandshakeError::CoolingDown(1))
        ));
        assert!(peers.admit(2).is_ok());
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(peers.admit(1).is_ok());
    }
}
