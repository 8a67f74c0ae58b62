//! TCP transport: one outbound connection per peer for sending, inbound connections for
//! receiving; every connection starts with mutual authentication (see [`handshake`]);
//! length-prefixed frames with a size cap.

pub mod handshake;
mod latency;
mod log;
mod message;
mod peer;
mod peers;
mod server;

pub use latency::LatencyMatrix;
pub use message::{write_message, Message, MessageError};
pub use peer::{run_peer, Outgoing, PeerLink};
pub use server::{bind, codec, listen, max_handshakes, CoreMessage, Limits};

use std::{sync::Arc, time::Duration};

use tokio::sync::mpsc;

use crate::{block::BlockPtr, committee::AuthorityIndex, metrics::Metrics};

/// How long a member cut off for invalid data may not reconnect.
pub const COOL_DOWN: Duration = Duration::from_secs(10);

/// Per-peer bounded send queues, used by the core.
#[derive(Clone)]
pub struct Network {
    peers: Vec<Option<mpsc::Sender<Outgoing>>>,
    metrics: Arc<Metrics>,
}

impl Network {
    /// Wraps the queues (None for self).
    pub fn new(peers: Vec<Option<mpsc::Sender<Outgoing>>>, metrics: Arc<Metrics>) -> Self {
        Self { peers, metrics }
    }

    /// Queues a message for `peer`; a full queue drops it (catch-up recovers).
    pub fn send(&self, peer: AuthorityIndex, message: Message) {
        if let Some(Some(tx)) = self.peers.get(peer as usize) {
            if tx.try_send(Outgoing::new(message)).is_err() {
                self.metrics.dropped_messages.inc();
            }
        }
    }

    /// Queues a block for every peer.
    pub fn broadcast_block(&self, block: &BlockPtr) {
        for (i, p) in self.peers.iter().enumerate() {
            if p.is_some() {
                self.send(
                    i as AuthorityIndex,
                    Message::Block(block.serialized().clone()),
                );
            }
        }
    }
}
