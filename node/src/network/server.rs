//! Inbound connections: frame decoding and block verification, then hand-off to the core.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::{Context, Result};
use futures_util::StreamExt;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::mpsc,
    task::JoinSet,
    time::timeout,
};
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};

use super::Message;
use crate::{
    block::{Block, BlockPtr, BlockRef, Round},
    committee::{AuthorityIndex, Committee},
    metrics::Metrics,
    ratelimit::RateLimit,
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
}

/// Codec for frames of at most `max_frame` bytes (u32 little-endian length prefix).
pub fn codec(max_frame: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .little_endian()
        .length_field_length(4)
        .max_frame_length(max_frame)
        .new_codec()
}

/// Logs at most once per second, counting what it skipped.
#[derive(Default)]
struct RateLimitedLog(RateLimit);

impl RateLimitedLog {
    fn warn(&mut self, peer: AuthorityIndex, what: &str) {
        if let Some(suppressed) = self.0.check() {
            tracing::warn!(peer, suppressed, "{what}");
        }
    }
}

/// Accepts connections on `listener` and serves each until it fails.
pub async fn listen(
    listener: TcpListener,
    me: AuthorityIndex,
    committee: Arc<Committee>,
    max_frame: usize,
    core: mpsc::Sender<CoreMessage>,
    metrics: Arc<Metrics>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, address)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(
                        stream,
                        address,
                        me,
                        committee.clone(),
                        max_frame,
                        core.clone(),
                        metrics.clone(),
                    ));
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
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

async fn serve_connection(
    stream: TcpStream,
    address: SocketAddr,
    me: AuthorityIndex,
    committee: Arc<Committee>,
    max_frame: usize,
    core: mpsc::Sender<CoreMessage>,
    metrics: Arc<Metrics>,
) {
    let mut frames = FramedRead::with_capacity(stream, codec(max_frame), 256 * 1024);
    let peer = match timeout(Duration::from_secs(10), frames.next()).await {
        Ok(Some(Ok(frame))) => match Message::decode(frame.freeze()) {
            Ok(Message::Hello(p)) if p != me && committee.authority(p).is_some() => p,
            other => {
                tracing::warn!(%address, "bad hello ({other:?}): closing");
                return;
            }
        },
        _ => {
            tracing::debug!(%address, "no hello: closing");
            return;
        }
    };
    let mut log = RateLimitedLog::default();
    while let Some(frame) = frames.next().await {
        let frame = match frame {
            Ok(f) => f.freeze(),
            Err(e) => {
                tracing::warn!(peer, "bad frame ({e}): closing the connection");
                return;
            }
        };
        let message = match Message::decode(frame) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(peer, "malformed message ({e}): closing the connection");
                return;
            }
        };
        let to_core = match message {
            Message::Block(bytes) => match Block::parse_and_verify(bytes, &committee) {
                Ok(block) => CoreMessage::Block {
                    from: peer,
                    block: Arc::new(block),
                },
                Err(e) => {
                    metrics.invalid_blocks.inc();
                    log.warn(peer, &format!("invalid block dropped: {e}"));
                    continue;
                }
            },
            Message::Subscribe(after) => CoreMessage::Subscribe { from: peer, after },
            Message::Request(refs) => CoreMessage::Request { from: peer, refs },
            Message::Hello(_) => {
                tracing::warn!(peer, "second hello: closing the connection");
                return;
            }
        };
        if core.send(to_core).await.is_err() {
            return;
        }
    }
}
