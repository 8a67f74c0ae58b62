//! Outbound connection to one peer: reconnects with bounded backoff, sends queued messages
//! after the emulated one-way delay (FIFO per peer).

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::{
    io::{AsyncWriteExt, BufWriter},
    net::TcpStream,
    sync::mpsc,
    time::{sleep, sleep_until, Instant},
};

use super::Message;
use crate::committee::AuthorityIndex;

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

async fn write_message(w: &mut BufWriter<TcpStream>, message: Message) -> std::io::Result<()> {
    let (tag, body) = message.into_parts();
    w.write_all(&((body.len() + 1) as u32).to_le_bytes())
        .await?;
    w.write_all(&[tag]).await?;
    w.write_all(&body).await
}

/// Keeps a connection to `peer` open and drains `queue` into it until the queue closes.
/// After each (re)connection it says hello and subscribes from `subscribe_from[peer]`;
/// `connected[peer]` tells whether the connection is up.
pub async fn run_peer(
    me: AuthorityIndex,
    peer: AuthorityIndex,
    address: SocketAddr,
    mut queue: mpsc::Receiver<Outgoing>,
    delay: Duration,
    subscribe_from: Arc<Vec<AtomicU64>>,
    connected: Arc<Vec<AtomicBool>>,
) {
    let set_connected = |up: bool| {
        if let Some(c) = connected.get(peer as usize) {
            c.store(up, Ordering::Relaxed);
        }
    };
    let mut backoff = MIN_BACKOFF;
    loop {
        let stream = match TcpStream::connect(address).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(peer, %address, "connect failed: {e}");
                sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let mut w = BufWriter::with_capacity(WRITE_BUFFER, stream);
        let from = subscribe_from
            .get(peer as usize)
            .map_or(0, |r| r.load(Ordering::Relaxed));
        let hello = async {
            write_message(&mut w, Message::Hello(me)).await?;
            write_message(&mut w, Message::Subscribe(from)).await?;
            w.flush().await
        };
        if let Err(e) = hello.await {
            tracing::debug!(peer, "handshake failed: {e}");
            sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            continue;
        }
        tracing::info!(peer, %address, subscribe_from = from, "connected");
        set_connected(true);
        backoff = MIN_BACKOFF;
        loop {
            let Some(first) = queue.recv().await else {
                set_connected(false);
                return;
            };
            let mut next = Some(first);
            let result: std::io::Result<()> = async {
                while let Some(item) = next.take() {
                    if !delay.is_zero() {
                        sleep_until(item.queued + delay).await;
                    }
                    write_message(&mut w, item.message).await?;
                    next = queue.try_recv().ok();
                }
                w.flush().await
            }
            .await;
            if let Err(e) = result {
                tracing::info!(peer, "connection lost: {e}");
                set_connected(false);
                break;
            }
        }
        sleep(backoff).await;
    }
}
