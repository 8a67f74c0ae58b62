//! Peer authentication: before any other message, both ends of a connection prove that they
//! hold the committee key of the member they claim to be.
//!
//! The dialer D (member `d`) connects to the listener L (member `l`):
//! 1. D sends `Hello { from: d, to: l, nonce: nd }` (nd fresh from the OS random source);
//! 2. L sends `Challenge { from: l, nonce: nl, signature: sign_l(transcript(LISTENER)) }`;
//! 3. D checks that signature with l's committee key and sends `Auth(sign_d(transcript(DIALER)))`;
//! 4. L checks it with d's committee key.
//!
//! `transcript(role)` is the blake3 digest of [`DOMAIN`], the role byte, `d`, `l`, `nd` and `nl`:
//! both nonces make every signature good for this connection only (no replay), the role byte
//! keeps one side's signature from standing for the other's, and the domain separator keeps
//! these signatures apart from block signatures.

use std::sync::Arc;

use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use futures_util::StreamExt;
use rand::RngCore;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};

use super::message::{write_message, Message, Nonce, SignatureBytes, NONCE_LENGTH};
use crate::{
    committee::{AuthorityIndex, Committee},
    crypto::{self, Digest},
};

/// Domain separator of the handshake transcript.
pub const DOMAIN: &[u8] = b"consensus-bench/peer-authentication/v1";

/// Largest frame accepted before authentication (the handshake frames are at most 101 bytes).
pub const MAX_HANDSHAKE_FRAME: usize = 128;

const DIALER: u8 = 1;
const LISTENER: u8 = 2;

/// Who this validator is, for handshakes.
pub struct Identity {
    /// This validator's member index.
    pub me: AuthorityIndex,
    /// Its committee key.
    pub key: SigningKey,
    /// The committee, for the peers' keys.
    pub committee: Arc<Committee>,
}

/// Why a handshake failed.
#[derive(Debug, Error)]
pub enum HandshakeError {
    /// The connection failed or closed.
    #[error("connection closed during the handshake")]
    Closed,
    /// A frame that is too large or does not decode, or a message out of turn.
    #[error("malformed handshake: {0}")]
    Malformed(String),
    /// The claimed member is not in the committee (or is this validator).
    #[error("member {0} is not a peer of this validator")]
    UnknownMember(AuthorityIndex),
    /// The dialer wanted another member.
    #[error("hello addressed to member {0}, not to this validator")]
    NotForMe(AuthorityIndex),
    /// The signature does not verify with the claimed member's committee key.
    #[error("member {0} failed to prove it holds its committee key")]
    BadSignature(AuthorityIndex),
    /// The member was cut off for invalid data and may not reconnect yet.
    #[error("member {0} is cooling down after sending invalid data")]
    CoolingDown(AuthorityIndex),
}

impl HandshakeError {
    /// Label for `node_connections_refused_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Malformed(_) | Self::UnknownMember(_) | Self::NotForMe(_) => "malformed",
            Self::BadSignature(_) => "bad-signature",
            Self::CoolingDown(_) => "cooling-down",
        }
    }
}

fn transcript(
    role: u8,
    dialer: AuthorityIndex,
    listener: AuthorityIndex,
    dialer_nonce: &Nonce,
    listener_nonce: &Nonce,
) -> Digest {
    let mut bytes = Vec::with_capacity(DOMAIN.len() + 9 + 2 * NONCE_LENGTH);
    bytes.extend_from_slice(DOMAIN);
    bytes.push(role);
    bytes.extend_from_slice(&dialer.to_le_bytes());
    bytes.extend_from_slice(&listener.to_le_bytes());
    bytes.extend_from_slice(dialer_nonce);
    bytes.extend_from_slice(listener_nonce);
    crypto::digest(&bytes)
}

fn fresh_nonce() -> Nonce {
    let mut nonce = [0; NONCE_LENGTH];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    nonce
}

fn verifies(key: &VerifyingKey, digest: &Digest, signature: &SignatureBytes) -> bool {
    key.verify_strict(digest, &Signature::from_bytes(signature))
        .is_ok()
}

impl Identity {
    fn peer_key(&self, peer: AuthorityIndex) -> Result<VerifyingKey, HandshakeError> {
        match self.committee.authority(peer) {
            Some(a) if peer != self.me => Ok(a.public_key),
            _ => Err(HandshakeError::UnknownMember(peer)),
        }
    }
}

async fn next<R: AsyncRead + Unpin>(
    frames: &mut FramedRead<R, LengthDelimitedCodec>,
) -> Result<Message, HandshakeError> {
    match frames.next().await {
        None => Err(HandshakeError::Closed),
        Some(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
            Err(HandshakeError::Malformed(e.to_string()))
        }
        Some(Err(_)) => Err(HandshakeError::Closed),
        Some(Ok(frame)) => {
            Message::decode(frame.freeze()).map_err(|e| HandshakeError::Malformed(e.to_string()))
        }
    }
}

fn out_of_turn(expected: &str, got: &Message) -> HandshakeError {
    HandshakeError::Malformed(format!("expected {expected}, got {}", got.kind()))
}

async fn send<W: AsyncWrite + Unpin>(w: &mut W, message: Message) -> Result<(), HandshakeError> {
    async {
        write_message(w, message).await?;
        w.flush().await
    }
    .await
    .map_err(|_| HandshakeError::Closed)
}

/// The listener's side: returns the authenticated dialer. `admit` may refuse the claimed
/// member before this validator signs anything for it.
pub async fn accept<R, W>(
    frames: &mut FramedRead<R, LengthDelimitedCodec>,
    w: &mut W,
    id: &Identity,
    admit: impl FnOnce(AuthorityIndex) -> Result<(), HandshakeError>,
) -> Result<AuthorityIndex, HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (dialer, dialer_nonce) = match next(frames).await? {
        Message::Hello { from, to, nonce } if to == id.me => (from, nonce),
        Message::Hello { to, .. } => return Err(HandshakeError::NotForMe(to)),
        other => return Err(out_of_turn("hello", &other)),
    };
    let key = id.peer_key(dialer)?;
    admit(dialer)?;
    let nonce = fresh_nonce();
    let digest = transcript(LISTENER, dialer, id.me, &dialer_nonce, &nonce);
    let challenge = Message::Challenge {
        from: id.me,
        nonce,
        signature: crypto::sign(&id.key, &digest),
    };
    send(w, challenge).await?;
    match next(frames).await? {
        Message::Auth(signature)
            if verifies(
                &key,
                &transcript(DIALER, dialer, id.me, &dialer_nonce, &nonce),
                &signature,
            ) =>
        {
            Ok(dialer)
        }
        Message::Auth(_) => Err(HandshakeError::BadSignature(dialer)),
        other => Err(out_of_turn("auth", &other)),
    }
}

/// The dialer's side: proves who we are to `peer` and checks that it is `peer`.
pub async fn dial<R, W>(
    frames: &mut FramedRead<R, LengthDelimitedCodec>,
    w: &mut W,
    id: &Identity,
    peer: AuthorityIndex,
) -> Result<(), HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let key = id.peer_key(peer)?;
    let nonce = fresh_nonce();
    let hello = Message::Hello {
        from: id.me,
        to: peer,
        nonce,
    };
    send(w, hello).await?;
    let listener_nonce = match next(frames).await? {
        Message::Challenge {
            from,
            nonce: listener_nonce,
            signature,
        } if from == peer => {
            let digest = transcript(LISTENER, id.me, peer, &nonce, &listener_nonce);
            if !verifies(&key, &digest, &signature) {
                return Err(HandshakeError::BadSignature(peer));
            }
            listener_nonce
        }
        Message::Challenge { from, .. } => return Err(HandshakeError::UnknownMember(from)),
        other => return Err(out_of_turn("challenge", &other)),
    };
    let digest = transcript(DIALER, id.me, peer, &nonce, &listener_nonce);
    send(w, Message::Auth(crypto::sign(&id.key, &digest))).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{committee::tests::committee as test_committee, network::server::codec};

    fn identities() -> Vec<Identity> {
        let (committee, keys) = test_committee(4);
        let committee = Arc::new(committee);
        keys.into_iter()
            .enumerate()
            .map(|(i, key)| Identity {
                me: i as AuthorityIndex,
                key,
                committee: committee.clone(),
            })
            .collect()
    }

    /// Runs `dial` as `dialer` against `accept` as `listener`; each side closes its end
    /// when done.
    async fn run(
        dialer: &Identity,
        listener: &Identity,
    ) -> (
        Result<(), HandshakeError>,
        Result<AuthorityIndex, HandshakeError>,
    ) {
        let (a, b) = tokio::io::duplex(1024);
        tokio::join!(
            async move {
                let (r, mut w) = tokio::io::split(a);
                let mut frames = FramedRead::new(r, codec(MAX_HANDSHAKE_FRAME));
                dial(&mut frames, &mut w, dialer, listener.me).await
            },
            async move {
                let (r, mut w) = tokio::io::split(b);
                let mut frames = FramedRead::new(r, codec(MAX_HANDSHAKE_FRAME));
                accept(&mut frames, &mut w, listener, |_| Ok(())).await
            }
        )
    }

    #[tokio::test]
    async fn members_with_their_keys_authenticate_each_other() {
        let ids = identities();
        let (dialed, accepted) = run(&ids[1], &ids[2]).await;
        dialed.expect("dialer authenticated the listener");
        assert_eq!(accepted.expect("listener authenticated the dialer"), 1);
    }

    #[tokio::test]
    async fn a_claimed_index_without_its_key_is_refused_both_ways() {
        let ids = identities();
        // Member 3's key, claiming to be member 1.
        let impostor = Identity {
            me: 1,
            key: ids[3].key.clone(),
            committee: ids[3].committee.clone(),
        };
        let (_, accepted) = run(&impostor, &ids[2]).await;
        assert!(matches!(accepted, Err(HandshakeError::BadSignature(1))));
        // A listener posing as member 2 with member 0's key.
        let fake_listener = Identity {
            me: 2,
            key: ids[0].key.clone(),
            committee: ids[0].committee.clone(),
        };
        let (dialed, _) = run(&ids[1], &fake_listener).await;
        assert!(matches!(dialed, Err(HandshakeError::BadSignature(2))));
    }

    #[test]
    fn signatures_are_bound_to_role_members_and_both_nonces() {
        let base = transcript(DIALER, 1, 2, &[1; 32], &[2; 32]);
        for other in [
            transcript(LISTENER, 1, 2, &[1; 32], &[2; 32]),
            transcript(DIALER, 3, 2, &[1; 32], &[2; 32]),
            transcript(DIALER, 1, 3, &[1; 32], &[2; 32]),
            transcript(DIALER, 1, 2, &[3; 32], &[2; 32]),
            transcript(DIALER, 1, 2, &[1; 32], &[3; 32]),
        ] {
            assert_ne!(base, other);
        }
    }
}
