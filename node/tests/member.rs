//! A committee member played by the test: it dials and accepts with a real (or a wrong) key
//! through the node's own handshake, then sends or reads raw messages.

#![allow(dead_code)]

use std::{net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use futures_util::StreamExt;
use node::{
    committee::{AuthorityIndex, Committee},
    network::{
        codec,
        handshake::{self, HandshakeError, Identity, MAX_HANDSHAKE_FRAME},
        write_message, Message,
    },
};
use tokio::{
    io::AsyncWriteExt,
    net::{
        tcp::{OwnedReadHalf, OwnedWriteHalf},
        TcpListener, TcpStream,
    },
    time::timeout,
};
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};

/// Largest frame the test reads (blocks of the test parameters fit).
const MAX_FRAME: usize = 8 << 20;

/// One end of a connection after the handshake.
pub(crate) struct Connection {
    /// Frames from the other end.
    pub frames: FramedRead<OwnedReadHalf, LengthDelimitedCodec>,
    /// To the other end.
    pub writer: OwnedWriteHalf,
}

impl Connection {
    /// Sends one message.
    pub(crate) async fn send(&mut self, message: Message) -> std::io::Result<()> {
        write_message(&mut self.writer, message).await?;
        self.writer.flush().await
    }

    /// The next message, or None when the connection ends (or nothing comes for 10 s).
    pub(crate) async fn next(&mut self) -> Option<Message> {
        match timeout(Duration::from_secs(10), self.frames.next()).await {
            Ok(Some(Ok(frame))) => Message::decode(frame.freeze()).ok(),
            _ => None,
        }
    }

    /// Whether the other end closed the connection within 10 s (anything it sends is read
    /// and ignored).
    pub(crate) async fn closed(&mut self) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, self.frames.next()).await {
                Err(_) => return false,
                Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }
}

/// Member `me` of `committee`, signing with `key` (its own, or another one to pose as it).
pub(crate) fn identity(
    committee: &Arc<Committee>,
    me: AuthorityIndex,
    key: &SigningKey,
) -> Identity {
    Identity {
        me,
        key: key.clone(),
        committee: committee.clone(),
    }
}

fn split(stream: TcpStream) -> Connection {
    let (read, writer) = stream.into_split();
    Connection {
        frames: FramedRead::new(read, codec(MAX_HANDSHAKE_FRAME)),
        writer,
    }
}

/// Connects to member `peer` at `address` as `identity`.
pub(crate) async fn dial(
    identity: &Identity,
    peer: AuthorityIndex,
    address: SocketAddr,
) -> Result<Connection, HandshakeError> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|_| HandshakeError::Closed)?;
    let mut c = split(stream);
    handshake::dial(&mut c.frames, &mut c.writer, identity, peer).await?;
    c.frames.decoder_mut().set_max_frame_length(MAX_FRAME);
    Ok(c)
}

/// Accepts connections on `listener` as `identity` until one authenticates (at most 20 s).
pub(crate) async fn accept(
    listener: &TcpListener,
    identity: &Identity,
) -> (AuthorityIndex, Connection) {
    let attempt = async {
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            let mut c = split(stream);
            if let Ok(peer) =
                handshake::accept(&mut c.frames, &mut c.writer, identity, |_| Ok(())).await
            {
                c.frames.decoder_mut().set_max_frame_length(MAX_FRAME);
                return (peer, c);
            }
        }
    };
    timeout(Duration::from_secs(20), attempt)
        .await
        .expect("the validator connected and authenticated within 20 s")
}

/// Raw connection without any handshake.
pub(crate) async fn raw(address: SocketAddr) -> Connection {
    split(TcpStream::connect(address).await.expect("connect"))
}

/// Frames `body` (length prefix included).
pub(crate) fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// The block bytes in a message, if it is one.
pub(crate) fn block_bytes(message: &Message) -> Option<Bytes> {
    match message {
        Message::Block(b) => Some(b.clone()),
        _ => None,
    }
}
