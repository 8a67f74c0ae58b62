//! Messages between validators. Frame body: `[tag u8][fields]`.

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

use crate::{
    block::{BlockRef, Round, REF_LENGTH},
    committee::AuthorityIndex,
};

const HELLO: u8 = 0;
const BLOCK: u8 = 1;
const SUBSCRIBE: u8 = 2;
const REQUEST: u8 = 3;

/// Most references in one request.
pub const MAX_REQUEST_REFS: usize = 1024;

/// A protocol message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// First message on a connection: who is sending.
    Hello(AuthorityIndex),
    /// A serialized block.
    Block(Bytes),
    /// Send me your own blocks above this round (and keep sending new ones).
    Subscribe(Round),
    /// Send me these blocks.
    Request(Vec<BlockRef>),
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

impl Message {
    /// The tag byte and body; block bodies are shared, not copied.
    pub fn into_parts(self) -> (u8, Bytes) {
        match self {
            Self::Hello(a) => (HELLO, Bytes::copy_from_slice(&a.to_le_bytes())),
            Self::Block(b) => (BLOCK, b),
            Self::Subscribe(r) => (SUBSCRIBE, Bytes::copy_from_slice(&r.to_le_bytes())),
            Self::Request(refs) => {
                let mut out = BytesMut::with_capacity(refs.len() * REF_LENGTH);
                for r in &refs {
                    r.encode(&mut out);
                }
                (REQUEST, out.freeze())
            }
        }
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
                let a: [u8; 4] = body[..]
                    .try_into()
                    .map_err(|_| MessageError::BadLength(tag))?;
                Ok(Self::Hello(u32::from_le_bytes(a)))
            }
            BLOCK => Ok(Self::Block(body)),
            SUBSCRIBE => {
                let r: [u8; 8] = body[..]
                    .try_into()
                    .map_err(|_| MessageError::BadLength(tag))?;
                Ok(Self::Subscribe(u64::from_le_bytes(r)))
            }
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
            other => Err(MessageError::UnknownTag(other)),
        }
    }
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
            Message::Hello(3),
            Message::Block(Bytes::from_static(b"block")),
            Message::Subscribe(42),
            Message::Request(vec![r, r]),
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
        assert_eq!(
            Message::decode(Bytes::from_static(&[2, 1, 2])),
            Err(MessageError::BadLength(2))
        );
        assert_eq!(
            Message::decode(Bytes::from_static(&[3, 1, 2])),
            Err(MessageError::BadLength(3))
        );
    }
}
