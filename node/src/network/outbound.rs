//! Outbound connection to one peer: reconnects with bounded backoff, authenticates, then
//! sends queued messages when the emulated network delivers them (FIFO per peer, see
//! [`super::Emulation`]); catch-up replies go out when no real-time message waits.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use futures_util::StreamExt;
use tokio::{
    io::{AsyncWriteExt, BufWriter},
    net::{tcp::OwnedWriteHalf, TcpStream},
    sync::mpsc,
    time::{sleep, sleep_until, timeout, Instant},
};
use tokio_util::codec::FramedRead;

use super::{
    handshake::{self, Identity, MAX_HANDSHAKE_FRAME},
    message::write_message,
    server::codec,
    Emulation, Message,
};
use crate::{committee::AuthorityIndex, metrics::Metrics};

const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
const WRITE_BUFFER: usize = 256 * 1024;

/// A queued message and when it was queued.
pub struct Outgoing {
    queued: Instant,
    message: Message,
}

impl Outgoing {
    /// Stamps `message` with the current time.
    pub fn new(message: Message) -> Self {
        Self {
            queued: Instant::now(),
            message,
        }
    }
}

/// Everything the connection to one peer needs.
pub struct PeerLink {
    /// Who we are.
    pub identity: Arc<Identity>,
    /// The peer.
    pub peer: AuthorityIndex,
    /// Its consensus address.
    pub address: SocketAddr,
    /// Real-time messages (own blocks, requests, replies from memory).
    pub queue: mpsc::Receiver<Outgoing>,
    /// Catch-up replies, sent when `queue` is empty.
    pub catch_up: mpsc::Receiver<Outgoing>,
    /// The emulated network this validator sends through (None: none).
    pub emulation: Option<Arc<Emulation>>,
    /// Per member, the round to subscribe from after (re)connecting.
    pub subscribe_from: Arc<Vec<AtomicU64>>,
    /// Per member, whether our connection is up.
    pub connected: Arc<Vec<AtomicBool>>,
    /// Time to connect and authenticate.
    pub handshake_timeout: Duration,
    /// Silence after which a ping is sent.
    pub keepalive_interval: Duration,
    /// Metrics (refused handshakes).
    pub metrics: Arc<Metrics>,
}

/// Why a connection ended.
enum End {
    /// The validator is stopping.
    Stop,
    /// The connection failed; reconnect.
    Lost(String),
}

impl PeerLink {
    fn set_connected(&self, up: bool) {
        if let Some(c) = self.connected.get(self.peer as usize) {
            c.store(up, Ordering::Relaxed);
        }
    }

    async fn write_item(
        &self,
        w: &mut BufWriter<OwnedWriteHalf>,
        item: Outgoing,
    ) -> std::io::Result<()> {
        let size = item.message.wire_size();
        if let Some(emulation) = &self.emulation {
            let release = emulation.release_at(self.peer, item.queued, size);
            if release > Instant::now() {
                // What the buffer holds was due already: send it before waiting for this
                // message, or it would arrive with this one's delay added to its own.
                w.flush().await?;
                sleep_until(release).await;
            }
        }
        write_message(w, item.message).await?;
        self.metrics.sent_bytes.inc_by(size as u64);
        Ok(())
    }

    /// Sends until the connection fails or the queue closes. Anything the peer sends after
    /// the handshake, or its closing the connection, ends the connection.
    async fn drain<R>(
        &mut self,
        frames: &mut FramedRead<R, tokio_util::codec::LengthDelimitedCodec>,
        w: &mut BufWriter<OwnedWriteHalf>,
    ) -> End
    where
        R: tokio::io::AsyncRead + Unpin,
    {
        let mut last_write = Instant::now();
        loop {
            let first = tokio::select! {
                biased;
                item = self.queue.recv() => match item {
                    Some(item) => item,
                    None => return End::Stop,
                },
                Some(item) = self.catch_up.recv() => item,
                _ = sleep_until(last_write + self.keepalive_interval) => Outgoing::new(Message::Ping),
                _ = frames.next() => return End::Lost("the peer closed the connection".into()),
            };
            let mut next = Some(first);
            let result: std::io::Result<()> = async {
                while let Some(item) = next.take() {
                    self.write_item(w, item).await?;
                    next = self
                        .queue
                        .try_recv()
                        .or_else(|_| self.catch_up.try_recv())
                        .ok();
                }
                w.flush().await
            }
            .await;
            if let Err(e) = result {
                return End::Lost(e.to_string());
            }
            last_write = Instant::now();
        }
    }
}

/// Keeps an authenticated connection to the peer open and drains the queues into it until
/// the real-time queue closes. After each (re)connection it subscribes from
/// `subscribe_from[peer]`; `connected[peer]` tells whether the connection is up.
pub async fn run_peer(mut link: PeerLink) {
    let peer = link.peer;
    let address = link.address;
    let mut backoff = MIN_BACKOFF;
    loop {
        let stream = match timeout(link.handshake_timeout, TcpStream::connect(address)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(peer, %address, "connect failed: {e}");
                sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            Err(_) => {
                tracing::debug!(peer, %address, "connect timed out");
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let mut frames =
            FramedRead::with_capacity(read, codec(MAX_HANDSHAKE_FRAME), MAX_HANDSHAKE_FRAME + 4);
        let mut w = BufWriter::with_capacity(WRITE_BUFFER, write);
        let from = link
            .subscribe_from
            .get(peer as usize)
            .map_or(0, |r| r.load(Ordering::Relaxed));
        let handshake = async {
            handshake::dial(&mut frames, &mut w, &link.identity, peer)
                .await
                .map_err(|e| (e.reason(), e.to_string()))?;
            write_message(&mut w, Message::Subscribe(from))
                .await
                .map_err(|e| ("closed", e.to_string()))?;
            w.flush().await.map_err(|e| ("closed", e.to_string()))
        };
        let failure = match timeout(link.handshake_timeout, handshake).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some(("timeout", "no handshake in time".to_string())),
        };
        if let Some((reason, detail)) = failure {
            if reason != "closed" {
                link.metrics
                    .connections_refused
                    .with_label_values(&[reason])
                    .inc();
                tracing::warn!(peer, %address, "handshake with the peer failed ({reason}): {detail}");
            } else {
                tracing::debug!(peer, %address, "handshake failed: {detail}");
            }
            sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            continue;
        }
        tracing::info!(peer, %address, subscribe_from = from, "connected");
        link.set_connected(true);
        backoff = MIN_BACKOFF;
        let end = link.drain(&mut frames, &mut w).await;
        link.set_connected(false);
        match end {
            End::Stop => return,
            End::Lost(e) => tracing::info!(peer, "connection lost: {e}"),
        }
        sleep(backoff).await;
    }
}
