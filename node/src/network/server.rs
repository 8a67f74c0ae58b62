//! Inbound connections: the handshake under a count and time limit, then frame decoding and
//! block verification before hand-off to the core.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::{Context, Result};
use futures_util::StreamExt;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{mpsc, OwnedSemaphorePermit},
    task::JoinSet,
    time::timeout,
};
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};

use super::{
    handshake::{self, HandshakeError, Identity, MAX_HANDSHAKE_FRAME},
    inbound::InboundPeers,
    log::PeerLog,
    Message, COOL_DOWN,
};
use crate::{
    accept::Gate,
    block::{Block, BlockPtr, BlockRef, Round},
    committee::AuthorityIndex,
    committer::SyncPoint,
    descriptors,
    metrics::Metrics,
    parameters::Parameters,
};

/// What connection readers hand to the core.
#[derive(Debug)]
pub enum CoreMessage {
    /// A verified block.
    Block {
        /// The peer it came from.
        from: AuthorityIndex,
        /// The block.
        block: BlockPtr,
    },
    /// The peer wants our own blocks above `after`.
    Subscribe {
        /// The peer.
        from: AuthorityIndex,
        /// Last round of ours it holds.
        after: Round,
    },
    /// The peer wants these blocks.
    Request {
        /// The peer.
        from: AuthorityIndex,
        /// Wanted blocks.
        refs: Vec<BlockRef>,
    },
    /// The peer wants our recent sync points.
    SyncRequest {
        /// The peer.
        from: AuthorityIndex,
    },
    /// The peer's recent sync points (not yet vouched for by anyone else).
    SyncPoints {
        /// The peer.
        from: AuthorityIndex,
        /// Its sync points.
        points: Vec<SyncPoint>,
    },
}

/// Codec for frames of at most `max_frame` bytes (u32 little-endian length prefix).
pub fn codec(max_frame: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .little_endian()
        .length_field_length(4)
        .max_frame_length(max_frame)
        .new_codec()
}

/// Most connections in their handshake at once for a committee of `n`: beyond it new
/// connections are closed at once.
pub fn max_handshakes(n: usize) -> usize {
    (2 * n).max(64)
}

/// Most inbound connections the peer port holds for a committee of `n`: those in their
/// handshake and one authenticated connection per member.
pub fn max_inbound(n: usize) -> usize {
    max_handshakes(n) + n
}

/// What an inbound connection may cost.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest frame after authentication.
    pub max_frame: usize,
    /// Time to complete the handshake.
    pub handshake_timeout: Duration,
    /// Silence after which an authenticated connection is closed.
    pub idle_timeout: Duration,
}

impl Limits {
    /// The limits `parameters` set.
    pub fn new(parameters: &Parameters) -> Self {
        Self {
            max_frame: parameters.max_frame_bytes(),
            handshake_timeout: parameters.handshake_timeout(),
            idle_timeout: parameters.idle_timeout(),
        }
    }
}

/// State shared by the connections of one listener.
struct Shared {
    identity: Arc<Identity>,
    limits: Limits,
    core: mpsc::Sender<CoreMessage>,
    metrics: Arc<Metrics>,
    peers: InboundPeers,
    log: PeerLog,
}

/// Accepts connections on `listener` and serves each until it fails.
pub async fn listen(
    listener: TcpListener,
    identity: Arc<Identity>,
    limits: Limits,
    core: mpsc::Sender<CoreMessage>,
    metrics: Arc<Metrics>,
) {
    let n = identity.committee.size();
    let gate = Gate::new(
        "peer",
        max_handshakes(n),
        descriptors::reserve(n),
        metrics.clone(),
    );
    let shared = Arc::new(Shared {
        identity,
        limits,
        core,
        metrics,
        peers: InboundPeers::new(n),
        log: PeerLog::default(),
    });
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            (stream, address) = gate.accept(&listener) => {
                let permit = match gate.admit(&stream) {
                    Ok(permit) => permit,
                    Err(refusal) => {
                        shared.refuse(&address, refusal.reason(), refusal.detail());
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                connections.spawn(serve_connection(stream, address, shared.clone(), permit));
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Binds the consensus address.
pub async fn bind(address: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot bind the consensus address {address}"))
}

impl Shared {
    /// Records how long a block took from its author's clock to here.
    fn observe_delay(&self, block: &Block) {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let delay = now_ms.saturating_sub(block.timestamp_ms()) as f64 / 1000.0;
        self.metrics
            .block_delay
            .with_label_values(&[&block.author().to_string()])
            .observe(delay);
    }

    fn refuse(&self, address: &SocketAddr, reason: &str, detail: &str) {
        self.metrics
            .connections_refused
            .with_label_values(&[reason])
            .inc();
        self.log
            .warn(address, &format!("connection refused ({reason}): {detail}"));
    }

    /// Counts and logs the end of an authenticated connection; members cut off for invalid
    /// data cool down before they may reconnect.
    fn disconnect(&self, peer: AuthorityIndex, reason: &str, detail: &str) {
        self.metrics
            .peer_disconnects
            .with_label_values(&[reason])
            .inc();
        if reason != "replaced" && reason != "idle" {
            self.peers.cool_down(peer, COOL_DOWN);
        }
        self.log.warn(
            &format!("member {peer}"),
            &format!("disconnected ({reason}): {detail}"),
        );
    }
}

async fn serve_connection(
    stream: TcpStream,
    address: SocketAddr,
    shared: Arc<Shared>,
    permit: OwnedSemaphorePermit,
) {
    shared.metrics.unauthenticated_connections.inc();
    // The write half stays open for the connection's life: dropping it would tell the
    // dialer we are gone.
    let (read, mut write) = stream.into_split();
    // Before authentication the buffer holds one small handshake frame at most.
    let mut frames =
        FramedRead::with_capacity(read, codec(MAX_HANDSHAKE_FRAME), MAX_HANDSHAKE_FRAME + 4);
    let authenticated = timeout(
        shared.limits.handshake_timeout,
        handshake::accept(&mut frames, &mut write, &shared.identity, |p| {
            shared.peers.admit(p)
        }),
    )
    .await;
    shared.metrics.unauthenticated_connections.dec();
    drop(permit);
    let peer = match authenticated {
        Ok(Ok(peer)) => peer,
        Ok(Err(HandshakeError::Closed)) => {
            shared
                .metrics
                .connections_refused
                .with_label_values(&["closed"])
                .inc();
            tracing::debug!(%address, "connection closed during the handshake");
            return;
        }
        Ok(Err(e)) => return shared.refuse(&address, e.reason(), &e.to_string()),
        Err(_) => return shared.refuse(&address, "timeout", "no handshake in time"),
    };
    // From here on the read buffer grows with the frames, up to the largest allowed.
    frames
        .decoder_mut()
        .set_max_frame_length(shared.limits.max_frame);
    let mut registration = shared.peers.register(peer);
    tracing::debug!(peer, %address, "peer authenticated");
    let mut subscribed = false;
    loop {
        let next = tokio::select! {
            next = timeout(shared.limits.idle_timeout, frames.next()) => next,
            _ = registration.replaced() => {
                return shared.disconnect(peer, "replaced", "a newer connection authenticated");
            }
        };
        let frame = match next {
            Err(_) => {
                return shared.disconnect(peer, "idle", "nothing received for the idle timeout")
            }
            Ok(None) => return,
            Ok(Some(Ok(frame))) => frame.freeze(),
            Ok(Some(Err(e))) if e.kind() == std::io::ErrorKind::InvalidData => {
                return shared.disconnect(peer, "malformed", &format!("bad frame: {e}"));
            }
            Ok(Some(Err(e))) => {
                tracing::debug!(peer, "connection failed: {e}");
                return;
            }
        };
        let message = match Message::decode(frame) {
            Ok(m) => m,
            Err(e) => return shared.disconnect(peer, "malformed", &e.to_string()),
        };
        let to_core = match message {
            Message::Block(bytes) => {
                match Block::parse_and_verify(bytes, &shared.identity.committee) {
                    Ok(block) => {
                        if block.author() == peer {
                            shared.observe_delay(&block);
                        }
                        CoreMessage::Block {
                            from: peer,
                            block: Arc::new(block),
                        }
                    }
                    Err(e) => {
                        shared.metrics.invalid_blocks.inc();
                        return shared.disconnect(peer, "invalid-block", &e.to_string());
                    }
                }
            }
            Message::Subscribe(_) if subscribed => {
                return shared.disconnect(peer, "malformed", "second subscribe");
            }
            Message::Subscribe(after) => {
                subscribed = true;
                CoreMessage::Subscribe { from: peer, after }
            }
            Message::Request(refs) => CoreMessage::Request { from: peer, refs },
            Message::SyncRequest => CoreMessage::SyncRequest { from: peer },
            Message::SyncPoints(points) => CoreMessage::SyncPoints { from: peer, points },
            Message::Ping => continue,
            other @ (Message::Hello { .. }
            | Message::Challenge { .. }
            | Message::Auth(_)
            | Message::Garbage(_)) => {
                return shared.disconnect(
                    peer,
                    "malformed",
                    &format!("{} after the handshake", other.kind()),
                );
            }
        };
        if shared.core.send(to_core).await.is_err() {
            return;
        }
    }
}
