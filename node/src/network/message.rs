//! Messages between validators. A frame is `[length u32 LE][tag u8][fields]`, where the length
//! counts the tag and the fields.

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::{
    block::{BlockRef, Round, REF_LENGTH},
    committee::AuthorityIndex,
    committer::SyncPoint,
    crypto::SIGNATURE_LENGTH,
};

const HELLO: u8 = 0;
const BLOCK: u8 = 1;
const SUBSCRIBE: u8 = 2;
const REQUEST: u8 = 3;
const CHALLENGE: u8 = 4;
const AUTH: u8 = 5;
const PING: u8 = 6;
const SYNC_REQUEST: u8 = 7;
const SYNC_POINTS: u8 = 8;
const GARBAGE: u8 = 0xff;

/// Most references in one request.
pub(super) const MAX_REQUEST_REFS: usize = 1024;

/// Most sync points in one `SyncPoints` message.
pub const MAX_SYNC_POINTS: usize = 8;

/// Length of a handshake nonce.
pub(super) const NONCE_LENGTH: usize = 32;

/// A handshake nonce.
pub(super) type Nonce = [u8; NONCE_LENGTH];

/// An ed25519 signature as sent on the wire.
pub(super) type SignatureBytes = [u8; SIGNATURE_LENGTH];

/// A protocol message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Handshake, dialer to listener: who I claim to be, whom I want, my fresh nonce.
    Hello {
        /// The dialer's member index.
        from: AuthorityIndex,
        /// The listener's member index.
        to: AuthorityIndex,
        /// The dialer's nonce.
        nonce: Nonce,
    },
    /// Handshake, listener to dialer: its fresh nonce and its signature of the transcript.
    Challenge {
        /// The listener's member index.
        from: AuthorityIndex,
        /// The listener's nonce.
        nonce: Nonce,
        /// The listener's signature of the transcript.
        signature: SignatureBytes,
    },
    /// Handshake, dialer to listener: the dialer's signature of the transcript.
    Auth(SignatureBytes),
    /// A serialized block.
    Block(Bytes),
    /// Send me your own blocks above this round (and keep sending new ones); once per
    /// connection.
    Subscribe(Round),
    /// Send me these blocks.
    Request(Vec<BlockRef>),
    /// Keeps an idle connection open.
    Ping,
    /// Send me your recent sync points (I am too far behind to catch up block by block).
    SyncRequest,
    /// Recent sync points, oldest first (at most [`MAX_SYNC_POINTS`]).
    SyncPoints(Vec<SyncPoint>),
    /// A frame with a tag no validator knows: sent only by the `spam` Byzantine behaviour
    /// of benchmarks, never decoded.
    Garbage(Bytes),
}

/// A frame that is not a valid message.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MessageError {
    /// Empty frame.
    #[error("empty frame")]
    Empty,
    /// Unknown tag.
    #[error("unknown message tag {0}")]
    UnknownTag(u8),
    /// Wrong length for the tag.
    #[error("bad length for message tag {0}")]
    BadLength(u8),
}

fn array<const N: usize>(bytes: &[u8], tag: u8) -> Result<[u8; N], MessageError> {
    bytes.try_into().map_err(|_| MessageError::BadLength(tag))
}

impl Message {
    /// What kind of message this is, for logs (never the peer's bytes).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Hello { .. } => "hello",
            Self::Challenge { .. } => "challenge",
            Self::Auth(_) => "auth",
            Self::Block(_) => "block",
            Self::Subscribe(_) => "subscribe",
            Self::Request(_) => "request",
            Self::Ping => "ping",
            Self::SyncRequest => "sync-request",
            Self::SyncPoints(_) => "sync-points",
            Self::Garbage(_) => "garbage",
        }
    }

    /// The tag byte and body; block bodies are shared, not copied.
    pub fn into_parts(self) -> (u8, Bytes) {
        match self {
            Self::Hello { from, to, nonce } => {
                let mut out = BytesMut::with_capacity(8 + NONCE_LENGTH);
                out.put_u32_le(from);
                out.put_u32_le(to);
                out.put_slice(&nonce);
                (HELLO, out.freeze())
            }
            Self::Challenge {
                from,
                nonce,
                signature,
            } => {
                let mut out = BytesMut::with_capacity(4 + NONCE_LENGTH + SIGNATURE_LENGTH);
                out.put_u32_le(from);
                out.put_slice(&nonce);
                out.put_slice(&signature);
                (CHALLENGE, out.freeze())
            }
            Self::Auth(signature) => (AUTH, Bytes::copy_from_slice(&signature)),
            Self::Block(b) => (BLOCK, b),
            Self::Subscribe(r) => (SUBSCRIBE, Bytes::copy_from_slice(&r.to_le_bytes())),
            Self::Request(refs) => {
                let mut out = BytesMut::with_capacity(refs.len() * REF_LENGTH);
                for r in &refs {
                    r.encode(&mut out);
                }
                (REQUEST, out.freeze())
            }
            Self::Ping => (PING, Bytes::new()),
            Self::SyncRequest => (SYNC_REQUEST, Bytes::new()),
            Self::SyncPoints(points) => {
                let mut out = vec![points.len() as u8];
                for p in &points {
                    p.encode(&mut out);
                }
                (SYNC_POINTS, Bytes::from(out))
            }
            Self::Garbage(b) => (GARBAGE, b),
        }
    }

    /// Bytes of the frame on the wire: length prefix, tag and fields.
    pub fn wire_size(&self) -> usize {
        let body = match self {
            Self::Block(b) | Self::Garbage(b) => b.len(),
            Self::Request(refs) => refs.len() * REF_LENGTH,
            other => other.clone().into_parts().1.len(),
        };
        4 + 1 + body
    }

    /// Encodes as one frame body (tag + fields).
    pub fn encode(self) -> Bytes {
        let (tag, body) = self.into_parts();
        let mut out = BytesMut::with_capacity(1 + body.len());
        out.put_u8(tag);
        out.put_slice(&body);
        out.freeze()
    }

    /// Decodes a frame body.
    pub fn decode(frame: Bytes) -> Result<Self, MessageError> {
        let tag = *frame.first().ok_or(MessageError::Empty)?;
        let body = frame.slice(1..);
        match tag {
            HELLO => {
                let b: [u8; 8 + NONCE_LENGTH] = array(&body, tag)?;
                Ok(Self::Hello {
                    from: u32::from_le_bytes(array(&b[0..4], tag)?),
                    to: u32::from_le_bytes(array(&b[4..8], tag)?),
                    nonce: array(&b[8..], tag)?,
                })
            }
            CHALLENGE => {
                let b: [u8; 4 + NONCE_LENGTH + SIGNATURE_LENGTH] = array(&body, tag)?;
                Ok(Self::Challenge {
                    from: u32::from_le_bytes(array(&b[0..4], tag)?),
                    nonce: array(&b[4..4 + NONCE_LENGTH], tag)?,
                    signature: array(&b[4 + NONCE_LENGTH..], tag)?,
                })
            }
            AUTH => Ok(Self::Auth(array(&body, tag)?)),
            BLOCK => Ok(Self::Block(body)),
            SUBSCRIBE => Ok(Self::Subscribe(u64::from_le_bytes(array(&body, tag)?))),
            REQUEST => {
                if !body.len().is_multiple_of(REF_LENGTH)
                    || body.len() / REF_LENGTH > MAX_REQUEST_REFS
                {
                    return Err(MessageError::BadLength(tag));
                }
                let refs = body
                    .chunks(REF_LENGTH)
                    .filter_map(BlockRef::decode)
                    .collect();
                Ok(Self::Request(refs))
            }
            PING if body.is_empty() => Ok(Self::Ping),
            PING => Err(MessageError::BadLength(tag)),
            SYNC_REQUEST if body.is_empty() => Ok(Self::SyncRequest),
            SYNC_REQUEST => Err(MessageError::BadLength(tag)),
            SYNC_POINTS => {
                let mut b: &[u8] = &body;
                let count = *b.first().ok_or(MessageError::BadLength(tag))? as usize;
                b = &b[1..];
                if count > MAX_SYNC_POINTS {
                    return Err(MessageError::BadLength(tag));
                }
                let mut points = Vec::with_capacity(count);
                for _ in 0..count {
                    points
                        .push(SyncPoint::decode(&mut b).map_err(|_| MessageError::BadLength(tag))?);
                }
                if !b.is_empty() {
                    return Err(MessageError::BadLength(tag));
                }
                Ok(Self::SyncPoints(points))
            }
            other => Err(MessageError::UnknownTag(other)),
        }
    }
}

/// Writes one message as a frame (not flushed).
pub async fn write_message<W: AsyncWrite + Unpin>(
    w: &mut W,
    message: Message,
) -> std::io::Result<()> {
    let (tag, body) = message.into_parts();
    w.write_all(&((body.len() + 1) as u32).to_le_bytes())
        .await?;
    w.write_all(&[tag]).await?;
    w.write_all(&body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let r = BlockRef {
            round: 3,
            author: 2,
            digest: [7; 32],
        };
        for m in [
            Message::Hello {
                from: 3,
                to: 1,
                nonce: [5; NONCE_LENGTH],
            },
            Message::Challenge {
                from: 1,
                nonce: [6; NONCE_LENGTH],
                signature: [9; SIGNATURE_LENGTH],
            },
            Message::Auth([8; SIGNATURE_LENGTH]),
            Message::Block(Bytes::from_static(b"block")),
            Message::Subscribe(42),
            Message::Request(vec![r, r]),
            Message::Ping,
            Message::SyncRequest,
            Message::SyncPoints(vec![SyncPoint {
                chain: crate::committer::CommitChain {
                    index: 4,
                    hash: [1; 32],
                },
                slot: crate::committer::Slot { round: 3, index: 0 },
                leader: r,
                committed: vec![r],
                schedule: crate::committer::ScheduleState {
                    commits: 4,
                    window: vec![crate::committer::Tally::default(); 4],
                    record: vec![crate::committer::Tally::default(); 4],
                    ..Default::default()
                },
            }]),
        ] {
            assert_eq!(Message::decode(m.clone().encode()), Ok(m));
        }
    }

    #[test]
    fn garbage_is_an_error() {
        assert_eq!(Message::decode(Bytes::new()), Err(MessageError::Empty));
        assert_eq!(
            Message::decode(Bytes::from_static(&[9, 1])),
            Err(MessageError::UnknownTag(9))
        );
        for tag in [
            HELLO,
            SUBSCRIBE,
            REQUEST,
            CHALLENGE,
            AUTH,
            PING,
            SYNC_REQUEST,
            SYNC_POINTS,
        ] {
            assert_eq!(
                Message::decode(Bytes::copy_from_slice(&[tag, 1, 2, 3, 4, 5])),
                Err(MessageError::BadLength(tag))
            );
        }
    }
}
