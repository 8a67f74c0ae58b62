//! TCP transport: one outbound connection per peer for sending, inbound connections for
//! receiving; every connection starts with mutual authentication (see [`handshake`]);
//! length-prefixed frames with a size cap.

mod catch_up;
mod emulation;
pub mod handshake;
mod inbound;
mod log;
mod message;
mod outbound;
pub mod profile;
mod server;

pub use catch_up::{serve as serve_catch_up, CatchUp, Source, CATCH_UP_BLOCKS, CATCH_UP_JOBS};
pub use emulation::{Emulation, EmulationConfig};
pub use latency_matrix::LatencyMatrix;
pub use message::{write_message, Message, MessageError, MAX_SYNC_POINTS};
pub use outbound::{run_peer, Outgoing, PeerLink};
pub use server::{bind, codec, listen, max_handshakes, max_inbound, CoreMessage, Limits};

use std::{sync::Arc, time::Duration};

use tokio::sync::mpsc;

use crate::{block::BlockPtr, committee::AuthorityIndex, metrics::Metrics};

/// How long a member cut off for invalid data may not reconnect.
pub const COOL_DOWN: Duration = Duration::from_secs(10);

/// The queues to one peer.
#[derive(Clone)]
pub struct PeerQueues {
    /// Real-time messages.
    pub messages: mpsc::Sender<Outgoing>,
    /// Catch-up jobs.
    pub catch_up: mpsc::Sender<CatchUp>,
}

/// Per-peer bounded send queues, used by the core.
#[derive(Clone)]
pub struct Network {
    peers: Vec<Option<PeerQueues>>,
    metrics: Arc<Metrics>,
}

impl Network {
    /// Wraps the queues (None for self).
    pub fn new(peers: Vec<Option<PeerQueues>>, metrics: Arc<Metrics>) -> Self {
        Self { peers, metrics }
    }

    /// Hands a catch-up job to `peer`'s server; dropped if two already wait.
    pub fn catch_up(&self, peer: AuthorityIndex, job: CatchUp) {
        if let Some(Some(q)) = self.peers.get(peer as usize) {
            if q.catch_up.try_send(job).is_err() {
                self.metrics.catch_up_dropped.inc();
            }
        }
    }

    /// Queues a message for `peer`; a full queue drops it (catch-up recovers).
    pub fn send(&self, peer: AuthorityIndex, message: Message) {
        if let Some(Some(q)) = self.peers.get(peer as usize) {
            if q.messages.try_send(Outgoing::new(message)).is_err() {
                self.metrics.dropped_messages.inc();
            }
        }
    }

    /// Queues a message for every peer.
    pub fn broadcast(&self, message: &Message) {
        for (i, p) in self.peers.iter().enumerate() {
            if p.is_some() {
                self.send(i as AuthorityIndex, message.clone());
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
