//! WAL frames: `[len u32][crc32 u32][payload]`, little endian.

use thiserror::Error;

/// Bytes before a frame's payload.
pub const FRAME_HEADER: usize = 8;

/// Why reading stopped before the end of a segment.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    /// The header or payload is cut short (torn write).
    #[error("torn frame")]
    Torn,
    /// The payload does not match its checksum.
    #[error("checksum mismatch")]
    Checksum,
}

/// Appends a frame holding `payload`.
pub fn encode_frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Frame payloads with the offset of their frame.
pub type Frames<'a> = Vec<(usize, &'a [u8])>;

/// Payloads of the intact prefix of `data`, the length of that prefix, and why decoding
/// stopped early, if it did.
pub fn decode_frames(data: &[u8]) -> (Frames<'_>, usize, Option<FrameError>) {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        if data.len() - pos < FRAME_HEADER {
            return (out, pos, Some(FrameError::Torn));
        }
        let len =
            u32::from_le_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]]) as usize;
        let crc = u32::from_le_bytes([data[pos + 4], data[pos + 5], data[pos + 6], data[pos + 7]]);
        let start = pos + FRAME_HEADER;
        if data.len() - start < len {
            return (out, pos, Some(FrameError::Torn));
        }
        let payload = &data[start..start + len];
        if crc32fast::hash(payload) != crc {
            return (out, pos, Some(FrameError::Checksum));
        }
        out.push((pos, payload));
        pos = start + len;
    }
    (out, pos, None)
}
